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


@dataclass(frozen=True)
class Sent:
    """How a message went out: from whom, with which nonce and gas, and its
    params, which is all a replacement by fee needs."""

    sender: str
    nonce: int
    params: bytes
    gas_limit: int
    gas_fee_cap: int
    gas_premium: int


def sent_of(row: MessageRow) -> Sent | None:
    """The ``Sent`` a message row records, or None for one the node signed."""
    if not row.sender or row.nonce is None or row.gas_limit is None:
        return None
    return Sent(
        row.sender,
        row.nonce,
        row.params or b"",
        row.gas_limit,
        int(row.gas_fee_cap or 0),
        int(row.gas_premium or 0),
    )


class Ledger:
    """Messages and misses; shares the job store's ``Database``.

    ``fence`` (the manager's ``ChainLease.fence``) runs inside every write's
    transaction and refuses it (``LeaseLost``) when this manager no longer
    leads: a deposed leader that resumes must not record, or send, anything.
    Without one (a single manager, tests) every write goes through."""

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

    def _fenced(self, s, *, push: bool = False) -> None:
        if self.fence is not None:
            self.fence(s, push=push)

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
        sent: Sent | None = None,
    ) -> MessageRow:
        """A message just accepted by the node's mpool: pending from here."""
        now = self.clock()
        row = MessageRow(
            **_sent_columns(sent),
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
        with self.db.transaction() as s:
            self._fenced(s, push=True)
            s.add(row)
        return row

    @unavailable_on_db_errors
    def record_replacement(
        self, message_id: int, *, cid: str, sent: Sent, pushed_epoch: int
    ) -> MessageRow:
        """A pending message was replaced by fee (same sender and nonce): it
        carries the new CID and gas from here, the old CID in
        ``replaced_cids``. Only a pending message can be replaced."""
        with self.db.transaction() as s:
            self._fenced(s, push=True)
            row = s.get(MessageRow, message_id, with_for_update=True)
            if row is None:
                raise TransitionRefused(f"unknown message {message_id}")
            if row.state != MessageState.PENDING:
                raise TransitionRefused(f"message {row.cid} is {row.state}, not pending")
            if row.nonce != sent.nonce or row.sender != sent.sender:
                raise TransitionRefused(
                    f"message {row.cid} is nonce {row.nonce} from {row.sender}: "
                    f"not replaced by nonce {sent.nonce} from {sent.sender}"
                )
            row.replaced_cids = [*row.replaced_cids, row.cid]
            row.cid = cid
            for name, value in _sent_columns(sent).items():
                setattr(row, name, value)
            row.pushed_epoch = pushed_epoch
            row.updated_at = self.clock()
            s.add(row)
            return row

    @unavailable_on_db_errors
    def executed(
        self,
        message_id: int,
        *,
        exit_code: int,
        epoch: int,
        gas_used: int | None = None,
        base_fee: int | None = None,
        fee_paid: int | None = None,
    ) -> MessageState:
        """The message was found on chain at ``epoch``: landed with exit code
        0, failed with any other (a failed message pays its gas too).
        Returns the new state."""
        state = MessageState.LANDED if exit_code == 0 else MessageState.FAILED
        self._settle(
            message_id,
            state,
            exit_code=exit_code,
            landed_epoch=epoch,
            gas_used=gas_used,
            base_fee=base_fee,
            fee_paid=fee_paid,
        )
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
        gas_used: int | None = None,
        base_fee: int | None = None,
        fee_paid: int | None = None,
    ) -> None:
        with self.db.transaction() as s:
            self._fenced(s)
            row = s.get(MessageRow, message_id, with_for_update=True)
            if row is None:
                raise TransitionRefused(f"unknown message {message_id}")
            if row.state != MessageState.PENDING:
                raise TransitionRefused(
                    f"message {row.cid} is {row.state}, not pending; cannot become {state}"
                )
            row.state, row.exit_code, row.landed_epoch = state.value, exit_code, landed_epoch
            row.error = error
            row.gas_used = gas_used
            row.base_fee = None if base_fee is None else str(base_fee)
            row.fee_paid = None if fee_paid is None else str(fee_paid)
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
        with self.db.transaction() as s:
            return list(s.exec(q.order_by(col(MessageRow.id))).all())

    @unavailable_on_db_errors
    def pending_messages(self) -> list[MessageRow]:
        q = select(MessageRow).where(MessageRow.state == MessageState.PENDING.value)
        with self.db.transaction() as s:
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
        with self.db.transaction() as s:
            self._fenced(s)
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
        with self.db.transaction() as s:
            return list(s.exec(q).all())

    # ---- the alert watch's queries ------------------------------------------------

    @unavailable_on_db_errors
    def misses_after(self, last_id: int, closed_from: int) -> list[MissRow]:
        """Misses recorded after the one with id ``last_id`` (ids only grow)
        for deadlines closed at or after ``closed_from``: a miss never
        changes, so a watcher reads each once."""
        q = (
            select(MissRow)
            .where(col(MissRow.id) > last_id, col(MissRow.close_epoch) >= closed_from)
            .order_by(col(MissRow.id))
        )
        with self.db.transaction() as s:
            return list(s.exec(q).all())

    @unavailable_on_db_errors
    def troubled_messages(self, period_from: int) -> list[MessageRow]:
        """Messages pending or failed on chain, of proving periods starting
        at or after ``period_from``."""
        q = select(MessageRow).where(
            col(MessageRow.state).in_([MessageState.PENDING.value, MessageState.FAILED.value]),
            col(MessageRow.period_start) >= period_from,
        )
        with self.db.transaction() as s:
            return list(s.exec(q.order_by(col(MessageRow.id))).all())

    @unavailable_on_db_errors
    def senders(self, period_from: int) -> set[str]:
        """Addresses that sent messages for periods starting at or after
        ``period_from``."""
        q = (
            select(MessageRow.sender)
            .where(col(MessageRow.period_start) >= period_from, MessageRow.sender != "")
            .distinct()
        )
        with self.db.transaction() as s:
            return set(s.exec(q).all())


def _sent_columns(sent: Sent | None) -> dict:
    if sent is None:
        return {}
    return {
        "sender": sent.sender,
        "nonce": sent.nonce,
        "params": sent.params,
        "gas_limit": sent.gas_limit,
        "gas_fee_cap": str(sent.gas_fee_cap),
        "gas_premium": str(sent.gas_premium),
    }
