"""Following pushed messages: what the tracker tells the ledger for each
pending message, given what the node answers."""

from __future__ import annotations

from datetime import UTC, datetime

from prover.chain.lotus import MsgLookup
from prover.store import MessageKind, MessageState, TransitionRefused
from prover.store.models import MessageRow
from prover.tracker.follow import follow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def message(id_, cid, *, kind=MessageKind.POST, pushed_epoch=100) -> MessageRow:
    return MessageRow(
        id=id_,
        kind=kind,
        miner=1000,
        period_start=0,
        deadline=3,
        partitions=[0],
        job_ids=[],
        cid=cid,
        state=MessageState.PENDING,
        pushed_epoch=pushed_epoch,
        created_at=T0,
        updated_at=T0,
    )


class Node:
    def __init__(self, found: dict[str, MsgLookup]) -> None:
        self.found = found

    def state_search_msg(self, cid: str) -> MsgLookup | None:
        return self.found.get(cid)


class Ledger:
    """A test double that records the transitions asked of it."""

    def __init__(self, pending, refuse=()) -> None:
        self.pending, self.refuse, self.calls = pending, set(refuse), []

    def pending_messages(self):
        return list(self.pending)

    def executed(self, message_id, *, exit_code, epoch, gas_used=None):
        if message_id in self.refuse:
            raise TransitionRefused("settled elsewhere")
        self.calls.append(("executed", message_id, exit_code, epoch))
        return MessageState.LANDED if exit_code == 0 else MessageState.FAILED

    def dropped(self, message_id, reason):
        if message_id in self.refuse:
            raise TransitionRefused("settled elsewhere")
        self.calls.append(("dropped", message_id, reason))


def lookup(cid, exit_code, height=105):
    return MsgLookup(cid, exit_code, height, ("bafy-ts",))


def test_found_messages_settle_by_exit_code_and_old_missing_ones_are_dropped():
    ledger = Ledger(
        [
            message(1, "landed"),
            message(2, "refused"),
            message(3, "gone", kind=MessageKind.RECOVERY, pushed_epoch=100),
            message(4, "recent", pushed_epoch=105),
        ]
    )
    node = Node({"landed": lookup("landed", 0), "refused": lookup("refused", 16)})
    dropped = []
    follow(ledger, node, 107, 6, lambda *args: dropped.append(args))
    assert ledger.calls == [
        ("executed", 1, 0, 105),
        ("executed", 2, 16, 105),
        ("dropped", 3, "not on chain 6 epochs after it was pushed"),
    ]
    assert dropped == [(MessageKind.RECOVERY, 1000, 0, 3)]


def test_without_a_known_epoch_nothing_is_dropped():
    ledger = Ledger([message(1, "gone", pushed_epoch=0)])
    follow(ledger, Node({}), None, 6, lambda *a: None)
    assert ledger.calls == []


def test_a_message_another_manager_settled_is_passed_over():
    ledger = Ledger([message(1, "a"), message(2, "b")], refuse={1})
    follow(ledger, Node({"a": lookup("a", 0), "b": lookup("b", 0)}), 107, 6, lambda *a: None)
    assert ledger.calls == [("executed", 2, 0, 105)]


def test_a_stuck_message_is_offered_for_replacement_before_it_is_given_up():
    ledger = Ledger(
        [
            message(1, "young", pushed_epoch=105),  # 2 epochs: left alone
            message(2, "stuck", pushed_epoch=103),  # 4 > 3: replaced
            message(3, "hopeless", pushed_epoch=100),  # 7: not replaceable, dropped
        ]
    )
    offered = []

    def replace(m, epoch):
        offered.append((m.id, epoch))
        return m.id == 2

    dropped = []
    follow(
        ledger,
        Node({}),
        107,
        6,
        lambda *a: dropped.append(a),
        replace_after=3,
        replace=replace,
    )
    assert offered == [(2, 107), (3, 107)]
    assert ledger.calls == [("dropped", 3, "not on chain 6 epochs after it was pushed")]
    assert dropped == [(MessageKind.POST, 1000, 0, 3)]
