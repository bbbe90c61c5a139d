"""Metrics without processes or a database: the event helpers move the
right series, the scrape-time collectors say what they read (no GPU: no GPU
series), and the Grafana dashboard names only metrics that exist."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from prover import metrics
from prover.chain.clock import EpochClock
from prover.manager import metrics as manager_metrics
from prover.worker.metrics import GpuCollector, WorkerMetrics

T0 = datetime(2026, 12, 1, tzinfo=UTC)
DASHBOARD = Path(__file__).resolve().parents[2] / "contrib" / "grafana" / "prover.json"


def value(registry: CollectorRegistry, name: str, /, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_an_executed_post_counts_its_message_gas_fee_and_partitions():
    reg = metrics.registry_of(metrics.MANAGER_EVENTS)
    post = {"miner": "1000", "deadline": "7", "kind": "post"}
    fee = {"miner": "1000", "kind": "post"}
    before = {
        n: value(reg, n, **labels)
        for n, labels in [
            ("prover_messages_landed_total", post),
            ("prover_messages_failed_total", post),
            ("prover_gas_used_total", fee),
            ("prover_fees_paid_fil_total", fee),
            ("prover_partitions_proven_total", {"miner": "1000", "deadline": "7"}),
        ]
    }
    metrics.message_executed(
        "post", 1000, 7, landed=True, partitions=2, gas_used=5000, fee_paid=3 * 10**17
    )
    metrics.message_executed("post", 1000, 7, landed=False, partitions=1, gas_used=0, fee_paid=None)
    assert (
        value(reg, "prover_messages_landed_total", **post)
        == before["prover_messages_landed_total"] + 1
    )
    assert (
        value(reg, "prover_messages_failed_total", **post)
        == before["prover_messages_failed_total"] + 1
    )
    assert value(reg, "prover_gas_used_total", **fee) == before["prover_gas_used_total"] + 5000
    assert value(reg, "prover_fees_paid_fil_total", **fee) == pytest.approx(
        before["prover_fees_paid_fil_total"] + 0.3
    )
    proven = value(reg, "prover_partitions_proven_total", miner="1000", deadline="7")
    assert proven == before["prover_partitions_proven_total"] + 2  # failed ones prove nothing


def test_a_finish_observes_claim_to_finish_and_each_step():
    reg = metrics.registry_of(metrics.MANAGER_EVENTS)
    step = {"miner": "1001", "step": "snark"}
    count = value(reg, "prover_proof_step_seconds_count", **step)
    held = value(reg, "prover_job_duration_seconds_count", miner="1001")
    metrics.job_finished(
        1001, "w9", "succeeded", claimed_for_s=4.0, timings={"snark": 2.0, "vanilla": 1.0}
    )
    metrics.proof_verified(1001, 0.01)
    assert value(reg, "prover_proof_step_seconds_count", **step) == count + 1
    assert value(reg, "prover_proof_step_seconds_count", miner="1001", step="verify") >= 1
    assert value(reg, "prover_job_duration_seconds_count", miner="1001") == held + 1
    finished = {"miner": "1001", "worker": "w9", "result": "succeeded"}
    assert value(reg, "prover_jobs_finished_total", **finished) >= 1


def test_registries_of_the_same_events_do_not_collide():
    a = metrics.registry_of(metrics.MANAGER_EVENTS)
    b = metrics.registry_of(metrics.MANAGER_EVENTS)
    metrics.heartbeat("w-collide")
    assert value(a, "prover_worker_heartbeats_total", worker="w-collide") == value(
        b, "prover_worker_heartbeats_total", worker="w-collide"
    )
    assert b"_created" not in generate_latest(a)


def test_head_height_and_lag_behind_wall_time():
    clock = EpochClock.following_chain()
    chain = manager_metrics.ChainCollector(clock, 1000.0, 30.0, wall=lambda: 1000.0 + 30 * 10 + 45)
    reg = metrics.registry_of([chain])
    assert value(reg, "prover_chain_head_height") == 0  # no head seen yet: nothing
    assert reg.get_sample_value("prover_chain_head_height") is None
    clock.observe(10)
    assert value(reg, "prover_chain_head_height") == 10
    assert value(reg, "prover_chain_head_lag_seconds") == 45
    unknown = metrics.registry_of([manager_metrics.ChainCollector(clock, 0, 30.0)])
    assert unknown.get_sample_value("prover_chain_head_height") == 10
    assert unknown.get_sample_value("prover_chain_head_lag_seconds") is None


def test_active_alerts_by_kind_and_severity():
    from prover.alerts import Alert, AlertBook, rules

    book = AlertBook()
    reg = metrics.registry_of([manager_metrics.AlertCollector(book.active)])
    name = "prover_alerts_active"
    assert value(reg, name, alertname=rules.PARTITION_MISSED, severity="critical") == 0
    assert (
        reg.get_sample_value(name, {"alertname": rules.HEAD_STALLED, "severity": "critical"}) == 0
    )
    book.observe(
        [
            Alert(rules.PARTITION_MISSED, {"deadline": "1"}),
            Alert(rules.PARTITION_MISSED, {"deadline": "2"}),
            Alert(rules.LOW_BALANCE, {"sender": "f1x"}, severity="warning"),
        ],
        T0,
    )
    assert value(reg, name, alertname=rules.PARTITION_MISSED, severity="critical") == 2
    assert value(reg, name, alertname=rules.LOW_BALANCE, severity="warning") == 1
    book.observe([], T0)
    assert value(reg, name, alertname=rules.PARTITION_MISSED, severity="critical") == 0


def test_no_gpu_means_no_gpu_series():
    reg = metrics.registry_of([GpuCollector("w1", list)])
    assert b"prover_gpu" not in generate_latest(reg)


def test_gpu_facts_become_gauges():
    fact = {
        "index": 0,
        "name": "RTX",
        "memory_total": 24 << 30,
        "memory_used": 3 << 30,
        "utilization": 87,
        "temperature": 66,
    }
    reg = metrics.registry_of([GpuCollector("w1", lambda: [fact])])
    labels = {"worker": "w1", "gpu": "0", "name": "RTX"}
    assert value(reg, "prover_gpu_memory_used_bytes", **labels) == 3 << 30
    assert value(reg, "prover_gpu_memory_total_bytes", **labels) == 24 << 30
    assert value(reg, "prover_gpu_utilization_percent", **labels) == 87
    assert value(reg, "prover_gpu_temperature_celsius", **labels) == 66


def test_a_worker_counts_its_outcomes_and_steps():
    m = WorkerMetrics("w2", list)
    m.proved("ok", {"challenges": 0.1, "vanilla": 0.5, "snark": 3.0, "total": 3.6}, faulty=1)
    m.proved("failed", {}, faulty=0)
    reg = m.registry
    assert value(reg, "prover_worker_jobs_total", worker="w2", result="proven") == 1
    assert value(reg, "prover_worker_jobs_total", worker="w2", result="failed") == 1
    assert value(reg, "prover_worker_proof_step_seconds_count", worker="w2", step="snark") == 1
    assert value(reg, "prover_worker_sectors_faulty_total", worker="w2") == 1


def sample(registry: CollectorRegistry, name: str, /, **labels: str) -> float | None:
    """The sample's value; None when the series does not exist at all."""
    return registry.get_sample_value(name, labels)


def test_a_followed_miners_counters_exist_at_zero_before_any_event():
    reg = metrics.registry_of(metrics.MANAGER_EVENTS)
    miner = "4100"  # no other test moves this miner's series
    assert sample(reg, "prover_partitions_missed_total", miner=miner, deadline="0") is None
    metrics.heartbeat("w-zero")  # a worker heard from before the miner is followed
    metrics.miner_followed(4100, deadlines=3)
    for d in ("0", "1", "2"):
        for event in ("failed", "replaced", "dropped"):
            for kind in ("post", "recovery"):
                labels = {"miner": miner, "deadline": d, "kind": kind}
                assert sample(reg, f"prover_messages_{event}_total", **labels) == 0
        assert sample(reg, "prover_partitions_missed_total", miner=miner, deadline=d) == 0
        assert sample(reg, "prover_partitions_proven_total", miner=miner, deadline=d) == 0
    # only the deadlines the chain has
    assert sample(reg, "prover_partitions_missed_total", miner=miner, deadline="3") is None
    for reason in ("not_found", "faulty"):
        assert sample(reg, "prover_sectors_skipped_total", miner=miner, reason=reason) == 0
    assert sample(reg, "prover_gas_used_total", miner=miner, kind="recovery") == 0
    assert sample(reg, "prover_proofs_refused_total", miner=miner, worker="w-zero") == 0
    metrics.heartbeat("w-later")  # and one heard from after
    assert sample(reg, "prover_proofs_refused_total", miner=miner, worker="w-later") == 0
    # an event moves the series from 0
    metrics.partition_missed(4100, 1)
    assert sample(reg, "prover_partitions_missed_total", miner=miner, deadline="1") == 1


def test_a_workers_counters_exist_at_zero_before_any_job():
    reg = WorkerMetrics("w-new", list).registry
    assert sample(reg, "prover_worker_sectors_faulty_total", worker="w-new") == 0
    for result in ("proven", "failed", "stopped"):
        assert sample(reg, "prover_worker_jobs_total", worker="w-new", result=result) == 0


class _NoWorkers:
    def all(self) -> list:
        return []


def known_names(monkeypatch) -> set[str]:
    """Every sample name the manager and a worker (with a GPU) can expose."""
    monkeypatch.setattr(manager_metrics, "job_counts", lambda store: {(1000, "ready"): 1})
    clock = EpochClock.following_chain()
    clock.observe(5)
    collectors = [
        *metrics.MANAGER_EVENTS,
        manager_metrics.StoreCollector(None, _NoWorkers()),
        manager_metrics.ChainCollector(clock, 1, 30.0),
        manager_metrics.AlertCollector(list),
        manager_metrics.LeaderCollector(lambda: ("m1", True)),
    ]
    fact = {"index": 0, "name": "g", "memory_total": 1, "memory_used": 1}
    fact |= {"utilization": 1, "temperature": 1}
    worker = WorkerMetrics("w", lambda: [fact])
    from prover.storage.metrics import StorageMetrics

    host = StorageMetrics("h", lambda: 0)
    names = {"prover_worker_last_seen_timestamp_seconds"}  # no worker registered here
    for registry in (metrics.registry_of(collectors), worker.registry, host.registry):
        for family in registry.collect():
            names.add(family.name)
            suffixes = {
                "counter": ["_total"],
                "histogram": ["_bucket", "_sum", "_count"],
            }.get(family.type, [])
            names |= {family.name + s for s in suffixes}
    return names


def test_the_dashboard_names_only_metrics_that_exist(monkeypatch):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 30 and dashboard["panels"]
    known = known_names(monkeypatch)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = {name for e in exprs for name in re.findall(r"\bprover_[a-z_]+", e)}
    assert used - known == set()
    # the list: each has a panel
    for name in (
        "prover_jobs",
        "prover_proof_step_seconds_bucket",
        "prover_job_duration_seconds_bucket",
        "prover_proofs_refused_total",
        "prover_messages_landed_total",
        "prover_fees_paid_fil_total",
        "prover_partitions_missed_total",
        "prover_sectors_skipped_total",
        "prover_chain_head_lag_seconds",
        "prover_gpu_utilization_percent",
        "prover_alerts_active",
        "prover_storage_read_seconds_bucket",
        "prover_manager_leader",
    ):
        assert name in used, name
