"""``JobQueries``: the job table's reads, apart from its state changes.

Three readers ask the table questions without changing it: operators (a
job, a page of jobs, counts by state), the tracker (a deadline's jobs, the
next generation, deadlines that closed) and the alert watch (proofs that
left sectors out, proof types waiting for a worker). ``JobStore`` extends
this class with every state change, so a caller holding the store reads
through the same object; a caller that only reads can ask for this one.

The bulk of a row, its sectors (75 kB packed in a 32GiB job) and its proof,
is read only when asked for: what is left out raises if touched rather than
loading quietly row by row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

from sqlalchemy import String, cast, func
from sqlalchemy.orm import defer
from sqlmodel import col, select

from prover.store.database import Database, unavailable_on_db_errors
from prover.store.migrate import current_revision, head_revision
from prover.store.models import JOB_ORDER, NO_CLOSE, JobRow
from prover.store.states import JobState

JOBS = JobRow.__table__


def _tracked(miner: int, period_start: int, deadline: int) -> tuple:
    """The conditions for the tracker's jobs of one deadline (no dry runs)."""
    return (
        JobRow.miner == miner,
        JobRow.period_start == period_start,
        JobRow.deadline == deadline,
        JobRow.dry_run == False,  # noqa: E712 (SQL, not Python)
    )


def _without_bulk(q, sectors: bool, proofs: bool):
    """``q`` without the columns not asked for: the sectors and the proof."""
    left_out = [
        c for c, wanted in ((JobRow.sectors, sectors), (JobRow.proof, proofs)) if not wanted
    ]
    return q.options(*(defer(c, raiseload=True) for c in left_out)) if left_out else q


class JobQueries:
    """Reads of the job table over one ``Database``; see the module."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, url: str, **kwargs: Any) -> Self:
        """On its own database (migrated); see ``Database.open``."""
        return cls(Database.open(url), **kwargs)

    @property
    def engine(self):
        return self.db.engine

    @property
    def backend(self) -> str:
        return self.db.backend

    def close(self) -> None:
        self.db.close()

    @unavailable_on_db_errors
    def schema_revisions(self) -> tuple[str, str]:
        """(the database's migration revision, the newest this code knows):
        they differ during a rolling upgrade, which Status reports."""
        return current_revision(self.db.engine) or "", head_revision() or ""

    # ---- operators --------------------------------------------------------------

    @unavailable_on_db_errors
    def get(self, job_id: int) -> JobRow | None:
        with self.db.transaction() as s:
            return s.get(JobRow, job_id)

    @unavailable_on_db_errors
    def list_jobs(
        self,
        states: Iterable[str] | None = None,
        miner: int | None = None,
        deadline: int | None = None,
        *,
        ids: Iterable[int] | None = None,
        after: tuple[int, int] | None = None,
        limit: int | None = None,
        sectors: bool = False,
        proofs: bool = False,
    ) -> list[JobRow]:
        """Jobs in close order (no close last), then id; a page of them with
        ``limit``, the next one from ``after`` (the ``page_key`` of the last
        job of the previous page). The sectors and the proof, the bulk of a
        row (2349 sectors in a 32GiB job), are read only when asked for:
        without them ``job.sectors``/``job.proof`` must not be touched
        (``sector_count`` is there)."""
        q = select(JobRow)
        if states:
            q = q.where(col(JobRow.state).in_(sorted(set(states))))
        if miner is not None:
            q = q.where(JobRow.miner == miner)
        if deadline is not None:
            q = q.where(JobRow.deadline == deadline)
        if ids is not None:
            q = q.where(col(JobRow.id).in_(sorted(set(ids))))
        if after is not None:  # (close, id) > after, in a form both databases seek with
            close, last_id = after
            key = JOB_ORDER
            q = q.where(key >= close, (key > close) | (col(JobRow.id) > last_id))
        q = q.order_by(JOB_ORDER, col(JobRow.id))
        if limit is not None:
            q = q.limit(limit)
        with self.db.transaction() as s:
            return list(s.exec(_without_bulk(q, sectors, proofs)).all())

    @staticmethod
    def page_key(job: JobRow) -> tuple[int, int]:
        """Where the page after ``job`` starts (see ``list_jobs``)."""
        return (NO_CLOSE if job.close_epoch is None else job.close_epoch, job.id)

    @unavailable_on_db_errors
    def counts(self) -> dict[str, int]:
        with self.db.transaction() as s:
            rows = s.exec(select(JobRow.state, func.count()).group_by(JobRow.state)).all()
        return {state: n for state, n in rows}

    # ---- the tracker's ------------------------------------------------------------

    @unavailable_on_db_errors
    def deadline_jobs(
        self,
        miner: int,
        period_start: int,
        deadline: int,
        *,
        sectors: bool = False,
        proofs: bool = False,
    ) -> list[JobRow]:
        """The tracker's jobs of one deadline (not dry runs), all generations,
        in partition then generation order; sectors and proofs only when
        asked for (as ``list_jobs``)."""
        q = (
            select(JobRow)
            .where(*_tracked(miner, period_start, deadline))
            .order_by(col(JobRow.partition), col(JobRow.generation))
        )
        with self.db.transaction() as s:
            return list(s.exec(_without_bulk(q, sectors, proofs)).all())

    @unavailable_on_db_errors
    def has_deadline_jobs(self, miner: int, period_start: int, deadline: int) -> bool:
        """Whether the tracker planned this deadline already: asked on every
        head for the current and next deadline, so it reads one id, not the
        jobs' sectors."""
        q = select(JobRow.id).where(*_tracked(miner, period_start, deadline)).limit(1)
        with self.db.transaction() as s:
            return s.exec(q).first() is not None

    def latest_deadline_jobs(
        self,
        miner: int,
        period_start: int,
        deadline: int,
        *,
        sectors: bool = False,
        proofs: bool = False,
    ) -> dict[int, JobRow]:
        """The newest generation's job of each partition of a deadline: the
        one that counts for it (an operator's re-plan adds a generation)."""
        latest: dict[int, JobRow] = {}
        jobs = self.deadline_jobs(miner, period_start, deadline, sectors=sectors, proofs=proofs)
        for j in jobs:
            latest[j.partition] = j  # ordered by generation: the newest wins
        return latest

    @unavailable_on_db_errors
    def next_generation(self, miner: int, period_start: int, deadline: int) -> int:
        """A generation no job of this deadline has (dry runs take these, so
        they never collide with the tracker's generation 0)."""
        q = select(func.max(JobRow.generation)).where(
            JobRow.miner == miner,
            JobRow.period_start == period_start,
            JobRow.deadline == deadline,
        )
        with self.db.transaction() as s:
            top = s.exec(q).one()
        return 1 if top is None else top + 1

    @unavailable_on_db_errors
    def first_tracked_close(self, miner: int) -> int | None:
        """The Close of the miner's oldest tracked deadline still stored:
        from there on its deadlines are this database's to prove."""
        q = select(func.min(JobRow.close_epoch)).where(
            JobRow.miner == miner,
            JobRow.dry_run == False,  # noqa: E712 (SQL, not Python)
        )
        with self.db.transaction() as s:
            return s.exec(q).one()

    @unavailable_on_db_errors
    def closed_deadlines(self, after_epoch: int, epoch: int) -> list[tuple[int, int, int, int]]:
        """(miner, period start, deadline, close) of tracked deadlines that
        closed in (after_epoch, epoch]."""
        q = (
            select(JobRow.miner, JobRow.period_start, JobRow.deadline, JobRow.close_epoch)
            .where(
                JobRow.dry_run == False,  # noqa: E712 (SQL, not Python)
                col(JobRow.close_epoch) > after_epoch,
                col(JobRow.close_epoch) <= epoch,
            )
            .distinct()
        )
        with self.db.transaction() as s:
            return [tuple(r) for r in s.exec(q).all()]

    # ---- the alert watch's ----------------------------------------------------------

    @unavailable_on_db_errors
    def left_out(self, closed_from: int) -> list[tuple[int, int, int, int, int, list, list]]:
        """(miner, period start, deadline, partition, close, skipped, faulty)
        of accepted tracker proofs that left sectors out, for deadlines that
        close at or after ``closed_from``. Asked every few seconds: the empty
        lists are filtered in SQL (as their JSON text) and no sectors read."""
        q = select(
            JobRow.miner,
            JobRow.period_start,
            JobRow.deadline,
            JobRow.partition,
            JobRow.close_epoch,
            JobRow.skipped,
            JobRow.faulty,
        ).where(
            JobRow.state == JobState.SUCCEEDED.value,
            JobRow.dry_run == False,  # noqa: E712 (SQL, not Python)
            col(JobRow.close_epoch) >= closed_from,
            (cast(JOBS.c.skipped, String) != "[]") | (cast(JOBS.c.faulty, String) != "[]"),
        )
        with self.db.transaction() as s:
            return [tuple(r) for r in s.exec(q).all()]

    @unavailable_on_db_errors
    def waiting_proof_types(self) -> set[tuple[int, int]]:
        """(miner, proof type) of the jobs waiting for a worker."""
        q = (
            select(JobRow.miner, JobRow.proof_type)
            .where(JobRow.state == JobState.READY.value)
            .distinct()
        )
        with self.db.transaction() as s:
            return {(m, t) for m, t in s.exec(q).all()}
