"""The worker's compute slots and the jobs proving in them.

A job admitted here runs on a thread of its own, its proof in its slot's
killable child (``compute.py``); a stop order (the manager's, or the
worker's own shutdown) kills the child. Every job that leaves a slot, proven
or not, takes one path (``end``): given back to the manager when it is not
finished (Release), no longer held, and its slot free again. A finished
thread leaves the set of running ones itself."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable

import grpc

from prover._proto import manager_pb2 as pb
from prover.api.client import ManagerClient
from prover.logs import get_logger
from prover.worker.admission import SHUTTING_DOWN, GiveBack
from prover.worker.compute import ComputeSlot, Outcome, Task
from prover.worker.config import WorkerConfig
from prover.worker.delivery import ResultDelivery
from prover.worker.holdings import Holdings, Running
from prover.worker.metrics import WorkerMetrics
from prover.worker.outcome import OutcomeKind, StopReason
from prover.worker.placement import Placement

log = get_logger("prover.worker")


class Proving:
    """Slots, free or busy, and a thread per busy one. ``excluded`` is shared
    with the claims: the jobs this worker gave back for good."""

    def __init__(
        self,
        config: WorkerConfig,
        client: ManagerClient,
        slots: Iterable[ComputeSlot],
        holdings: Holdings,
        delivery: ResultDelivery,
        metrics: WorkerMetrics,
        excluded: set[int],
    ) -> None:
        self.config = config
        self.client = client
        self.slots = list(slots)
        self.holdings = holdings
        self.delivery = delivery
        self.metrics = metrics
        self.excluded = excluded
        self.free: queue.Queue[ComputeSlot] = queue.Queue()
        for slot in self.slots:
            self.free.put(slot)
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()

    def free_slot(self, timeout: float) -> ComputeSlot | None:
        try:
            return self.free.get(timeout=timeout)
        except queue.Empty:
            return None

    # ---- a job's way through a slot --------------------------------------------

    def start(self, rec: Running, placement: Placement) -> None:
        """Proves ``rec`` on a thread of its own."""
        t = threading.Thread(
            target=self._job_thread, args=(rec, placement), name=f"job-{rec.job.id}", daemon=True
        )
        with self._lock:
            self._threads.add(t)
        t.start()

    def _job_thread(self, rec: Running, placement: Placement) -> None:
        why: GiveBack | None = None
        try:
            why = self._prove(rec, placement)
        finally:
            self.end(rec, why)
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _task(self, job: pb.Job, placement: Placement) -> Task:
        return Task(
            job.proof_type,
            job.randomness,
            job.miner,
            job.partition,
            placement.local,
            remote=placement.remote,
            hosts=placement.hosts,
            token=self.client.token,
            ca_file=str(self.config.api_ca) if self.config.api_ca else None,
        )

    def _prove(self, rec: Running, placement: Placement) -> GiveBack | None:
        """Proves the job and delivers its result (None), or says why it
        goes back unfinished."""
        job, slot = rec.job, rec.slot
        task = self._task(job, placement)
        log.info(
            "proving_started",
            job_id=job.id,
            attempt=job.attempt,
            slot=slot.index,
            pid=slot.pid,
            sectors=len(task.replicas) + len(task.remote),
            remote=len(task.remote),
            hosts=sorted({h.name for h in task.hosts}) if task.remote else [],
            unreachable=len(placement.unreachable),
        )
        if not task.replicas and not task.remote:
            reason = "every sector of the job is skipped"
            if placement.unreachable:
                reason = "no sector of the job is reachable: " + next(
                    iter(placement.unreachable.values())
                )
            failed = Outcome(OutcomeKind.FAILED, faulty=placement.unreachable, reason=reason)
            self.delivery.finish(job, failed)
            return None
        outcome = slot.prove(task, lambda: rec.stop_reason)
        if outcome.kind in (OutcomeKind.OK, OutcomeKind.FAILED):
            outcome.faulty = {**placement.unreachable, **outcome.faulty}
        self.metrics.proved(outcome.kind, outcome.timings, len(outcome.faulty), outcome.gpu)
        if outcome.gpu_fallback:  # proven, but on the CPU: many times slower
            log.warning(
                "gpu_fallback",
                job_id=job.id,
                miner=job.miner,
                partition=job.partition,
                slot=slot.index,
                partial=bool(outcome.gpu.get("partial")),
                reason=outcome.gpu_fallback,
            )
        if outcome.kind == OutcomeKind.STOPPED:
            if outcome.reason == StopReason.SHUTDOWN:
                return GiveBack(SHUTTING_DOWN)
            return GiveBack(outcome.reason, release=False)
        for sid, why in outcome.faulty.items():
            log.warning("sector_faulty", job_id=job.id, sector=sid, reason=why)
        self.delivery.finish(job, outcome)
        return None

    def end(self, rec: Running, why: GiveBack | None = None) -> None:
        """The one way a job leaves its slot: given back unless finished
        (``why``), let go, and the slot free for the next claim."""
        job = rec.job
        if why is not None:
            if why.exclude:
                self.excluded.add(job.id)
            if why.release:
                self._release(job, why.reason)
            else:
                log.info("job_stopped", job_id=job.id, reason=why.reason)
        self.holdings.let_go(job)
        self.free.put(rec.slot)

    def _release(self, job: pb.Job, reason: str) -> None:
        req = pb.ReleaseRequest(
            worker=self.config.name, job_id=job.id, attempt=job.attempt, reason=reason
        )
        try:
            self.client.call(self.client.worker.Release, req)
            log.info("job_released", job_id=job.id, reason=reason)
        except grpc.RpcError as exc:
            log.warning("release_failed", job_id=job.id, error=exc.details())

    # ---- shutdown ----------------------------------------------------------------

    def wait_idle(self, grace: float) -> None:
        """Lets the jobs running finish for up to ``grace`` seconds."""
        until = time.monotonic() + grace
        while time.monotonic() < until and self.holdings.running_ids():
            time.sleep(0.1)

    def notify_shutdown(self) -> None:
        """Stops every job still held: its child is killed, the job released."""
        self.holdings.stop_all(StopReason.SHUTDOWN)

    def wait_all_completed(self, timeout_each: float = 30.0) -> None:
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout_each)

    def running_threads(self) -> int:
        with self._lock:
            return len(self._threads)

    def kill_slots(self) -> None:
        for slot in self.slots:
            slot.kill()
