"""What this worker holds, as every heartbeat lists it.

A job is held from the moment its Claim's answer arrives (on gRPC's
thread, before placement) until it is finished, released or stopped; a
finished result is held from the moment it is spooled until a manager
answers its Finish. The manager sends a job claimed for this worker before
its previous heartbeat, and not listed, back to ready, so a gap loses the
job. Both maps sit behind one lock: a result is added to ``undelivered``
before its job leaves ``running``, so that no heartbeat falls between."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from prover._proto import manager_pb2 as pb
from prover.worker.compute import ComputeSlot


@dataclass
class Running:
    """A job this worker holds from its Claim's answer on (placement, then
    proof, then its Finish); ``stop_reason`` once it is ordered to stop."""

    job: pb.Job
    slot: ComputeSlot
    stop_reason: str | None = None


@dataclass
class Undelivered:
    """A finished result in the spool whose Finish no manager has answered
    yet; ``background`` once its slot stopped waiting for it."""

    request: pb.FinishRequest
    background: bool = False


class Holdings:
    """The jobs claimed (placing or proving) and the results not yet
    delivered. Safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running: dict[int, Running] = {}
        self.undelivered: dict[tuple[int, int], Undelivered] = {}

    def held(self) -> list[tuple[int, int]]:
        """(job id, attempt) of every job held, as the next heartbeat lists them."""
        with self._lock:
            pairs = {(jid, r.job.attempt) for jid, r in self.running.items()}
            pairs.update(self.undelivered)
        return sorted(pairs)

    # ---- claimed jobs ---------------------------------------------------------

    def hold(self, job: pb.Job, slot: ComputeSlot) -> Running:
        rec = Running(job, slot)
        with self._lock:
            self.running[job.id] = rec
        return rec

    def record(self, job: pb.Job, slot: ComputeSlot) -> Running:
        """The record made when the Claim's answer came (a stop order may
        be on it already), or a new one."""
        with self._lock:
            rec = self.running.get(job.id)
        if rec is not None and rec.job.attempt == job.attempt:
            return rec
        return self.hold(job, slot)

    def let_go(self, job: pb.Job) -> None:
        with self._lock:
            rec = self.running.get(job.id)
            if rec is not None and rec.job.attempt == job.attempt:
                del self.running[job.id]

    def order_stop(self, job_id: int, attempt: int, reason: str) -> None:
        """A stop order for this attempt, seen by its compute slot at its next look."""
        with self._lock:
            rec = self.running.get(job_id)
            if rec is not None and rec.job.attempt == attempt:
                rec.stop_reason = reason

    def stop_all(self, reason: str) -> None:
        with self._lock:
            for rec in self.running.values():
                rec.stop_reason = reason

    def running_ids(self) -> list[int]:
        with self._lock:
            return sorted(self.running)

    # ---- results --------------------------------------------------------------

    def add_result(self, req: pb.FinishRequest) -> None:
        with self._lock:
            self.undelivered[(req.job_id, req.attempt)] = Undelivered(req)

    def drop_result(self, req: pb.FinishRequest) -> None:
        with self._lock:
            self.undelivered.pop((req.job_id, req.attempt), None)

    def defer(self, req: pb.FinishRequest) -> None:
        """Its slot stops waiting: the background delivery takes it over
        (if no manager answered it meanwhile)."""
        with self._lock:
            pending = self.undelivered.get((req.job_id, req.attempt))
            if pending is not None:
                pending.background = True

    def deferred(self) -> list[pb.FinishRequest]:
        with self._lock:
            return [u.request for u in self.undelivered.values() if u.background]
