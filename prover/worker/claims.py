"""Claim: the long poll that hands this worker a job.

The job is held (listed in heartbeats, ``holdings.py``) from the moment
the answer arrives, on gRPC's thread, not when the claiming thread gets to
it: a heartbeat in between that did not list it would send it back to
ready. A manager that does not know this worker says so with
``Refusal.UNKNOWN_WORKER`` and the worker registers again; one that is
away is left for the next (the client moves on), and the worker pauses
only once every manager failed in a row."""

from __future__ import annotations

import threading
from collections.abc import Callable

import grpc

from prover._proto import manager_pb2 as pb
from prover.api.client import ManagerClient
from prover.api.refusals import Refusal, gave_no_reason, refusal
from prover.logs import get_logger
from prover.worker.compute import ComputeSlot
from prover.worker.holdings import Holdings
from prover.worker.retry import RETRYABLE

log = get_logger("prover.worker")

# Past a Claim's wait the manager answers "no job"; a call unanswered this
# long after that is at a manager that hangs, and the next one is asked.
CLAIM_GRACE_S = 5.0
# The pause once every manager failed a Claim in a row.
ALL_FAILED_PAUSE_S = 1.0
# How many of the jobs this worker gave back for good a Claim names.
MAX_EXCLUDED = 1000


class Claims:
    """Claims for one slot at a time; ``excluded`` are the jobs this worker
    gave back for good (it cannot prove them), which no manager should hand
    it again."""

    def __init__(
        self,
        worker: str,
        client: ManagerClient,
        holdings: Holdings,
        wait_s: float,
        register: Callable[[], None],
        stopping: threading.Event,
    ) -> None:
        self.worker = worker
        self.client = client
        self.holdings = holdings
        self.wait_s = wait_s
        self.register = register
        self.stopping = stopping
        self.excluded: set[int] = set()
        self._failures = 0

    def claim(self, slot: ComputeSlot) -> pb.Job | None:
        """Long-polls for a job for ``slot``; None when there is none (yet),
        the worker stops, or the managers could not be asked."""
        req = pb.ClaimRequest(
            worker=self.worker,
            wait_ms=int(self.wait_s * 1000),
            exclude=sorted(self.excluded)[-MAX_EXCLUDED:],
        )
        future = self.client.worker.Claim.future(
            req, metadata=self.client.metadata, timeout=self.wait_s + CLAIM_GRACE_S
        )
        done = threading.Event()

        def answered(f) -> None:
            if not f.cancelled() and f.exception() is None and f.result().HasField("job"):
                self.holdings.hold(f.result().job, slot)
            done.set()

        future.add_done_callback(answered)
        while not done.wait(0.05):
            if self.stopping.is_set():
                future.cancel()
                break
        try:
            resp = future.result()
        except grpc.FutureCancelledError:
            return None
        except grpc.RpcError as exc:
            return self._failed(exc)
        self._failures = 0
        return resp.job if resp.HasField("job") else None

    def _failed(self, exc: grpc.RpcError) -> None:
        if exc.code() == grpc.StatusCode.CANCELLED and self.stopping.is_set():
            return None
        if refusal(exc) is Refusal.UNKNOWN_WORKER or (
            # a manager of API 2 or older gives no reason: the one
            # FAILED_PRECONDITION it answers a Claim with is an unknown worker
            exc.code() == grpc.StatusCode.FAILED_PRECONDITION and gave_no_reason(exc)
        ):
            self.register()
            return None
        if exc.code() in RETRYABLE:
            log.warning("manager_unreachable", call="Claim", error=exc.details())
            # the client moved to the next manager: ask it at once, and
            # pause only once every manager failed in a row
            self._failures += 1
            if self._failures % len(self.client.addresses) == 0:
                self.stopping.wait(ALL_FAILED_PAUSE_S)
            return None
        raise exc
