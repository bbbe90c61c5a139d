"""A worker's metrics (``metrics_listen`` / ``--metrics-listen``): its proof
steps as the compute child timed them, its jobs by outcome, the SNARKs of a
GPU build that went to the CPU, and its GPU as NVML reports it at scrape
time. No driver or no device means no GPU series, never an error
(``gpu_facts`` answers nothing then).

Every series carries the worker's name, so that one dashboard over many
workers can tell them apart without relabelling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from prover.buildinfo import build_info
from prover.metrics import STEP_BUCKETS
from prover.worker.outcome import OutcomeKind


@dataclass
class GpuFallbackReport:
    """A GPU build's SNARKs that went to the CPU since this worker started,
    as every heartbeat tells the manager (which pages ``ProverGpuFallback``
    while ``current``)."""

    count: int = 0  # SNARKs that fell back, whole or in part
    gpu_snarks: int = 0  # SNARKs that ran on the GPU
    current: bool = False  # the latest SNARK fell back
    reason: str = ""  # the latest fallback's
    last_at: datetime | None = None

    def note(self, gpu: Mapping) -> None:
        """One SNARK's verdict (``SnarkGpu.as_dict``); one that was not
        observed, or of a build not meant for the GPU, says nothing."""
        if not gpu.get("observed") or not gpu.get("expected"):
            return
        if gpu.get("fallback"):
            self.count += 1
            self.current = True
            self.reason = str(gpu["fallback"])
            self.last_at = datetime.now(UTC)
        else:
            self.gpu_snarks += 1
            self.current = False


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
        self.gpu_fallback = Counter(
            "prover_worker_gpu_fallback",
            "SNARKs of a GPU build (cuda) that ran on the CPU, whole or in part: no GPU kernel "
            "instantiated, or one failed mid-proof (the gpu_fallback event says why).",
            ["worker"],
            registry=self.registry,
        )
        # a cuda build's heartbeats carry it from the start (zeros until a
        # SNARK), so that a restarted worker clears what its last life said
        self._fallbacks = GpuFallbackReport() if build_info().build == "cuda" else None
        # at 0 from the start, so increase() draws a flat line, not "no data"
        self.faulty.labels(worker)
        self.gpu_fallback.labels(worker)
        for result in ("proven", str(OutcomeKind.FAILED), str(OutcomeKind.STOPPED)):
            self.jobs.labels(worker, result)
        self.registry.register(GpuCollector(worker, gpu_facts))

    def proved(
        self,
        kind: OutcomeKind,
        timings: dict[str, float] | None,
        faulty: int,
        gpu: Mapping | None = None,
    ) -> None:
        """A compute outcome, counted as ``proven``, ``failed`` or ``stopped``,
        with what its SNARK did with the GPU when there was one."""
        result = "proven" if kind == OutcomeKind.OK else str(kind)
        self.jobs.labels(self.worker, result).inc()
        if gpu:
            if gpu.get("fallback"):
                self.gpu_fallback.labels(self.worker).inc()
            if self._fallbacks is None and gpu.get("expected"):
                self._fallbacks = GpuFallbackReport()
            if self._fallbacks is not None:
                self._fallbacks.note(gpu)
        for step, seconds in (timings or {}).items():
            self.steps.labels(self.worker, step).observe(seconds)
        if faulty:
            self.faulty.labels(self.worker).inc(faulty)

    def gpu_fallback_report(self) -> GpuFallbackReport | None:
        """What the heartbeat tells the manager; None for a cpu build."""
        return self._fallbacks
