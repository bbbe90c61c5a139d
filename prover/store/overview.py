"""Read-only queries for the dashboard: a page's worth of small columns.

A dashboard refresh every few seconds must stay cheap at a large provider's
size (tens of miners, tens of thousands of jobs of 2349 sectors), so these
read only the columns a page shows: never a job's sectors (75 kB packed in
a 32GiB job) or its proof, and skipped/faulty sectors and a miss's sectors
as counts (``json_array_length``, on both backends) except on the one
deadline a detail page shows. Each function is one SELECT (the strip's, one
per 200 deadline ranges), so a page is a handful of queries whatever the
number of miners and deadlines; the store's indexes on (miner, period start,
deadline) serve them.

Nothing here changes a row; ``JobStore`` and ``Ledger`` own every change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, false, func, or_, select

from prover.store.database import Database, unavailable_on_db_errors
from prover.store.models import JobRow, MessageRow, MissRow, WorkerRow
from prover.store.states import JobState, MessageKind

JOBS = JobRow.__table__
MESSAGES = MessageRow.__table__
MISSES = MissRow.__table__
WORKERS = WorkerRow.__table__

# Deadline ranges per query: each is a term of an OR, and SQLite refuses
# expressions deeper than 1000.
RANGES_PER_QUERY = 200


@dataclass(frozen=True)
class DeadlineRange:
    """Deadlines ``first``..``last`` of one miner's proving period."""

    miner: int
    period_start: int
    first: int
    last: int


@dataclass(frozen=True)
class JobLine:
    """A job as the dashboard shows it. ``skipped``/``faulty`` hold the
    sector numbers only on a detail page; the counts are always there."""

    id: int
    miner: int
    period_start: int
    deadline: int
    partition: int
    generation: int
    state: str
    worker: str | None
    sector_count: int
    skipped_count: int
    faulty_count: int
    tries: int
    error: str | None
    close_epoch: int | None
    skipped: tuple[int, ...] = ()
    faulty: tuple[int, ...] = ()


@dataclass(frozen=True)
class MessageLine:
    miner: int
    period_start: int
    deadline: int
    kind: str
    partitions: tuple[int, ...]
    cid: str
    state: str
    exit_code: int | None
    pushed_epoch: int
    landed_epoch: int | None
    gas_used: int | None
    fee_paid: str | None  # attoFIL, decimal text
    error: str | None
    replacements: int


@dataclass(frozen=True)
class MissLine:
    miner: int
    period_start: int
    deadline: int
    partition: int
    close_epoch: int
    sector_count: int
    reason: str
    recorded_at: datetime


@dataclass(frozen=True)
class RunningJob:
    worker: str
    job_id: int
    miner: int
    deadline: int
    partition: int


_JOB_COLUMNS = (
    JOBS.c.id,
    JOBS.c.miner,
    JOBS.c.period_start,
    JOBS.c.deadline,
    JOBS.c.partition,
    JOBS.c.generation,
    JOBS.c.state,
    JOBS.c.worker,
    JOBS.c.sector_count,
    func.json_array_length(JOBS.c.skipped),
    func.json_array_length(JOBS.c.faulty),
    JOBS.c.tries,
    JOBS.c.error,
    JOBS.c.close_epoch,
)
_MESSAGE_COLUMNS = (
    MESSAGES.c.miner,
    MESSAGES.c.period_start,
    MESSAGES.c.deadline,
    MESSAGES.c.kind,
    MESSAGES.c.partitions,
    MESSAGES.c.cid,
    MESSAGES.c.state,
    MESSAGES.c.exit_code,
    MESSAGES.c.pushed_epoch,
    MESSAGES.c.landed_epoch,
    MESSAGES.c.gas_used,
    MESSAGES.c.fee_paid,
    MESSAGES.c.error,
    func.json_array_length(MESSAGES.c.replaced_cids),
)
_MISS_COLUMNS = (
    MISSES.c.miner,
    MISSES.c.period_start,
    MISSES.c.deadline,
    MISSES.c.partition,
    MISSES.c.close_epoch,
    func.json_array_length(MISSES.c.sectors),
    MISSES.c.reason,
    MISSES.c.recorded_at,
)
_TRACKED = JOBS.c.dry_run == false()  # dry runs are never a deadline's jobs


def _job(row, skipped: Sequence[int] = (), faulty: Sequence[int] = ()) -> JobLine:
    return JobLine(*row[: len(_JOB_COLUMNS)], skipped=tuple(skipped), faulty=tuple(faulty))


def _message(row) -> MessageLine:
    values = list(row)
    values[4] = tuple(values[4])
    return MessageLine(*values)


def _miss(row) -> MissLine:
    return MissLine(*row)


def _in(table, r: DeadlineRange):
    return and_(
        table.c.miner == r.miner,
        table.c.period_start == r.period_start,
        table.c.deadline.between(r.first, r.last),
    )


def _chunks(ranges: Sequence[DeadlineRange]) -> Iterable[Sequence[DeadlineRange]]:
    for k in range(0, len(ranges), RANGES_PER_QUERY):
        yield ranges[k : k + RANGES_PER_QUERY]


class Overview:
    """The dashboard's reads over one ``Database`` (the manager's)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _rows(self, q) -> list:
        with self.db.connect() as conn:
            return list(conn.execute(q))

    # ---- the strip ------------------------------------------------------------

    @unavailable_on_db_errors
    def strip_jobs(self, ranges: Sequence[DeadlineRange]) -> list[JobLine]:
        """The tracker's jobs (every generation) of the deadlines in ``ranges``."""
        out = []
        for chunk in _chunks(ranges):
            terms = or_(*(_in(JOBS, r) for r in chunk))
            q = select(*_JOB_COLUMNS).where(_TRACKED, terms)
            out += [_job(r) for r in self._rows(q)]
        return out

    @unavailable_on_db_errors
    def strip_posts(self, ranges: Sequence[DeadlineRange]) -> list[MessageLine]:
        """The post messages of the deadlines in ``ranges``, in push order."""
        out = []
        for chunk in _chunks(ranges):
            terms = or_(*(_in(MESSAGES, r) for r in chunk))
            q = (
                select(*_MESSAGE_COLUMNS)
                .where(MESSAGES.c.kind == MessageKind.POST.value, terms)
                .order_by(MESSAGES.c.id)
            )
            out += [_message(r) for r in self._rows(q)]
        return out

    @unavailable_on_db_errors
    def strip_misses(self, ranges: Sequence[DeadlineRange]) -> list[MissLine]:
        out = []
        for chunk in _chunks(ranges):
            terms = or_(*(_in(MISSES, r) for r in chunk))
            out += [_miss(r) for r in self._rows(select(*_MISS_COLUMNS).where(terms))]
        return out

    @unavailable_on_db_errors
    def latest_jobs(self) -> list[JobLine]:
        """Without a chain to say which period is current: the jobs of each
        (miner, deadline)'s latest period in the store, every generation."""
        latest = (
            select(
                JOBS.c.miner,
                JOBS.c.deadline,
                func.max(JOBS.c.period_start).label("period_start"),
            )
            .where(_TRACKED)
            .group_by(JOBS.c.miner, JOBS.c.deadline)
            .subquery()
        )
        q = (
            select(*_JOB_COLUMNS)
            .join(
                latest,
                and_(
                    JOBS.c.miner == latest.c.miner,
                    JOBS.c.deadline == latest.c.deadline,
                    JOBS.c.period_start == latest.c.period_start,
                ),
            )
            .where(_TRACKED)
        )
        return [_job(r) for r in self._rows(q)]

    # ---- one deadline -----------------------------------------------------------

    @unavailable_on_db_errors
    def latest_period(self, miner: int, deadline: int) -> int | None:
        """The latest proving period in which ``deadline`` has jobs."""
        q = select(func.max(JOBS.c.period_start)).where(
            _TRACKED, JOBS.c.miner == miner, JOBS.c.deadline == deadline
        )
        return self._rows(q)[0][0]

    @unavailable_on_db_errors
    def deadline_jobs(self, miner: int, period_start: int, deadline: int) -> list[JobLine]:
        """A deadline's tracked jobs, every generation, with their skipped
        and faulty sector numbers."""
        r = DeadlineRange(miner, period_start, deadline, deadline)
        q = (
            select(*_JOB_COLUMNS, JOBS.c.skipped, JOBS.c.faulty)
            .where(_TRACKED, _in(JOBS, r))
            .order_by(JOBS.c.partition, JOBS.c.generation)
        )
        n = len(_JOB_COLUMNS)
        return [_job(row, row[n], row[n + 1]) for row in self._rows(q)]

    @unavailable_on_db_errors
    def deadline_messages(self, miner: int, period_start: int, deadline: int) -> list[MessageLine]:
        """A deadline's messages of every kind (a recovery's deadline is the
        one it declares for), in push order."""
        r = DeadlineRange(miner, period_start, deadline, deadline)
        q = select(*_MESSAGE_COLUMNS).where(_in(MESSAGES, r)).order_by(MESSAGES.c.id)
        return [_message(row) for row in self._rows(q)]

    @unavailable_on_db_errors
    def deadline_misses(self, miner: int, period_start: int, deadline: int) -> list[MissLine]:
        r = DeadlineRange(miner, period_start, deadline, deadline)
        q = select(*_MISS_COLUMNS).where(_in(MISSES, r)).order_by(MISSES.c.partition)
        return [_miss(row) for row in self._rows(q)]

    # ---- the rest of the page ---------------------------------------------------

    @unavailable_on_db_errors
    def recent_misses(self, limit: int = 20) -> list[MissLine]:
        """The newest misses first."""
        q = select(*_MISS_COLUMNS).order_by(MISSES.c.id.desc()).limit(limit)
        return [_miss(row) for row in self._rows(q)]

    @unavailable_on_db_errors
    def workers(self) -> list[WorkerRow]:
        """Every registered worker (a few small columns each)."""
        with self.db.transaction() as s:
            return list(s.scalars(select(WorkerRow).order_by(WORKERS.c.name)))

    @unavailable_on_db_errors
    def running(self) -> list[RunningJob]:
        """What each worker is proving now (the claim index finds them)."""
        q = (
            select(JOBS.c.worker, JOBS.c.id, JOBS.c.miner, JOBS.c.deadline, JOBS.c.partition)
            .where(JOBS.c.state == JobState.RUNNING.value)
            .order_by(JOBS.c.id)
        )
        return [RunningJob(*row) for row in self._rows(q)]
