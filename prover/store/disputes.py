"""The dispute watch's record (``post_disputes``): each
``DisputeWindowedPoSt`` that landed against one of our miners' PoSts, once
per dispute message; and the read it follows PoSts by (the deadline turns
where a PoSt of ours landed since an epoch).

The one owner of ``post_disputes``; it only reads ``messages`` (the
``Ledger``'s). Writes are fenced like the ledger's: a deposed leader
records nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from prover.store.database import Database, unavailable_on_db_errors, utcnow
from prover.store.models import DisputeRow, MessageRow
from prover.store.states import MessageKind, MessageState


@dataclass(frozen=True)
class LandedTurn:
    """A deadline turn in which a PoSt of ours landed, and the first epoch
    one did."""

    miner: int
    period_start: int
    deadline: int
    first_landed: int


@dataclass(frozen=True)
class Dispute:
    """A dispute that landed (exit code 0) against a PoSt of a turn we proved."""

    miner: int
    period_start: int
    deadline: int
    post_index: int
    partitions: Sequence[int]
    dispute_cid: str
    disputer: str
    epoch: int
    post_cid: str = ""
    workers: Sequence[str] = ()


class DisputeBook:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        fence: Callable[..., object] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.fence = fence

    @unavailable_on_db_errors
    def landed_turns(self, since_epoch: int) -> list[LandedTurn]:
        """The deadline turns with a PoSt of ours that landed at or after
        ``since_epoch`` (one row a turn, however many messages it took)."""
        q = (
            select(
                MessageRow.miner,
                MessageRow.period_start,
                MessageRow.deadline,
                func.min(MessageRow.landed_epoch),
            )
            .where(
                MessageRow.kind == MessageKind.POST.value,
                MessageRow.state == MessageState.LANDED.value,
                col(MessageRow.landed_epoch) >= since_epoch,
            )
            .group_by(MessageRow.miner, MessageRow.period_start, MessageRow.deadline)
        )
        with self.db.transaction() as s:
            return [LandedTurn(*row) for row in s.exec(q).all()]

    @unavailable_on_db_errors
    def recorded(self, dispute_cid: str) -> bool:
        q = select(DisputeRow.id).where(DisputeRow.dispute_cid == dispute_cid)
        with self.db.transaction() as s:
            return s.exec(q).first() is not None

    @unavailable_on_db_errors
    def record(self, d: Dispute) -> bool:
        """Records a dispute once; False when its message was recorded already."""
        with self.db.transaction() as s:
            if self.fence is not None:
                self.fence(s)
            q = select(DisputeRow.id).where(DisputeRow.dispute_cid == d.dispute_cid)
            if s.exec(q).first() is not None:
                return False
            s.add(
                DisputeRow(
                    miner=d.miner,
                    period_start=d.period_start,
                    deadline=d.deadline,
                    post_index=d.post_index,
                    partitions=sorted(d.partitions),
                    dispute_cid=d.dispute_cid,
                    disputer=d.disputer,
                    epoch=d.epoch,
                    post_cid=d.post_cid,
                    workers=sorted(d.workers),
                    recorded_at=self.clock(),
                )
            )
        return True

    @unavailable_on_db_errors
    def recent(self, since_epoch: int, limit: int = 1000) -> list[DisputeRow]:
        """Disputes that landed at or after ``since_epoch``, newest first."""
        q = (
            select(DisputeRow)
            .where(col(DisputeRow.epoch) >= since_epoch)
            .order_by(col(DisputeRow.id).desc())
            .limit(limit)
        )
        with self.db.transaction() as s:
            return list(s.exec(q).all())
