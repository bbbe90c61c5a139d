"""A storage host's metrics (``metrics_listen``): sectors read and how long
each took, by storage and result, requests served, and the reads stuck past
their timeout (a disk that stopped answering). Every series carries the
host's name, so one dashboard over many hosts tells them apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# a vanilla proof reads ten Merkle paths: milliseconds on a local disk,
# seconds on a loaded network file system
READ_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _Hung(Collector):
    def __init__(self, host: str, hung: Callable[[], int]) -> None:
        self.host = host
        self.hung = hung

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "prover_storage_reads_hung",
            "Reads past the sector timeout whose threads are still blocked (a disk not answering).",
            labels=["host"],
        )
        family.add_metric([self.host], self.hung())
        yield family


class StorageMetrics:
    def __init__(self, host: str, hung: Callable[[], int]) -> None:
        self.host = host
        self.registry = CollectorRegistry(auto_describe=True)
        self.reads = Histogram(
            "prover_storage_read_seconds",
            "Seconds per sector's vanilla proof on this host, by storage and result "
            "(good, or fault: missing, corrupt, timed out).",
            ["host", "storage", "result"],
            buckets=READ_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "prover_storage_requests",
            "VanillaProofs requests served, by how they ended (done, cancelled by the caller, "
            "refused).",
            ["host", "result"],
            registry=self.registry,
        )
        self.registry.register(_Hung(host, hung))

    def read(self, storage: str, good: bool, seconds: float) -> None:
        self.reads.labels(self.host, storage, "good" if good else "fault").observe(seconds)

    def request(self, result: str) -> None:
        self.requests.labels(self.host, result).inc()
