"""A worker's GPU fallbacks on the manager's side, in the real store
(SQLite and PostgreSQL): its heartbeat's report kept with the worker, the
alert watch paging ``ProverGpuFallback`` while its latest SNARK fell back and
resolving once one runs on the GPU again; and the report as it travels
(protobuf to the stored JSON)."""

from __future__ import annotations

from datetime import UTC, datetime

from prover._proto import manager_pb2 as pb
from prover.alerts import AlertBook
from prover.alerts import rules as r
from prover.api.convert import gpu_fallback_from_pb, gpu_fallback_to_pb
from prover.config import AlertsConfig
from prover.manager.alert_watch import AlertWatch

REASON = (
    "no GPU kernel ran: Cannot instantiate GPU Multiexp kernel! Error: No working GPUs found!; "
    "Unable to retrieve CUDA devices: Cuda(CUDA_ERROR_NO_DEVICE)"
)
AT = datetime(2026, 12, 8, 6, 0, tzinfo=UTC)


def report(count: int, gpu_snarks: int, current: bool) -> dict:
    return gpu_fallback_from_pb(gpu_fallback_to_pb(count, gpu_snarks, current, REASON, AT))


def test_the_report_travels_as_json():
    assert report(2, 5, True) == {
        "count": 2,
        "gpu_snarks": 5,
        "current": True,
        "reason": REASON,
        "last_at": AT.isoformat(),
    }
    never = gpu_fallback_from_pb(gpu_fallback_to_pb(0, 5, False, "", None))
    assert never["last_at"] is None and never["count"] == 0
    # a 0.2.0 worker, or a cpu build: no report at all
    assert not pb.HeartbeatRequest(worker="w1").HasField("gpu_fallback")


def test_the_watch_pages_while_the_latest_snark_fell_back(store, workers, ledger, clock):
    watch = AlertWatch(
        AlertsConfig(),
        AlertBook(),
        store,
        ledger,
        None,
        workers=workers,
        epoch=lambda: None,
        epoch_seconds=30.0,
        worker_live_s=15.0,
        now=clock,
    )
    workers.register("w1")
    store.heartbeat("w1", [], gpu_fallback=report(0, 0, False))
    assert watch.check() == []
    store.heartbeat("w1", [], gpu_fallback=report(1, 0, True))
    assert workers.get("w1").gpu_fallback["reason"] == REASON
    (fired,) = watch.check()
    assert fired.name == r.GPU_FALLBACK and fired.labels == {"worker": "w1"}
    assert fired.severity == "critical" and REASON in fired.summary
    store.heartbeat("w1", [])  # a beat without a report keeps the last one
    store.heartbeat("w1", [], gpu_fallback=report(2, 0, True))
    assert watch.check() == []  # fires once
    store.heartbeat("w1", [], gpu_fallback=report(2, 1, False))  # back on the GPU
    (resolved,) = watch.check()
    assert resolved.name == r.GPU_FALLBACK and resolved.resolved


def test_the_report_is_listed_with_the_worker(store, workers):
    """What `prover workers list` shows: the report as last beaten, in the
    worker's listing and its own line; none for a worker that never sent one."""
    from prover.api.convert import worker_to_pb
    from prover.cli.jobs_cmds import _fallback_line

    workers.register("w1")
    workers.register("w2")
    assert not worker_to_pb(workers.get("w2"), []).HasField("gpu_fallback")
    store.heartbeat("w1", [], gpu_fallback=report(3, 7, True))
    msg = worker_to_pb(workers.get("w1"), [])
    assert gpu_fallback_from_pb(msg.gpu_fallback) == report(3, 7, True)
    line = _fallback_line(msg)
    assert line.startswith("w1: 3 SNARK(s) fell back to the CPU, 7 ran on the GPU (its latest")
    assert REASON in line
