"""``Ledger``: what the tracker sent to the chain and what it missed.

Two tables beside the jobs: ``messages`` (each message pushed to a miner
actor, its kind, the partitions it carries and what became of it) and
``misses`` (each partition of a closed deadline without a landed proof, and
why). The tracker decides *when* something happened; the ledger owns *what*
may change: a message goes from pending to landed, failed or dropped, once,
and a miss is recorded once per partition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from prover.store.database import Database, unavailable_on_db_errors, utcnow
from prover.store.errors import TransitionRefused
from prover.store.models import MessageRow, MissRow
from prover.store.states import MessageKind, MessageState


@dataclass(frozen=True)
class Miss:
    """A partition that closed (or will close) without a proof, and why: one
    record for the ``misses`` row, the log event and the API's ``Miss``."""

    miner: int
    period_start: int
    deadline: int
    partition: int
    close_epoch: int
    sectors: Sequence[int]
    reason: str


class Ledger:
    """Messages and misses; shares the job store's ``Database``."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    # ---- messages ----------------------------------------------------------------

    @unavailable_on_db_errors
    def record_push(
        self,
        *,
        kind: MessageKind,
        miner: int,
        period_start: int,
        deadline: int,
        partitions: Sequence[int],
        cid: str,
        pushed_epoch: int,
        job_ids: Sequence[int] = (),
    ) -> MessageRow:
        """A message just accepted by the node's mpool: pending from here."""
        now = self.clock()
        row = MessageRow(
            kind=MessageKind(kind).value,
            miner=miner,
            period_start=period_start,
            deadline=deadline,
            partitions=sorted(partitions),
            job_ids=list(job_ids),
            cid=cid,
            state=MessageState.PENDING.value,
            pushed_epoch=pushed_epoch,
            created_at=now,
            updated_at=now,
        )
        with self.db.write(), self.db.session() as s, s.begin():
            s.add(row)
        return row

    @unavailable_on_db_errors
    def executed(self, message_id: int, *, exit_code: int, epoch: int) -> MessageState:
        """The message was found on chain at ``epoch``: landed with exit code
        0, failed with any other. Returns the new state."""
        state = MessageState.LANDED if exit_code == 0 else MessageState.FAILED
        self._settle(message_id, state, exit_code=exit_code, landed_epoch=epoch)
        return state

    @unavailable_on_db_errors
    def dropped(self, message_id: int, reason: str) -> None:
        """The message is not on chain long after its push (a reorg dropped
        it, or the mpool did): its partitions may be sent again."""
        self._settle(message_id, MessageState.DROPPED, error=reason)

    def _settle(
        self,
        message_id: int,
        state: MessageState,
        *,
        exit_code: int | None = None,
        landed_epoch: int | None = None,
        error: str | None = None,
    ) -> None:
        with self.db.write(), self.db.session() as s, s.begin():
            row = s.get(MessageRow, message_id, with_for_update=True)
            if row is None:
                raise TransitionRefused(f"unknown message {message_id}")
            if row.state != MessageState.PENDING:
                raise TransitionRefused(
                    f"message {row.cid} is {row.state}, not pending; cannot become {state}"
                )
            row.state, row.exit_code, row.landed_epoch = state.value, exit_code, landed_epoch
            row.error = error
            row.updated_at = self.clock()
            s.add(row)

    @unavailable_on_db_errors
    def deadline_messages(
        self, miner: int, period_start: int, deadline: int, kind: MessageKind | None = None
    ) -> list[MessageRow]:
        """A deadline's messages (of one kind, if given) in push order."""
        q = select(MessageRow).where(
            MessageRow.miner == miner,
            MessageRow.period_start == period_start,
            MessageRow.deadline == deadline,
        )
        if kind is not None:
            q = q.where(MessageRow.kind == MessageKind(kind).value)
        with self.db.write(), self.db.session() as s, s.begin():
            return list(s.exec(q.order_by(col(MessageRow.id))).all())

    @unavailable_on_db_errors
    def pending_messages(self) -> list[MessageRow]:
        q = select(MessageRow).where(MessageRow.state == MessageState.PENDING.value)
        with self.db.write(), self.db.session() as s, s.begin():
            return list(s.exec(q.order_by(col(MessageRow.id))).all())

    # ---- misses ------------------------------------------------------------------

    @unavailable_on_db_errors
    def record_miss(self, miss: Miss) -> bool:
        """Records a missed partition once; False when it was already recorded."""
        key = (
            MissRow.miner == miss.miner,
            MissRow.period_start == miss.period_start,
            MissRow.deadline == miss.deadline,
            MissRow.partition == miss.partition,
        )
        with self.db.write(), self.db.session() as s, s.begin():
            if s.exec(select(MissRow.id).where(*key)).first() is not None:
                return False
            s.add(
                MissRow(
                    miner=miss.miner,
                    period_start=miss.period_start,
                    deadline=miss.deadline,
                    partition=miss.partition,
                    close_epoch=miss.close_epoch,
                    sectors=sorted(miss.sectors),
                    reason=miss.reason,
                    recorded_at=self.clock(),
                )
            )
        return True

    @unavailable_on_db_errors
    def list_misses(
        self,
        miner: int | None = None,
        *,
        period_start: int | None = None,
        deadline: int | None = None,
        limit: int = 100,
    ) -> list[MissRow]:
        """The newest misses first."""
        q = select(MissRow)
        if miner is not None:
            q = q.where(MissRow.miner == miner)
        if period_start is not None:
            q = q.where(MissRow.period_start == period_start)
        if deadline is not None:
            q = q.where(MissRow.deadline == deadline)
        q = q.order_by(col(MissRow.id).desc()).limit(limit)
        with self.db.write(), self.db.session() as s, s.begin():
            return list(s.exec(q).all())
