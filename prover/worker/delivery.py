"""Results, from the compute child's outcome to a manager's answer.

A result is written to the spool (``spool.py``, fsynced) and held before
its Finish is sent, and removed once a manager answered it: accepted, a
duplicate, or refused for good. Its slot waits for that answer for
``finish_retry_s``, then moves on and leaves the result to the background
delivery, which keeps trying until a manager answers. The managers being
away never drops a result, and this process dying never loses one: the
next process of this worker reads the spool before it registers and
delivers what it finds (the manager takes those whose attempt is still
current, with the same checks)."""

from __future__ import annotations

import threading
import time

import grpc

from prover._proto import manager_pb2 as pb
from prover.api.client import ManagerClient
from prover.api.convert import timings_to_pb
from prover.backoff import Backoff
from prover.logs import get_logger
from prover.worker.compute import Outcome
from prover.worker.holdings import Holdings
from prover.worker.outcome import OutcomeKind
from prover.worker.retry import RETRYABLE
from prover.worker.spool import Spool

log = get_logger("prover.worker")

# How long, at start, each spooled result is retried before the worker
# claims new work and leaves it to the background delivery.
STARTUP_DELIVERY_S = 30.0
# The background delivery's longest pause between two rounds (and its
# pause when nothing failed: a deferred result also wakes it at once).
DELIVERY_RETRY_MAX_S = 10.0
# A Finish that no manager answered: its first pause, doubling to the cap.
DELIVERY_RETRY_FIRST_S = 0.5


def finish_request(worker: str, job: pb.Job, outcome: Outcome) -> pb.FinishRequest:
    """The Finish of an outcome that is a result (proven or failed)."""
    success = outcome.kind == OutcomeKind.OK
    req = pb.FinishRequest(
        worker=worker,
        job_id=job.id,
        attempt=job.attempt,
        success=success,
        proof=outcome.proof if success else b"",
        faulty=sorted(outcome.faulty),
        error="" if success else outcome.reason,
    )
    if outcome.timings:
        req.timings.CopyFrom(timings_to_pb(outcome.timings))
    return req


class ResultDelivery:
    """Spools and delivers results; ``start`` runs the background delivery
    until ``notify_shutdown``."""

    def __init__(
        self,
        worker: str,
        client: ManagerClient,
        spool: Spool,
        holdings: Holdings,
        finish_retry_s: float,
        stopping: threading.Event | None = None,
    ) -> None:
        self.worker = worker
        self.client = client
        self.spool = spool
        self.holdings = holdings
        self.finish_retry_s = finish_retry_s
        # the worker's: once it stops, a result tried once stays spooled for
        # the next start rather than holding the stop up for finish_retry_s
        self.stopping = stopping or threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- a slot's result ------------------------------------------------------

    def finish(self, job: pb.Job, outcome: Outcome) -> None:
        """Spools the result, then delivers it until a manager answers, for
        at most ``finish_retry_s``; past that the background delivery keeps
        trying."""
        req = finish_request(self.worker, job, outcome)
        self.spool_result(req)
        if self.deliver(req, time.monotonic() + self.finish_retry_s, self.stopping):
            return
        self.holdings.defer(req)
        if self.stopping.is_set():
            log.warning(
                "finish_left_spooled",
                job_id=job.id,
                attempt=job.attempt,
                spool=str(self.spool.path(req.job_id, req.attempt)),
                note="no manager answered while stopping: delivered at the next start",
            )
            return
        log.error(
            "finish_deferred",
            job_id=job.id,
            attempt=job.attempt,
            waited_s=self.finish_retry_s,
            spool=str(self.spool.path(req.job_id, req.attempt)),
            note="kept in the spool and delivered in the background",
        )
        self._wake.set()

    def spool_result(self, req: pb.FinishRequest) -> None:
        """Writes the result to the spool and holds it. A spool that cannot
        be written (a full disk) is logged, and the result is delivered from
        memory all the same."""
        self.holdings.add_result(req)
        try:
            path = self.spool.put(req)
            log.info("result_spooled", job_id=req.job_id, attempt=req.attempt, path=str(path))
        except OSError as exc:
            log.error(
                "spool_write_failed",
                job_id=req.job_id,
                attempt=req.attempt,
                error=f"{type(exc).__name__}: {exc}",
            )

    def _answered(self, req: pb.FinishRequest) -> None:
        self.holdings.drop_result(req)
        try:
            self.spool.remove(req.job_id, req.attempt)
        except OSError as exc:  # sent again at the next start: a duplicate
            log.warning("spool_remove_failed", job_id=req.job_id, error=str(exc))

    def deliver_once(self, req: pb.FinishRequest) -> grpc.RpcError | None:
        """Sends one Finish (to whichever manager answers). None when a
        manager answered it (accepted, a duplicate, or refused for good:
        the result is then forgotten); the error when it may be retried."""
        try:
            resp = self.client.call(self.client.worker.Finish, req)
        except grpc.RpcError as exc:
            if exc.code() in RETRYABLE:
                return exc
            log.warning(
                "finish_refused",
                job_id=req.job_id,
                attempt=req.attempt,
                code=exc.code().name,
                error=exc.details(),
            )
            self._answered(req)
            return None
        log.info(
            "job_finished",
            job_id=req.job_id,
            attempt=req.attempt,
            success=req.success,
            state=resp.state,
            faulty=list(req.faulty),
            error=req.error or None,
            duplicate=resp.duplicate,
        )
        self._answered(req)
        return None

    def deliver(
        self, req: pb.FinishRequest, until: float, stop: threading.Event | None = None
    ) -> bool:
        """Retries a Finish until a manager answers it (True) or ``until``
        (monotonic) passes or ``stop`` is set (False: it stays spooled and
        held)."""
        backoff = Backoff(DELIVERY_RETRY_FIRST_S, DELIVERY_RETRY_MAX_S)
        while True:
            exc = self.deliver_once(req)
            if exc is None:
                return True
            delay = backoff.next()
            if time.monotonic() + delay > until or (stop is not None and stop.is_set()):
                return False
            log.warning(
                "manager_unreachable",
                call="Finish",
                job_id=req.job_id,
                retry_in=delay,
                error=exc.details(),
            )
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)

    # ---- what a previous process left -----------------------------------------

    def load(self) -> list[pb.FinishRequest]:
        """The results a previous process of this worker left in the spool,
        held from now on: read before Register and the first heartbeat,
        which must list them, or the manager would send their jobs (claimed
        before that heartbeat) back to ready and refuse their results."""
        spooled = self.spool.load()
        for req in spooled:
            self.holdings.add_result(req)
        return spooled

    def deliver_spooled(self, spooled: list[pb.FinishRequest], stopping: threading.Event) -> None:
        """At start, after Register and before any claim: each spooled
        result is tried for ``STARTUP_DELIVERY_S``, then left to the
        background delivery."""
        for req in spooled:
            log.info("spooled_result_found", job_id=req.job_id, attempt=req.attempt)
            if stopping.is_set() or not self.deliver(req, time.monotonic() + STARTUP_DELIVERY_S):
                self.holdings.defer(req)
                self._wake.set()

    # ---- the background delivery ----------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="delivery", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Keeps delivering the results whose slots stopped waiting, until a
        manager answers each; they stay spooled meanwhile. A round that
        fails pauses longer each time, up to the cap; once a round went
        through the next failure starts from the first pause again."""
        backoff = Backoff(DELIVERY_RETRY_FIRST_S, DELIVERY_RETRY_MAX_S)
        pause = DELIVERY_RETRY_FIRST_S
        while not self._stop.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            if self._stop.is_set():
                break
            todo = self.holdings.deferred()
            failed = None
            for req in todo:
                failed = self.deliver_once(req) or failed
            if failed is None:
                backoff.reset()
                pause = DELIVERY_RETRY_MAX_S
                continue
            pause = backoff.next()
            log.warning(
                "manager_unreachable",
                call="Finish",
                undelivered=len(todo),
                retry_in=pause,
                error=failed.details(),
            )

    def notify_shutdown(self) -> None:
        """Stops the background delivery; what it holds stays spooled."""
        self._stop.set()
        self._wake.set()

    def wait_all_completed(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
