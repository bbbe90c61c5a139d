"""What a worker lists in its heartbeats: every job it holds, from the
moment a Claim's answer arrives (before placement, which may take seconds)
until it is finished, released or stopped, and every result still waiting
in the spool for a manager. The manager sends a job claimed before the
worker's previous heartbeat and not listed back to ready, so a gap loses it.

No processes: the compute slots and the manager are stand-ins."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import grpc
import pytest

from prover._proto import manager_pb2 as pb
from prover.worker import loop
from prover.worker.config import WorkerConfig
from prover.worker.pinning import Pinning
from prover.worker.spool import Spool


class _Slot:
    def __init__(self, index, _settings) -> None:
        self.index = index
        self.pid = None

    def kill(self) -> None:
        pass


class _Future:
    """gRPC's future as the worker uses it, answered by the test."""

    def __init__(self) -> None:
        self._callbacks: list = []
        self._response = None

    def add_done_callback(self, fn) -> None:
        self._callbacks.append(fn)

    def answer(self, response) -> None:
        self._response = response
        for fn in self._callbacks:
            fn(self)

    def cancelled(self) -> bool:
        return False

    def cancel(self) -> bool:
        return False

    def exception(self):
        return None

    def result(self):
        return self._response


class _Refused(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._code.name


class _Client:
    addresses = ("127.0.0.1:1",)
    metadata = ()
    token = "t"

    def __init__(self) -> None:
        self.claims: list[_Future] = []
        self.claimed = threading.Event()
        self.finish_answers: list = []
        self.finishes: list[pb.FinishRequest] = []
        self.on_finish = None
        self.worker = SimpleNamespace(
            Claim=SimpleNamespace(future=self._claim), Finish=self._finish
        )

    def _claim(self, request, metadata=None, timeout=None) -> _Future:
        f = _Future()
        self.claims.append(f)
        self.claimed.set()
        return f

    def _finish(self, request, metadata=None, timeout=None):
        self.finishes.append(request)
        if self.on_finish:
            self.on_finish(request)
        answer = self.finish_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def call(self, method, request, *, timeout: float = 30.0):
        return method(request, metadata=self.metadata, timeout=timeout)


@pytest.fixture
def worker(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "ComputeSlot", _Slot)
    monkeypatch.setattr(loop, "gpu_facts", lambda _gpu: [])
    config = WorkerConfig(name="w1", claim_wait_s=1.0)
    pinning = Pinning(None, frozenset({0}), tmp_path / "tmp")
    return loop.Worker(config, _Client(), pinning, Spool(tmp_path / "spool"))


def _listed(w: loop.Worker) -> list[tuple[int, int]]:
    return [(j.job_id, j.attempt) for j in w.heartbeat_request().jobs]


def test_a_worker_holding_nothing_still_heartbeats_with_an_empty_list(worker):
    req = worker.heartbeat_request()
    assert req.worker == "w1" and list(req.jobs) == []


def test_a_claimed_job_is_listed_from_the_moment_its_answer_arrives(worker):
    got: list = []
    t = threading.Thread(target=lambda: got.append(worker.claims.claim(worker.slots[0])))
    t.start()
    assert worker.client.claimed.wait(5)
    worker.client.claims[0].answer(pb.ClaimResponse(job=pb.Job(id=5, attempt=3)))
    # the next heartbeat lists it, whether or not the claiming thread ran yet
    assert _listed(worker) == [(5, 3)]
    t.join(5)
    (job,) = got
    assert job.id == 5
    # the loop picks up the same record (a stop order may be on it already)
    rec = worker.holdings.record(job, worker.slots[0])
    assert rec is worker.holdings.running[5]
    worker.holdings.let_go(job)  # released, or placement failed
    assert _listed(worker) == []


def test_an_answer_without_a_job_holds_nothing(worker):
    t = threading.Thread(target=lambda: worker.claims.claim(worker.slots[0]))
    t.start()
    assert worker.client.claimed.wait(5)
    worker.client.claims[0].answer(pb.ClaimResponse())
    t.join(5)
    assert _listed(worker) == []


def test_a_result_is_held_while_spooled_and_let_go_once_answered(worker):
    req = pb.FinishRequest(worker="w1", job_id=9, attempt=1, success=True, proof=b"p" * 192)
    worker.holdings.hold(pb.Job(id=9, attempt=1), worker.slots[0])
    worker.delivery.spool_result(req)
    worker.holdings.let_go(pb.Job(id=9, attempt=1))  # the slot moves on; the result is still held
    assert _listed(worker) == [(9, 1)] and worker.spool.load() == [req]
    worker.client.finish_answers = [_Refused(grpc.StatusCode.UNAVAILABLE)]
    assert worker.delivery.deliver_once(req) is not None
    assert _listed(worker) == [(9, 1)] and worker.spool.load() == [req]
    worker.client.finish_answers = [pb.FinishResponse(state="succeeded")]
    assert worker.delivery.deliver_once(req) is None
    assert _listed(worker) == [] and worker.spool.load() == []


def test_a_refused_result_is_logged_and_forgotten(worker):
    req = pb.FinishRequest(worker="w1", job_id=9, attempt=1, success=False, error="x")
    worker.delivery.spool_result(req)
    worker.client.finish_answers = [_Refused(grpc.StatusCode.FAILED_PRECONDITION)]
    assert worker.delivery.deliver_once(req) is None
    assert _listed(worker) == [] and worker.spool.load() == []


def test_spooled_results_of_a_previous_process_are_listed_while_delivered(worker):
    old = pb.FinishRequest(worker="w1", job_id=4, attempt=2, success=True, proof=b"p" * 192)
    worker.spool.put(old)
    seen: list = []
    worker.client.on_finish = lambda _req: seen.append(_listed(worker))
    worker.client.finish_answers = [
        _Refused(grpc.StatusCode.UNAVAILABLE),
        pb.FinishResponse(state="succeeded"),
    ]
    spooled = worker.delivery.load()  # before Register and the first heartbeat
    assert _listed(worker) == [(4, 2)]
    worker.delivery.deliver_spooled(spooled, worker.stopping)
    assert worker.client.finishes == [old, old]  # the same bytes, sent again
    assert seen == [[(4, 2)], [(4, 2)]]
    assert _listed(worker) == [] and worker.spool.load() == []


def test_a_result_finished_while_stopping_with_no_manager_is_left_spooled_at_once(worker):
    """A worker told to stop while its manager is away does not hold the
    stop up for finish_retry_s (30 minutes): the result, tried once, stays
    in the spool for the next start, which delivers it first."""
    import time

    from prover.worker.compute import Outcome
    from prover.worker.outcome import OutcomeKind

    job = pb.Job(id=11, attempt=1)
    worker.holdings.hold(job, worker.slots[0])
    worker.stopping.set()
    worker.client.finish_answers = [_Refused(grpc.StatusCode.UNAVAILABLE)] * 5
    started = time.monotonic()
    worker.delivery.finish(job, Outcome(OutcomeKind.OK, proof=b"p" * 192))
    assert time.monotonic() - started < 2.0
    assert len(worker.client.finishes) == 1  # tried once
    (left,) = worker.spool.load()
    assert (left.job_id, left.attempt, left.success) == (11, 1, True)
    assert (11, 1) in _listed(worker)  # still held: listed until answered
