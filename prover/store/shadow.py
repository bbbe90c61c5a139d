"""Shadow mode's record (``[chain] shadow``): per partition and deadline
turn, the epoch our verified proof would have gone, and after Close what the
chain showed (the existing system's PoSt, its sender and epoch, the faults).

The one owner of ``shadow_partitions``. ``outcome`` is the comparison an SP
reads before switching: ``both`` proved it, ``ours_only`` (we were ready,
the chain has no PoSt for it), ``chain_only`` (the existing system proved
it and we would have missed), ``neither``. ``outcome_of`` is that rule,
free of I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import col, select

from prover.store.database import Database, unavailable_on_db_errors, utcnow
from prover.store.models import ShadowRow

OUTCOMES = ("both", "ours_only", "chain_only", "neither")


@dataclass(frozen=True)
class ReadyPartition:
    """A partition whose verified proof would be pushed now."""

    partition: int
    job_id: int
    skipped: Sequence[int]


@dataclass(frozen=True)
class ChainPost:
    """A SubmitWindowedPoSt the chain executed for a deadline (anyone's)."""

    cid: str
    sender: str
    epoch: int
    exit_code: int
    partitions: frozenset[int]


@dataclass(frozen=True)
class DeadlineTurn:
    """One turn of one deadline: where rows are keyed and what bounds them."""

    miner: int
    period_start: int
    deadline: int
    open: int
    close: int


def outcome_of(ready_epoch: int | None, close: int, chain_landed: bool) -> str:
    """The comparison of one partition: ours counts when it was ready
    before Close (a message pushed at Close - 1 may still land in time)."""
    ours = ready_epoch is not None and ready_epoch < close
    if ours and chain_landed:
        return "both"
    if ours:
        return "ours_only"
    if chain_landed:
        return "chain_only"
    return "neither"


def landed_post(posts: Iterable[ChainPost], partition: int) -> ChainPost | None:
    """The first successful PoSt covering ``partition``; else the last
    failed one (its exit code is worth showing); else None."""
    covering = sorted((p for p in posts if partition in p.partitions), key=lambda p: p.epoch)
    for p in covering:
        if p.exit_code == 0:
            return p
    return covering[-1] if covering else None


class ShadowBook:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    @staticmethod
    def _key(t: DeadlineTurn):
        return (
            ShadowRow.miner == t.miner,
            ShadowRow.period_start == t.period_start,
            ShadowRow.deadline == t.deadline,
        )

    @unavailable_on_db_errors
    def ready_partitions(self, turn: DeadlineTurn) -> set[int]:
        """Partitions of ``turn`` whose readiness is recorded already."""
        q = select(ShadowRow.partition).where(
            *self._key(turn), col(ShadowRow.ready_epoch).is_not(None)
        )
        with self.db.transaction() as s:
            return set(s.exec(q).all())

    @unavailable_on_db_errors
    def record_ready(
        self, turn: DeadlineTurn, ready: Iterable[ReadyPartition], epoch: int
    ) -> list[int]:
        """Records that ``ready``'s proofs would go at ``epoch``, once per
        partition (the first time counts); the partitions recorded now."""
        now = self.clock()
        out = []
        with self.db.transaction() as s:
            rows = {r.partition: r for r in s.exec(select(ShadowRow).where(*self._key(turn))).all()}
            for r in ready:
                row = rows.get(r.partition)
                if row is not None and (row.ready_epoch is not None or row.outcome):
                    continue  # ready before, or settled (Close passed) already
                if row is None:
                    row = ShadowRow(
                        miner=turn.miner,
                        period_start=turn.period_start,
                        deadline=turn.deadline,
                        partition=r.partition,
                        open_epoch=turn.open,
                        close_epoch=turn.close,
                    )
                row.job_id = r.job_id
                row.ready_epoch = epoch
                row.ready_at = now
                row.skipped = sorted(r.skipped)
                s.add(row)
                out.append(r.partition)
        return out

    @unavailable_on_db_errors
    def settle(
        self,
        turn: DeadlineTurn,
        partitions: Iterable[int],
        posts: Sequence[ChainPost],
        faulty: Mapping[int, Iterable[int]],
        jobs: Mapping[int, int] | None = None,
    ) -> list[ShadowRow]:
        """Records what the chain showed for ``turn`` after its Close, for
        ``partitions`` (ours and any the chain's PoSts name); the rows
        settled now (a row settled before is left as it was)."""
        now = self.clock()
        every = set(partitions) | {p for post in posts for p in post.partitions}
        out = []
        with self.db.transaction() as s:
            rows = {r.partition: r for r in s.exec(select(ShadowRow).where(*self._key(turn))).all()}
            for partition in sorted(every):
                row = rows.get(partition)
                if row is not None and row.outcome:
                    continue
                if row is None:
                    row = ShadowRow(
                        miner=turn.miner,
                        period_start=turn.period_start,
                        deadline=turn.deadline,
                        partition=partition,
                        open_epoch=turn.open,
                        close_epoch=turn.close,
                        job_id=(jobs or {}).get(partition),
                    )
                post = landed_post(posts, partition)
                if post is not None:
                    row.chain_cid, row.chain_sender = post.cid, post.sender
                    row.chain_epoch, row.chain_exit_code = post.epoch, post.exit_code
                row.chain_faulty = sorted(faulty.get(partition, ()))
                landed = post is not None and post.exit_code == 0
                row.outcome = outcome_of(row.ready_epoch, turn.close, landed)
                row.settled_at = now
                s.add(row)
                out.append(row)
            for row in out:
                s.flush()
                s.refresh(row)
            s.expunge_all()
        return out

    @unavailable_on_db_errors
    def rows(
        self,
        miner: int | None = None,
        *,
        since_close: int | None = None,
        settled: bool | None = None,
        outcomes: Iterable[str] | None = None,
        limit: int = 1000,
    ) -> list[ShadowRow]:
        """The newest rows first (by Close, then partition)."""
        q = select(ShadowRow)
        if outcomes is not None:
            q = q.where(col(ShadowRow.outcome).in_(list(outcomes)))
        if miner is not None:
            q = q.where(ShadowRow.miner == miner)
        if since_close is not None:
            q = q.where(ShadowRow.close_epoch >= since_close)
        if settled is True:
            q = q.where(ShadowRow.outcome != "")
        elif settled is False:
            q = q.where(ShadowRow.outcome == "")
        q = q.order_by(
            col(ShadowRow.close_epoch).desc(),
            col(ShadowRow.miner),
            col(ShadowRow.deadline),
            col(ShadowRow.partition),
        ).limit(limit)
        with self.db.transaction() as s:
            out = list(s.exec(q).all())
            s.expunge_all()
        return out

    @unavailable_on_db_errors
    def settled_turns(self, turns: Iterable[DeadlineTurn]) -> set[tuple[int, int, int]]:
        """Of ``turns``, those with a settled row: (miner, period, deadline)."""
        turns = list(turns)
        if not turns:
            return set()
        cond = or_(*(and_(*self._key(t)) for t in turns))
        q = (
            select(ShadowRow.miner, ShadowRow.period_start, ShadowRow.deadline)
            .where(cond, ShadowRow.outcome != "")
            .distinct()
        )
        with self.db.transaction() as s:
            return {tuple(r) for r in s.exec(q).all()}
