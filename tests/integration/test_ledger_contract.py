"""The ledger's contract (messages and misses), on SQLite and PostgreSQL
alike: states and kinds are the store's enums, a message settles once from
pending, a miss is recorded once per partition."""

from __future__ import annotations

import pytest

from prover.store import MessageKind, MessageState, Miss, Sent, TransitionRefused
from prover.store.ledger import sent_of


def push(ledger, partitions=(0, 1), *, kind=MessageKind.POST, deadline=3, cid="bafy-1", **kw):
    return ledger.record_push(
        kind=kind,
        miner=kw.pop("miner", 1000),
        period_start=kw.pop("period_start", 0),
        deadline=deadline,
        partitions=list(partitions),
        cid=cid,
        pushed_epoch=kw.pop("pushed_epoch", 190),
        job_ids=kw.pop("job_ids", [11, 12]),
        sent=kw.pop("sent", None),
    )


def test_a_pushed_message_is_pending_with_what_it_carries(ledger, clock):
    row = push(ledger, [2, 0])
    (stored,) = ledger.deadline_messages(1000, 0, 3)
    assert stored.id == row.id and stored.state == MessageState.PENDING
    assert stored.kind == MessageKind.POST and stored.partitions == [0, 2]
    assert stored.job_ids == [11, 12] and stored.pushed_epoch == 190
    assert stored.created_at == clock.now
    assert [m.id for m in ledger.pending_messages()] == [row.id]


@pytest.mark.parametrize(
    ("exit_code", "state"), [(0, MessageState.LANDED), (16, MessageState.FAILED)]
)
def test_an_executed_message_lands_or_fails_by_its_exit_code(ledger, exit_code, state):
    row = push(ledger)
    assert ledger.executed(row.id, exit_code=exit_code, epoch=195) == state
    (stored,) = ledger.deadline_messages(1000, 0, 3)
    assert (stored.state, stored.exit_code, stored.landed_epoch) == (state, exit_code, 195)
    assert ledger.pending_messages() == []


def test_a_dropped_message_keeps_the_reason(ledger):
    row = push(ledger)
    ledger.dropped(row.id, "not on chain 6 epochs after it was pushed")
    (stored,) = ledger.deadline_messages(1000, 0, 3)
    assert stored.state == MessageState.DROPPED and "6 epochs" in stored.error
    assert stored.landed_epoch is None


def test_a_message_settles_once(ledger):
    row = push(ledger)
    ledger.executed(row.id, exit_code=0, epoch=195)
    with pytest.raises(TransitionRefused, match="landed, not pending"):
        ledger.dropped(row.id, "late")
    with pytest.raises(TransitionRefused, match="landed, not pending"):
        ledger.executed(row.id, exit_code=16, epoch=196)
    (stored,) = ledger.deadline_messages(1000, 0, 3)
    assert (stored.state, stored.exit_code) == (MessageState.LANDED, 0)
    with pytest.raises(TransitionRefused, match="unknown message"):
        ledger.executed(row.id + 100, exit_code=0, epoch=1)


FEE = 5 * 10**18 // 50_000_000 * 10**3  # an amount past 64 bits once multiplied out


def test_a_message_records_how_it_was_sent_and_its_replacements_by_fee(ledger):
    first = Sent("t3key", 7, b"params", 50_000_000, FEE, 100)
    row = push(ledger, sent=first)
    assert sent_of(ledger.deadline_messages(1000, 0, 3)[0]) == first
    second = Sent("t3key", 7, b"params", 50_000_000, FEE * 2, 125)
    ledger.record_replacement(row.id, cid="bafy-2", sent=second, pushed_epoch=193)
    third = Sent("t3key", 7, b"params", 50_000_000, FEE * 2, 157)
    ledger.record_replacement(row.id, cid="bafy-3", sent=third, pushed_epoch=196)
    (stored,) = ledger.deadline_messages(1000, 0, 3)
    assert stored.cid == "bafy-3" and stored.replaced_cids == ["bafy-1", "bafy-2"]
    assert sent_of(stored) == third and stored.pushed_epoch == 196
    assert int(stored.gas_fee_cap) == FEE * 2  # exact, as text
    ledger.executed(row.id, exit_code=0, epoch=197, gas_used=41_000_000)
    (stored,) = ledger.deadline_messages(1000, 0, 3)
    assert stored.gas_used == 41_000_000 and stored.state == MessageState.LANDED
    with pytest.raises(TransitionRefused, match="not pending"):
        ledger.record_replacement(row.id, cid="bafy-4", sent=third, pushed_epoch=198)


def test_a_replacement_must_keep_the_sender_and_nonce(ledger):
    row = push(ledger, sent=Sent("t3key", 7, b"", 1, 1, 1))
    with pytest.raises(TransitionRefused, match="not replaced by nonce 8"):
        ledger.record_replacement(
            row.id, cid="bafy-2", sent=Sent("t3key", 8, b"", 1, 2, 2), pushed_epoch=1
        )
    assert ledger.deadline_messages(1000, 0, 3)[0].cid == "bafy-1"


def test_deadline_messages_are_per_deadline_in_push_order_and_by_kind(ledger):
    first = push(ledger, [0], cid="bafy-a")
    push(ledger, [0], deadline=4, cid="bafy-other-deadline")
    push(ledger, [0], period_start=2880, cid="bafy-other-period")
    recovery = push(ledger, [1], kind=MessageKind.RECOVERY, cid="bafy-r", job_ids=[])
    second = push(ledger, [1], cid="bafy-b")
    assert [m.cid for m in ledger.deadline_messages(1000, 0, 3)] == ["bafy-a", "bafy-r", "bafy-b"]
    posts = ledger.deadline_messages(1000, 0, 3, MessageKind.POST)
    assert [m.id for m in posts] == [first.id, second.id]
    (rec,) = ledger.deadline_messages(1000, 0, 3, MessageKind.RECOVERY)
    assert rec.id == recovery.id and rec.job_ids == []


def test_an_unknown_kind_is_refused_before_anything_is_written(ledger):
    with pytest.raises(ValueError, match="'prove'"):
        push(ledger, kind="prove")
    assert ledger.pending_messages() == []


def miss(partition=0, *, deadline=3, reason="before any worker claimed the job", **kw):
    return Miss(
        miner=kw.get("miner", 1000),
        period_start=kw.get("period_start", 0),
        deadline=deadline,
        partition=partition,
        close_epoch=240,
        sectors=kw.get("sectors", [4, 3]),
        reason=reason,
    )


def test_a_miss_is_recorded_once_per_partition(ledger, clock):
    assert ledger.record_miss(miss(0)) is True
    assert ledger.record_miss(miss(0, reason="a later, different story")) is False
    (row,) = ledger.list_misses()
    assert (row.partition, row.sectors, row.close_epoch) == (0, [3, 4], 240)
    assert row.reason == "before any worker claimed the job" and row.recorded_at == clock.now


def test_misses_list_newest_first_with_filters_and_a_limit(ledger):
    ledger.record_miss(miss(0))
    ledger.record_miss(miss(1))
    ledger.record_miss(miss(0, deadline=4))
    ledger.record_miss(miss(0, miner=2000))
    ledger.record_miss(miss(0, period_start=2880))
    assert [(m.miner, m.deadline, m.partition) for m in ledger.list_misses(limit=3)] == [
        (1000, 3, 0),
        (2000, 3, 0),
        (1000, 4, 0),
    ]
    assert len(ledger.list_misses(1000)) == 4
    assert [m.partition for m in ledger.list_misses(1000, period_start=0, deadline=3)] == [1, 0]
