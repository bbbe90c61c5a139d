"""Misses: once a deadline has closed, each partition without a landed proof
is recorded with the reason an operator needs first.

The reason is read from the partition's newest job and the post messages
that carried it: a message that failed on chain or never landed, a proof
that was ready but could not be pushed, a job that was never claimed, still
proving, or out of tries. ``miss_reason`` and ``deadline_misses`` are that
rule, free of I/O; ``Settler`` finds the closed deadlines and records them, with
``Unplanned``'s deadlines that nobody planned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict

from prover import metrics
from prover.logs import get_logger
from prover.store import (
    UNFINISHED_STATES,
    JobState,
    JobStore,
    Ledger,
    MessageKind,
    MessageState,
    Miss,
    expiry_reason,
)
from prover.store.models import JobRow, MessageRow
from prover.tracker.unplanned import Unplanned

log = get_logger("prover.tracker.misses")


def miss_reason(job: JobRow, messages: Sequence[MessageRow], push_error: str | None) -> str:
    """Why the partition of ``job`` has no landed proof; ``messages`` are the
    post messages that carried it, oldest first."""
    if messages:
        m = messages[-1]
        if m.state == MessageState.FAILED:
            return f"message {m.cid} failed on chain with exit code {m.exit_code}"
        if m.state == MessageState.PENDING:
            return f"message {m.cid} pushed at epoch {m.pushed_epoch} was not on chain by Close"
        return f"message {m.cid} was dropped and not pushed again before Close"
    if job.state == JobState.SUCCEEDED:
        return "proof ready but not submitted: " + (push_error or "no submission before Close")
    if job.state in UNFINISHED_STATES:
        return expiry_reason(job)  # the expiry sweep has not run yet
    return job.error or f"job {job.id} {job.state}"


def deadline_misses(
    close: int,
    latest: Mapping[int, JobRow],
    posts: Sequence[MessageRow],
    push_error: str | None,
) -> list[Miss]:
    """The partitions of a closed deadline (its newest jobs by partition)
    that no landed post message carried."""
    landed = {p for m in posts if m.state == MessageState.LANDED for p in m.partitions}
    out = []
    for partition, job in sorted(latest.items()):
        if partition in landed:
            continue
        reason = miss_reason(job, [m for m in posts if partition in m.partitions], push_error)
        sectors = sorted({s.id for s in job.sectors} - set(job.skipped))
        out.append(
            Miss(job.miner, job.period_start, job.deadline, partition, close, sectors, reason)
        )
    return out


class ClosedSince:
    """The deadlines that closed since the last pass, ``confidence`` epochs
    back (for their last message to show); on the first pass, ``lookback()``
    epochs further back (what is done with them must be idempotent). A pass
    that stops early does not call ``done``, so the next one takes the same
    deadlines again. Shared by the Settler and shadow mode's settling."""

    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs
        self.through: int | None = None

    def take(
        self, epoch: int, confidence: int, lookback: Callable[[], int]
    ) -> tuple[int, list[tuple[int, int, int, int]]]:
        """(the epoch this pass reaches, the (miner, period start, deadline,
        close) that closed since the last pass's)."""
        through = epoch - max(1, confidence)
        if self.through is None:
            self.through = through - lookback()
        if through <= self.through:
            return through, []
        return through, self.jobs.closed_deadlines(self.through, through)

    def done(self, through: int) -> None:
        self.through = through


class Settler:
    def __init__(
        self,
        jobs: JobStore,
        ledger: Ledger,
        push_errors: dict[tuple[int, int, int], str],
        unplanned: Unplanned | None = None,
    ) -> None:
        self.jobs = jobs
        self.ledger = ledger
        self.push_errors = push_errors
        self.closed = ClosedSince(jobs)
        self.unplanned = unplanned

    def settle(self, epoch: int, confidence: int, lookback: Callable[[], int]) -> None:
        """Records the misses of every deadline that closed since the last
        call (see ``ClosedSince``), those nobody planned included."""
        through, closed = self.closed.take(epoch, confidence, lookback)
        for miner, period_start, index, close in closed:
            self._deadline(miner, period_start, index, close)
        if self.unplanned is not None and self.closed.through is not None:
            for miss in self.unplanned.misses(self.closed.through, through):
                self._record(miss)
        self.closed.done(through)

    def _record(self, miss: Miss) -> None:
        if self.ledger.record_miss(miss):
            metrics.partition_missed(miss.miner, miss.deadline)
            log.error("deadline_missed", **asdict(miss))

    def _deadline(self, miner: int, period_start: int, index: int, close: int) -> None:
        latest = self.jobs.latest_deadline_jobs(miner, period_start, index, sectors=True)
        posts = self.ledger.deadline_messages(miner, period_start, index, MessageKind.POST)
        key = (miner, period_start, index)
        misses = deadline_misses(close, latest, posts, self.push_errors.get(key))
        for miss in misses:
            self._record(miss)
        if not misses and latest:
            log.info(
                "deadline_proven",
                miner=miner,
                deadline=index,
                period_start=period_start,
                partitions=sorted(latest),
            )
        self.push_errors.pop(key, None)
