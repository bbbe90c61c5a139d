"""``JobStore``: every state change of the job table.

Every state change of a job happens here, each in one transaction, and
records who did it (worker, attempt), so that a late or duplicate message is
recognised and refused. The servicers, sweeps, tracker and CLI reach the
table only through this class; its reads live in ``JobQueries``, which it
extends, and the workers' registrations in ``WorkerRegistry``.

Claims are atomic on both backends: ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, a single-writer (``BEGIN IMMEDIATE``) transaction on SQLite.
Claiming increments the try count and the attempt number, the fencing token
that heartbeats and finishes must present.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, update
from sqlalchemy.orm import defer
from sqlmodel import col, select

from prover.store.database import Database, unavailable_on_db_errors, utcnow
from prover.store.errors import InvalidJob, TransitionRefused, UnknownJob, UnknownWorker
from prover.store.job_queries import JobQueries
from prover.store.models import JobRow, WorkerRow
from prover.store.specs import NewJobSpec
from prover.store.states import FINISHED_STATES, JobState
from prover.store.workers import WORKER_FILTERS, ClaimFilter, claim_filter

JOBS = JobRow.__table__


@functools.cache
def _finish_statement(success: bool):
    """The holder's finish: matches only the running attempt of that worker."""
    now = bindparam("b_now", type_=JOBS.c.finished_at.type)
    values = {
        "finished_attempt": bindparam("b_attempt"),
        "faulty": bindparam("b_faulty", type_=JOBS.c.faulty.type),
        "timings": bindparam("b_timings", type_=JOBS.c.timings.type),
        "updated_at": now,
    }
    if success:
        values |= {
            "state": JobState.SUCCEEDED.value,
            "proof": bindparam("b_proof", type_=JOBS.c.proof.type),
            "error": None,
            "finished_at": now,
        }
    else:
        retry = JOBS.c.tries < JOBS.c.max_tries
        values |= {
            "state": case((retry, JobState.READY.value), else_=JobState.FAILED.value),
            "finished_at": case((retry, None), else_=now),
            "error": bindparam("b_error"),
        }
    return (
        update(JOBS)
        .where(
            (JOBS.c.id == bindparam("b_job_id"))
            & (JOBS.c.attempt == bindparam("b_attempt"))
            & (JOBS.c.worker == bindparam("b_worker"))
            & (JOBS.c.state == JobState.RUNNING.value)
        )
        .values(**values)
        .returning(JOBS.c.state)
    )


@functools.cache
def _claim_statement(by_miner: bool, by_type: bool, by_epoch: bool, excluding: bool):
    pick = select(JOBS.c.id).where(JOBS.c.state == JobState.READY.value)
    if excluding:
        pick = pick.where(JOBS.c.id.not_in(bindparam("exclude", expanding=True)))
    if by_miner:
        pick = pick.where(JOBS.c.miner.in_(bindparam("miners", expanding=True)))
    if by_type:
        pick = pick.where(JOBS.c.proof_type.in_(bindparam("proof_types", expanding=True)))
    if by_epoch:
        pick = pick.where(JOBS.c.close_epoch.is_(None) | (JOBS.c.close_epoch > bindparam("epoch")))
    pick = (
        pick.order_by(JOBS.c.close_epoch.is_(None), JOBS.c.close_epoch, JOBS.c.partition, JOBS.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    now = bindparam("b_now", type_=JOBS.c.started_at.type)
    return (
        update(JOBS)
        .where(JOBS.c.id == pick)
        .values(
            state=JobState.RUNNING.value,
            worker=bindparam("b_worker"),
            tries=JOBS.c.tries + 1,
            attempt=JOBS.c.attempt + 1,
            started_at=now,
            heartbeat_at=now,
            updated_at=now,
            error=None,
        )
        .returning(*JOBS.c)
    )


# Loading options for state changes, which never need the bulk of a row.
_LIGHT = (defer(JobRow.sectors, raiseload=True), defer(JobRow.proof, raiseload=True))


def expiry_reason(job: JobRow) -> str:
    """What an unfinished job was doing when its deadline closed: the first
    thing an operator needs after a miss."""
    closed = f"deadline closed at epoch {job.close_epoch}"
    if job.state == JobState.RUNNING:
        return f"{closed} while worker {job.worker} was proving (try {job.tries})"
    if job.tries == 0:
        return f"{closed} before any worker claimed the job"
    return f"{closed} after {job.tries} failed tries; last error: {job.error}"


@dataclass(frozen=True)
class StopOrder:
    job_id: int
    attempt: int
    reason: str


@dataclass(frozen=True)
class FinishOutcome:
    state: JobState
    duplicate: bool


class JobStore(JobQueries):
    """The job table's contract; see the module docstring. Its reads are
    ``JobQueries``'. Time comes from ``clock`` (tests move it; the worker
    registry must share it); the chain epoch, where a call needs it, is an
    argument: the store does not know where epochs come from."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        heartbeat_timeout: float = 15.0,
        max_tries: int = 2,
        lifetime: timedelta = timedelta(hours=25),
    ) -> None:
        super().__init__(db)
        self.clock = clock
        self.heartbeat_timeout = timedelta(seconds=heartbeat_timeout)
        self.max_tries = max_tries
        self.lifetime = lifetime

    def _now(self) -> datetime:
        return self.clock()

    # ---- jobs in ---------------------------------------------------------

    @unavailable_on_db_errors
    def add_jobs(self, specs: Sequence[NewJobSpec]) -> list[tuple[int, bool]]:
        """Adds jobs, all or none. A job whose key (miner, period start,
        deadline, partition, generation) exists already is not added again:
        its id comes back with ``False``, so trackers can call this on every
        head. Returns ``(id, created)`` per spec, in order."""
        for i, spec in enumerate(specs):
            spec.check(i)
        keys = [s.key for s in specs]
        if len(set(keys)) != len(keys):
            dup = next(i for i, k in enumerate(keys) if keys.index(k) != i)
            raise InvalidJob(dup, "partition", "the same partition appears twice in the request")
        now = self._now()
        out: list[tuple[int, bool]] = []
        with self.db.transaction() as s:
            for spec in specs:
                ids = [sector.id for sector in spec.sectors]
                existing = s.exec(
                    select(JobRow.id).where(
                        JobRow.miner == spec.miner,
                        JobRow.period_start == spec.period_start,
                        JobRow.deadline == spec.deadline,
                        JobRow.partition == spec.partition,
                        JobRow.generation == spec.generation,
                    )
                ).first()
                if existing is not None:
                    out.append((existing, False))
                    continue
                row = JobRow(
                    miner=spec.miner,
                    proof_type=spec.proof_type,
                    period_start=spec.period_start,
                    deadline=spec.deadline,
                    partition=spec.partition,
                    generation=spec.generation,
                    challenge_epoch=spec.challenge_epoch,
                    open_epoch=spec.open_epoch,
                    close_epoch=spec.close_epoch,
                    randomness=bytes(spec.randomness),
                    sectors=list(spec.sectors),
                    sector_count=len(spec.sectors),
                    min_sector=min(ids),
                    max_sector=max(ids),
                    skipped=sorted(set(spec.skipped)),
                    state=JobState.READY,
                    max_tries=spec.max_tries or self.max_tries,
                    dry_run=spec.dry_run,
                    created_at=now,
                    updated_at=now,
                )
                s.add(row)
                s.flush()
                out.append((row.id, True))
        return out

    # ---- worker side -----------------------------------------------------

    @unavailable_on_db_errors
    def claim(
        self,
        worker: str,
        filt: ClaimFilter | None = None,
        *,
        epoch: int | None = None,
        registered_only: bool = False,
        exclude: Iterable[int] = (),
    ) -> JobRow | None:
        """The ready job with the earliest deadline close (then partition)
        that this worker may take, now running under a new attempt. Without
        ``filt``, the filters the worker registered with apply; with
        ``epoch``, jobs whose deadline closed by then are not handed out.

        One ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)
        RETURNING`` statement, built once per filter shape: this is the hot
        path of every worker."""
        now = self._now()
        with self.db.begin() as conn:
            w = conn.execute(WORKER_FILTERS, {"name": worker}).first()
            if w is None and registered_only:
                raise UnknownWorker(worker)
            if w is not None and w.draining:
                return None
            if filt is None:
                filt = claim_filter(w)
            if filt.nothing:
                return None
            params = {"b_worker": worker, "b_now": now}
            if filt.miners:
                params["miners"] = sorted(filt.miners)
            if filt.proof_types:
                params["proof_types"] = sorted(filt.proof_types)
            if epoch is not None:
                params["epoch"] = epoch
            excluded = sorted(set(exclude))
            if excluded:
                params["exclude"] = excluded
            stmt = _claim_statement(
                bool(filt.miners), bool(filt.proof_types), epoch is not None, bool(excluded)
            )
            row = conn.execute(stmt, params).first()
        return None if row is None else JobRow(**row._mapping)

    @unavailable_on_db_errors
    def heartbeat(
        self,
        worker: str,
        attempts: Iterable[tuple[int, int]],
        gpus: list[dict] | None = None,
        *,
        lost: list[int] | None = None,
        gpu_fallback: dict | None = None,
    ) -> list[StopOrder]:
        """Records that ``worker`` still works on these (job, attempt) pairs
        and answers which of them it must stop, and why.

        A worker lists every job it holds in every heartbeat. A job running
        for it that was claimed before its previous heartbeat and that it
        does not list never reached it (the Claim's answer was lost with its
        call, or the worker restarted): it goes back to ready at once, its
        try given back, instead of waiting out the heartbeat timeout.
        Their ids are appended to ``lost``."""
        now = self._now()
        stops: list[StopOrder] = []
        attempts = list(attempts)
        listed = {job_id for job_id, _ in attempts}
        with self.db.transaction() as s:
            w = s.get(WorkerRow, worker, with_for_update=True)
            if w is not None:
                q = (
                    select(JobRow)
                    .options(*_LIGHT)
                    .where(
                        JobRow.worker == worker,
                        JobRow.state == JobState.RUNNING,
                        col(JobRow.started_at) < w.last_seen_at,
                    )
                    .with_for_update(skip_locked=True)
                )
                for job in s.exec(q).all():
                    if job.id in listed:
                        continue
                    why = f"claim lost: {worker} does not hold it (try {job.attempt} undone)"
                    self._hand_back(job, why, now)
                    s.add(job)
                    if lost is not None:
                        lost.append(job.id)
            for job_id, attempt in attempts:
                job = s.get(JobRow, job_id, with_for_update=True, options=_LIGHT)
                reason = self._stop_reason(job, worker, attempt)
                if reason:
                    stops.append(StopOrder(job_id, attempt, reason))
                    continue
                job.heartbeat_at = now
                job.updated_at = now
                s.add(job)
            if w is not None:
                w.last_seen_at = now
                if gpus is not None:
                    w.gpus = gpus
                if gpu_fallback is not None:  # a GPU build's SNARKs that went to the CPU
                    w.gpu_fallback = gpu_fallback
                s.add(w)
        return stops

    @staticmethod
    def _stop_reason(job: JobRow | None, worker: str, attempt: int) -> str | None:
        if job is None:
            return "removed"
        if job.attempt != attempt or job.worker not in (worker, None):
            return "reassigned"
        if job.state == JobState.RUNNING:
            return None
        if job.state == JobState.READY:
            return "reset" if job.worker is None else "requeued"
        return {JobState.EXPIRED: "expired", JobState.FAILED: "failed"}.get(
            JobState(job.state), "finished"
        )

    @unavailable_on_db_errors
    def finish(
        self,
        worker: str,
        job_id: int,
        attempt: int,
        *,
        success: bool,
        proof: bytes | None = None,
        faulty: Iterable[int] = (),
        error: str | None = None,
        timings: dict | None = None,
    ) -> FinishOutcome:
        """Accepts the result of the current attempt from the job's holder.

        A repeat of an accepted finish is answered as a duplicate and
        changes nothing; anything else raises ``TransitionRefused`` with the
        reason (or ``UnknownJob``)."""
        now = self._now()
        if success and not proof:
            raise TransitionRefused(f"finish of job {job_id}: success without a proof")
        params = {
            "b_job_id": job_id,
            "b_attempt": attempt,
            "b_worker": worker,
            "b_faulty": sorted(set(faulty)),
            "b_timings": timings,
            "b_now": now,
        }
        if success:
            params["b_proof"] = bytes(proof)
        else:
            params["b_error"] = error or "worker reported failure"
        with self.db.begin() as conn:
            # Fast path: the holder's finish of a running attempt, one UPDATE.
            done = conn.execute(_finish_statement(success), params).first()
            if done is not None:
                return FinishOutcome(JobState(done.state), duplicate=False)
            # Slow path: recognise a duplicate, or say why not.
            job = conn.execute(
                select(JOBS.c.state, JOBS.c.attempt, JOBS.c.worker, JOBS.c.finished_attempt)
                .where(JOBS.c.id == job_id)
                .with_for_update()
            ).first()
        if job is None:
            raise UnknownJob(job_id)
        if job.finished_attempt == attempt and job.worker == worker:
            return FinishOutcome(JobState(job.state), duplicate=True)
        if job.attempt != attempt or job.worker != worker:
            raise TransitionRefused(
                f"stale finish for job {job_id}: attempt {attempt} from {worker}, "
                f"but the job is at attempt {job.attempt} held by {job.worker or 'nobody'}"
            )
        raise TransitionRefused(f"job {job_id} is {job.state}, not running")

    @unavailable_on_db_errors
    def release(self, worker: str, job_id: int, attempt: int, reason: str) -> JobState:
        """The holder hands a job back unfinished (shutdown, drain): it is
        ready again at once and the try does not count."""
        now = self._now()
        with self.db.transaction() as s:
            job = s.get(JobRow, job_id, with_for_update=True, options=_LIGHT)
            if job is None:
                raise UnknownJob(job_id)
            if job.attempt != attempt or job.worker != worker or job.state != JobState.RUNNING:
                raise TransitionRefused(
                    f"job {job_id} is not running under attempt {attempt} of {worker}"
                )
            self._hand_back(job, f"released by {worker}: {reason}", now)
            s.add(job)
            return JobState.READY

    @staticmethod
    def _hand_back(job: JobRow, why: str, now: datetime) -> None:
        """Ready again at once, the try not counted (the attempt number
        stays, so the old attempt's late messages are refused)."""
        job.state = JobState.READY
        job.tries = max(0, job.tries - 1)
        job.started_at = job.heartbeat_at = None
        job.error = why
        job.updated_at = now

    @staticmethod
    def _fail_attempt(job: JobRow, reason: str, now: datetime) -> None:
        job.error = reason
        job.updated_at = now
        if job.tries < job.max_tries:
            job.state = JobState.READY
        else:
            job.state = JobState.FAILED
            job.finished_at = now

    # ---- sweeps ------------------------------------------------------------

    @unavailable_on_db_errors
    def sweep_heartbeats(self, not_before: datetime | None = None) -> list[int]:
        """Fails the attempts whose holder has not heartbeaten within the
        timeout: back to ready while tries remain, else failed. Before
        ``not_before`` (a manager start plus one timeout) nothing times out,
        so a restart never fails healthy work. Returns the job ids touched."""
        now = self._now()
        if not_before is not None and now < not_before:
            return []
        cutoff = now - self.heartbeat_timeout
        touched = []
        with self.db.transaction() as s:
            q = (
                select(JobRow)
                .options(*_LIGHT)
                .where(JobRow.state == JobState.RUNNING, col(JobRow.heartbeat_at) < cutoff)
                .with_for_update(skip_locked=True)
            )
            for job in s.exec(q).all():
                silent = (now - job.heartbeat_at).total_seconds()
                self._fail_attempt(
                    job, f"heartbeat timeout: {job.worker} silent for {silent:.0f}s", now
                )
                s.add(job)
                touched.append(job.id)
        return touched

    @unavailable_on_db_errors
    def sweep_deadlines(self, epoch: int) -> list[int]:
        """Expires unfinished jobs whose deadline has closed by ``epoch``."""
        now = self._now()
        touched = []
        with self.db.transaction() as s:
            q = (
                select(JobRow)
                .options(*_LIGHT)
                .where(
                    col(JobRow.state).in_([JobState.READY, JobState.RUNNING]),
                    col(JobRow.close_epoch).is_not(None),
                    col(JobRow.close_epoch) <= epoch,
                )
                .with_for_update(skip_locked=True)
            )
            for job in s.exec(q).all():
                job.error = expiry_reason(job)
                job.state = JobState.EXPIRED
                job.finished_at = now
                job.updated_at = now
                s.add(job)
                touched.append(job.id)
        return touched

    @unavailable_on_db_errors
    def sweep_lifetime(self) -> int:
        """Deletes finished jobs older than the lifetime; returns how many."""
        cutoff = self._now() - self.lifetime
        with self.db.transaction() as s:
            result = s.exec(
                delete(JobRow).where(
                    col(JobRow.state).in_(sorted(FINISHED_STATES)),
                    col(JobRow.finished_at) < cutoff,
                )
            )
            return result.rowcount or 0

    # ---- operators -----------------------------------------------------------

    @unavailable_on_db_errors
    def reset(self, ids: Iterable[int]) -> dict[int, str | None]:
        """Back to ready with try count 0; worker, error and proof cleared.
        Returns per id ``None`` (done) or why not."""
        now = self._now()
        out: dict[int, str | None] = {}
        with self.db.transaction() as s:
            for job_id in ids:
                job = s.get(JobRow, job_id, with_for_update=True, options=_LIGHT)
                if job is None:
                    out[job_id] = "unknown job"
                    continue
                job.state = JobState.READY
                job.tries = 0
                job.worker = None
                job.error = None
                job.proof = None
                job.faulty = []
                job.timings = None
                job.started_at = job.heartbeat_at = job.finished_at = None
                job.updated_at = now
                s.add(job)
                out[job_id] = None
        return out

    @unavailable_on_db_errors
    def remove(self, ids: Iterable[int]) -> dict[int, str | None]:
        out: dict[int, str | None] = {}
        with self.db.transaction() as s:
            for job_id in ids:
                job = s.get(JobRow, job_id, with_for_update=True, options=_LIGHT)
                if job is None:
                    out[job_id] = "unknown job"
                    continue
                s.delete(job)
                out[job_id] = None
        return out

    @unavailable_on_db_errors
    def remove_all(self) -> list[int]:
        with self.db.transaction() as s:
            ids = list(s.exec(select(JobRow.id)).all())
            s.exec(delete(JobRow))
        return ids
