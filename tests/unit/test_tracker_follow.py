"""Following pushed messages: what the tracker tells the ledger for each
pending message, given what the node answers."""

from __future__ import annotations

from datetime import UTC, datetime

from prover.chain.lotus import LotusError, MsgLookup, TipSet
from prover.chain.message import gas_charges
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
    def __init__(self, found: dict[str, MsgLookup], tipsets: dict | None = None) -> None:
        self.found = found
        self.tipsets = tipsets or {}

    def state_search_msg(self, cid: str) -> MsgLookup | None:
        return self.found.get(cid)

    def chain_get_tipset(self, cids) -> TipSet:
        if tuple(cids) not in self.tipsets:
            raise LotusError("ChainGetTipSet", "blockstore: block not found")
        return self.tipsets[tuple(cids)]


class Ledger:
    """A test double that records the transitions asked of it."""

    def __init__(self, pending, refuse=()) -> None:
        self.pending, self.refuse, self.calls = pending, set(refuse), []

    def pending_messages(self):
        return list(self.pending)

    def executed(self, message_id, *, exit_code, epoch, gas_used=None, **fees):
        if message_id in self.refuse:
            raise TransitionRefused("settled elsewhere")
        self.calls.append(("executed", message_id, exit_code, epoch))
        self.fees = getattr(self, "fees", {}) | {message_id: fees}
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


def sent(m: MessageRow) -> MessageRow:
    m.sender, m.nonce, m.gas_limit = "t3worker", 4, 40_000_000
    m.gas_fee_cap, m.gas_premium = "2000", "150"
    return m


def test_a_landed_message_pays_the_base_fee_of_the_tipset_that_included_it():
    ledger = Ledger([sent(message(1, "landed")), message(2, "node-signed")])
    found = MsgLookup("landed", 0, 105, ("bafy-105",), gas_used=30_000_000)
    node = Node(
        {"landed": found, "node-signed": lookup("node-signed", 0)},
        {
            ("bafy-105",): TipSet(105, ("bafy-105",), ("bafy-104",), parent_base_fee=999),
            ("bafy-104",): TipSet(104, ("bafy-104",), ("bafy-103",), parent_base_fee=1200),
        },
    )
    follow(ledger, node, 107, 6, lambda *a: None)
    fee = gas_charges(30_000_000, 40_000_000, 1200, 2000, 150)
    assert ledger.fees[1] == {"base_fee": 1200, "fee_paid": fee.total}
    assert ledger.fees[2] == {"base_fee": None, "fee_paid": None}  # not ours to price


def test_a_node_that_cannot_say_the_tipset_leaves_the_fee_unknown_not_the_message():
    ledger = Ledger([sent(message(1, "landed"))])
    follow(ledger, Node({"landed": lookup("landed", 0)}), 107, 6, lambda *a: None)
    assert ledger.calls == [("executed", 1, 0, 105)]
    assert ledger.fees[1] == {"base_fee": None, "fee_paid": None}


def test_gas_charges_split_as_the_chain_splits_them():
    # 30M used of a 40M limit (1.33x): 40M - 33M = 7M over, burnt 10M x 7M / 30M
    fee = gas_charges(30_000_000, 40_000_000, 1200, 2000, 150)
    assert fee.base_fee_burn == 1200 * 30_000_000
    assert fee.over_estimation_burn == 1200 * (10_000_000 * 7_000_000 // 30_000_000)
    assert fee.miner_tip == 150 * 40_000_000
    assert fee.total == fee.base_fee_burn + fee.over_estimation_burn + fee.miner_tip
    # within 1.1x nothing is burnt for over-estimating
    assert gas_charges(100, 110, 10, 20, 1).over_estimation_burn == 0
    # the fee cap bounds base fee and tip: 1000 + 150 > 1100 leaves a tip of 100
    capped = gas_charges(100, 100, 1000, 1100, 150)
    assert (capped.base_fee_burn, capped.miner_tip) == (100_000, 100 * 100)
    # a base fee over the fee cap: charged at the fee cap, no tip
    spiked = gas_charges(100, 100, 5000, 1100, 150)
    assert (spiked.base_fee_burn, spiked.miner_tip) == (110_000, 0)
    # nothing used: the whole limit is burnt
    assert gas_charges(0, 500, 10, 20, 0).over_estimation_burn == 5000


def test_a_replacement_the_node_refused_leaves_the_message_it_replaced_to_land():
    m = message(1, "replacement-never-pushed")
    m.replaced_cids = ["first", "second"]
    ledger = Ledger([m])
    follow(ledger, Node({"second": lookup("second", 0)}), 106, 10, lambda *a: None)
    assert ledger.calls == [("executed", 1, 0, 105)]
