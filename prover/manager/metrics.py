"""The manager's scrape-time metrics: state that already lives in the store
or the clock is read when Prometheus asks, not kept in step by hand.

- ``prover_jobs{miner,state}``: one GROUP BY over the job table (no row is
  loaded; 50,000 jobs count in milliseconds), every state shown for each
  miner that has jobs, so a state emptied reads 0 rather than vanishing;
- ``prover_worker_last_seen_timestamp_seconds{worker}`` and
  ``prover_worker_draining{worker}``, from the workers table;
- ``prover_chain_head_height`` (the epoch the manager works at) and, where
  the chain's genesis is configured, ``prover_chain_head_lag_seconds``: how
  far the head trails wall time (genesis + height x epoch length);
- ``prover_alerts_active{alertname,severity}``: the alert watch's active
  alerts, counted from its book (every known kind shown, 0 when quiet).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from prover.alerts import Alert
from prover.alerts.rules import ALERT_NAMES, usual_severity
from prover.chain.clock import EpochClock
from prover.logs import get_logger
from prover.metrics import MANAGER_EVENTS, registry_of
from prover.store import JobState, JobStore, StoreUnavailable, WorkerRegistry
from prover.store.models import JobRow

log = get_logger("prover.manager.metrics")


def job_counts(store: JobStore) -> dict[tuple[int, str], int]:
    """(miner, state) -> jobs, by one GROUP BY."""
    q = select(JobRow.miner, JobRow.state, func.count()).group_by(JobRow.miner, JobRow.state)
    with store.db.connect() as conn:
        return {(miner, state): n for miner, state, n in conn.execute(q)}


class StoreCollector(Collector):
    """Jobs by miner and state, workers' last heartbeat: see the module."""

    def __init__(self, store: JobStore, workers: WorkerRegistry) -> None:
        self.store = store
        self.workers = workers

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        try:
            counts = job_counts(self.store)
            workers = self.workers.all()
        except StoreUnavailable as exc:  # the scrape shows no jobs rather than failing
            log.warning("metrics_store_unavailable", error=str(exc))
            return
        jobs = GaugeMetricFamily(
            "prover_jobs", "Jobs in the job table, by miner and state.", labels=["miner", "state"]
        )
        for miner in sorted({m for m, _ in counts}):
            for state in JobState:
                jobs.add_metric([str(miner), state.value], counts.get((miner, state.value), 0))
        yield jobs
        seen = GaugeMetricFamily(
            "prover_worker_last_seen_timestamp_seconds",
            "When each registered worker was last heard from (Register or Heartbeat), Unix time.",
            labels=["worker"],
        )
        draining = GaugeMetricFamily(
            "prover_worker_draining",
            "1 for a worker told to drain (prover workers drain), else 0.",
            labels=["worker"],
        )
        for w in workers:
            seen.add_metric([w.name], w.last_seen_at.timestamp())
            draining.add_metric([w.name], float(w.draining))
        yield seen
        yield draining


class ChainCollector(Collector):
    """The head the manager works at, and its lag behind wall time."""

    def __init__(
        self,
        epochs: EpochClock,
        genesis_unix: float,
        epoch_seconds: float,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.epochs = epochs
        self.genesis_unix = genesis_unix
        self.epoch_seconds = epoch_seconds
        self.wall = wall

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        epoch = self.epochs.epoch()
        if epoch is None:
            return
        yield GaugeMetricFamily(
            "prover_chain_head_height",
            "The chain epoch the manager works at (the tracker's head, or wall time from genesis).",
            value=epoch,
        )
        if self.genesis_unix:
            lag = self.wall() - (self.genesis_unix + epoch * self.epoch_seconds)
            yield GaugeMetricFamily(
                "prover_chain_head_lag_seconds",
                "Wall time minus the head's time (genesis_unix + height x epoch_seconds).",
                value=lag,
            )


class AlertCollector(Collector):
    """Active alerts by kind and severity, from the manager's AlertBook."""

    def __init__(self, active: Callable[[], list[Alert]]) -> None:
        self.active = active

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "prover_alerts_active",
            "Alerts active now, by kind (alertname) and severity.",
            labels=["alertname", "severity"],
        )
        counts = Counter((a.name, a.severity) for a in self.active())
        for name in ALERT_NAMES:
            usual = usual_severity(name)
            for severity in sorted({s for n, s in counts if n == name} or {usual}):
                family.add_metric([name, severity], counts.get((name, severity), 0))
        yield family


class LeaderCollector(Collector):
    """Whether this manager holds the chain lease (1) or stands by (0):
    summed over the managers it is 1, and 0 while nobody leads."""

    def __init__(self, leading: Callable[[], tuple[str, bool]]) -> None:
        self.leading = leading

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        name, leads = self.leading()
        family = GaugeMetricFamily(
            "prover_manager_leader",
            "1 while this manager holds the chain lease (does the chain work), else 0.",
            labels=["manager"],
        )
        family.add_metric([name], 1 if leads else 0)
        yield family


def manager_registry(
    store: JobStore,
    workers: WorkerRegistry,
    epochs: EpochClock,
    genesis_unix: float,
    epoch_seconds: float,
    alerts: Callable[[], list[Alert]] = list,
    leading: Callable[[], tuple[str, bool]] | None = None,
) -> CollectorRegistry:
    """One Manager's registry: the process's event counters and histograms,
    and this manager's scrape-time collectors."""
    chain = ChainCollector(epochs, genesis_unix, epoch_seconds)
    collectors = [*MANAGER_EVENTS, StoreCollector(store, workers), chain, AlertCollector(alerts)]
    if leading is not None:
        collectors.append(LeaderCollector(leading))
    return registry_of(collectors)
