"""The worker's collaborators, each on its own: a job leaves its slot by
one path (released when unfinished, let go, the slot free), its thread
leaves the running set when it ends, the background delivery retries with
backoff and starts over once a round went through, and heartbeats pass the
manager's stop and drain orders on.

No processes: the compute slots and the manager are stand-ins."""

from __future__ import annotations

import itertools
import threading
import time
from types import SimpleNamespace

import grpc
import pytest

from prover._proto import manager_pb2 as pb
from prover.worker import delivery as delivery_mod
from prover.worker import loop
from prover.worker.admission import SHUTTING_DOWN, GiveBack
from prover.worker.compute import Outcome
from prover.worker.config import WorkerConfig
from prover.worker.outcome import OutcomeKind, StopReason
from prover.worker.pinning import Pinning
from prover.worker.placement import Placement
from prover.worker.spool import Spool


class _Slot:
    """Proves at once with ``outcome``, or waits for a stop order."""

    def __init__(self, index, _settings) -> None:
        self.index = index
        self.pid = None
        self.outcome: Outcome | None = None

    def prove(self, _task, stop_reason) -> Outcome:
        while self.outcome is None:
            why = stop_reason()
            if why:
                return Outcome(OutcomeKind.STOPPED, reason=why)
            time.sleep(0.01)
        return self.outcome

    def kill(self) -> None:
        pass


class _Unavailable(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "down"


class _Client:
    addresses = ("127.0.0.1:1",)
    metadata = ()
    token = "t"

    def __init__(self) -> None:
        self.released: list[pb.ReleaseRequest] = []
        self.finishes: list[tuple[float, pb.FinishRequest]] = []
        self.finish_answers: list = []
        self.heartbeat_answers: list[pb.HeartbeatResponse] = []
        self.worker = SimpleNamespace(
            Release=self._release, Finish=self._finish, Heartbeat=self._heartbeat
        )

    def _release(self, request, metadata=None, timeout=None):
        self.released.append(request)
        return pb.ReleaseResponse()

    def _finish(self, request, metadata=None, timeout=None):
        self.finishes.append((time.monotonic(), request))
        answer = self.finish_answers.pop(0) if self.finish_answers else pb.FinishResponse()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _heartbeat(self, request, metadata=None, timeout=None):
        return self.heartbeat_answers.pop(0) if self.heartbeat_answers else pb.HeartbeatResponse()

    def call(self, method, request, *, timeout: float = 30.0):
        return method(request, metadata=self.metadata, timeout=timeout)


@pytest.fixture
def worker(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "ComputeSlot", _Slot)
    monkeypatch.setattr(loop, "gpu_facts", lambda _gpu: [])
    config = WorkerConfig(name="w1", claim_wait_s=1.0, finish_retry_s=0.1)
    pinning = Pinning(None, frozenset({0}), tmp_path / "tmp")
    return loop.Worker(config, _Client(), pinning, Spool(tmp_path / "spool"))


def _wait(cond, timeout: float = 5.0) -> None:
    until = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < until, "timed out"
        time.sleep(0.01)


def _claimed(w: loop.Worker, job_id: int = 5):
    slot = w.proving.free_slot(0)
    assert slot is not None
    return w.holdings.hold(pb.Job(id=job_id, attempt=2), slot)


def test_a_job_given_back_is_released_let_go_and_its_slot_freed(worker):
    rec = _claimed(worker)
    worker.proving.end(rec, GiveBack("storage gone", exclude=True))
    (rel,) = worker.client.released
    assert (rel.job_id, rel.attempt, rel.reason) == (5, 2, "storage gone")
    assert worker.held() == [] and worker.claims.excluded == {5}
    assert worker.proving.free_slot(0) is rec.slot
    worker.proving.free.put(rec.slot)
    # stopped by the manager: nothing to give back, and not excluded
    rec = _claimed(worker, 6)
    worker.proving.end(rec, GiveBack("reset", release=False))
    assert len(worker.client.released) == 1 and worker.claims.excluded == {5}
    assert worker.held() == []


def test_a_proven_job_is_delivered_and_its_thread_leaves(worker):
    rec = _claimed(worker)
    rec.slot.outcome = Outcome(OutcomeKind.OK, proof=b"p" * 192)
    worker.proving.start(rec, Placement(remote=[object()]))
    _wait(lambda: worker.proving.running_threads() == 0)
    ((_, req),) = worker.client.finishes
    assert req.success and req.proof == b"p" * 192
    assert worker.held() == [] and worker.client.released == []
    assert worker.proving.free_slot(0) is rec.slot


def test_at_shutdown_a_running_job_is_stopped_and_released(worker):
    rec = _claimed(worker)
    worker.proving.start(rec, Placement(remote=[object()]))
    worker.proving.notify_shutdown()
    worker.proving.wait_all_completed(5)
    assert rec.stop_reason == StopReason.SHUTDOWN == "shutdown"
    (rel,) = worker.client.released
    assert rel.reason == SHUTTING_DOWN and worker.proving.running_threads() == 0
    assert worker.metrics.jobs.labels("w1", "stopped")._value.get() == 1


def test_the_background_delivery_backs_off_and_starts_over_after_a_success(worker, monkeypatch):
    monkeypatch.setattr(delivery_mod, "DELIVERY_RETRY_FIRST_S", 0.1)
    monkeypatch.setattr(delivery_mod, "DELIVERY_RETRY_MAX_S", 2.0)
    d, client = worker.delivery, worker.client
    first = pb.FinishRequest(worker="w1", job_id=1, attempt=1, success=False, error="x")
    d.spool_result(first)
    worker.holdings.defer(first)
    client.finish_answers = [_Unavailable(), _Unavailable(), _Unavailable(), pb.FinishResponse()]
    d.start()
    try:
        _wait(lambda: len(client.finishes) == 4)
        times = [t for t, _ in client.finishes]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # a pause is never shorter than asked (a busy machine makes it longer)
        assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39
        _wait(lambda: worker.held() == [])
        # a result deferred after that success is retried from the first pause again
        second = pb.FinishRequest(worker="w1", job_id=2, attempt=1, success=False, error="y")
        d.spool_result(second)
        client.finish_answers = [_Unavailable(), pb.FinishResponse()]
        worker.holdings.defer(second)
        d._wake.set()
        _wait(lambda: len(client.finishes) == 6)
        # 0.1 s, not the 2 s it waits when nothing failed
        assert client.finishes[5][0] - client.finishes[4][0] < 1.5
        _wait(lambda: worker.held() == [] and worker.spool.load() == [])
    finally:
        d.notify_shutdown()
        d.wait_all_completed(5)


def test_heartbeats_pass_stop_and_drain_orders_on(worker):
    rec = _claimed(worker)
    worker.client.heartbeat_answers = [
        pb.HeartbeatResponse(stop=[pb.StopOrder(job_id=5, attempt=2, reason="reset")]),
        pb.HeartbeatResponse(drain=True),
    ]
    worker.heartbeats.interval = 0.01
    worker.heartbeats.start()
    try:
        _wait(lambda: worker.stopping.is_set())
    finally:
        worker.heartbeats.notify_shutdown()
        worker.heartbeats.wait_all_completed(5)
    assert rec.stop_reason == "reset" and worker.draining


def test_a_stop_order_for_another_attempt_is_ignored(worker):
    rec = _claimed(worker)
    worker.holdings.order_stop(5, 1, "reassigned")
    assert rec.stop_reason is None
    threading.Thread(target=worker.holdings.order_stop, args=(5, 2, "removed")).start()
    _wait(lambda: rec.stop_reason == "removed")
