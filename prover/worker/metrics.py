"""A worker's metrics (``metrics_listen`` / ``--metrics-listen``): its proof
steps as the compute child timed them, its jobs by outcome, and its GPU as
NVML reports it at scrape time. No driver or no device means no GPU series,
never an error (``gpu_facts`` answers nothing then).

Every series carries the worker's name, so that one dashboard over many
workers can tell them apart without relabelling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from prover.metrics import STEP_BUCKETS
from prover.worker.outcome import OutcomeKind


class GpuCollector(Collector):
    """Memory, utilisation and temperature of the GPUs ``facts()`` reads."""

    def __init__(self, worker: str, facts: Callable[[], list[dict]]) -> None:
        self.worker = worker
        self.facts = facts

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        gpus = self.facts()
        if not gpus:
            return
        labels = ["worker", "gpu", "name"]
        families = {
            "memory_used": GaugeMetricFamily(
                "prover_gpu_memory_used_bytes", "GPU memory in use (NVML).", labels=labels
            ),
            "memory_total": GaugeMetricFamily(
                "prover_gpu_memory_total_bytes", "GPU memory in all (NVML).", labels=labels
            ),
            "utilization": GaugeMetricFamily(
                "prover_gpu_utilization_percent",
                "Percent of the last sample period the GPU was busy (NVML).",
                labels=labels,
            ),
            "temperature": GaugeMetricFamily(
                "prover_gpu_temperature_celsius", "GPU core temperature (NVML).", labels=labels
            ),
        }
        for g in gpus:
            values = [self.worker, str(g.get("index", "")), str(g.get("name", ""))]
            for key, family in families.items():
                if g.get(key) is not None:
                    family.add_metric(values, float(g[key]))
        yield from families.values()


class WorkerMetrics:
    """This worker's registry (one per Worker, so tests running several in a
    process do not collide) and the series it moves."""

    def __init__(self, worker: str, gpu_facts: Callable[[], list[dict]]) -> None:
        self.worker = worker
        self.registry = CollectorRegistry(auto_describe=True)
        self.steps = Histogram(
            "prover_worker_proof_step_seconds",
            "Seconds per step of a partition proof on this worker "
            "(challenges, vanilla, snark, total), as its compute child timed them.",
            ["worker", "step"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.jobs = Counter(
            "prover_worker_jobs",
            "Jobs this worker finished proving: proven, failed, or stopped (the manager's "
            "order, or a shutdown).",
            ["worker", "result"],
            registry=self.registry,
        )
        self.faulty = Counter(
            "prover_worker_sectors_faulty",
            "Sectors this worker found faulty while proving (skipped from the proof).",
            ["worker"],
            registry=self.registry,
        )
        # at 0 from the start, so increase() draws a flat line, not "no data"
        self.faulty.labels(worker)
        for result in ("proven", str(OutcomeKind.FAILED), str(OutcomeKind.STOPPED)):
            self.jobs.labels(worker, result)
        self.registry.register(GpuCollector(worker, gpu_facts))

    def proved(self, kind: OutcomeKind, timings: dict[str, float] | None, faulty: int) -> None:
        """A compute outcome, counted as ``proven``, ``failed`` or ``stopped``."""
        result = "proven" if kind == OutcomeKind.OK else str(kind)
        self.jobs.labels(self.worker, result).inc()
        for step, seconds in (timings or {}).items():
            self.steps.labels(self.worker, step).observe(seconds)
        if faulty:
            self.faulty.labels(self.worker).inc(faulty)
