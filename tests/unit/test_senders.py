"""Choosing who sends a miner's messages and what they may cost."""

from __future__ import annotations

import pytest

from prover.chain.lotus import LotusError, MinerInfo
from prover.chain.message import ATTO_PER_FIL, Message, SignedMessage
from prover.config import ChainConfig
from prover.store import MessageKind, Sent
from prover.tracker.senders import (
    CannotReplace,
    NoSender,
    Sender,
    candidates,
    fil,
    replacement,
)

INFO = MinerInfo(
    owner="t0101",
    worker="t0102",
    sector_size=2048,
    window_post_proof_type=10,
    window_post_partition_sectors=2,
    control_addresses=("t0103", "t0104"),
)


def config(**kw) -> ChainConfig:
    return ChainConfig(api="x", network="t", miners=[1000], **kw)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, ["t0103", "t0104", "t0102", "t0101"]),
        ({"use_control_addresses": False}, ["t0102", "t0101"]),
        ({"use_worker": False, "use_owner": False}, ["t0103", "t0104"]),
        ({"senders": ["t3abc", "t0102"]}, ["t3abc", "t0102"]),
    ],
)
def test_candidates_follow_lotus_order_and_the_flags(settings, expected):
    assert candidates(config(**settings), INFO) == expected


def test_an_address_listed_twice_is_tried_once():
    info = MinerInfo("t0102", "t0102", 2048, 10, 2, ("t0102",))
    assert candidates(config(), info) == ["t0102"]


def test_fees_are_parsed_with_units_and_shown_in_fil():
    c = config(max_window_post_gas_fee="0.25 FIL", max_recovery_gas_fee=3 * ATTO_PER_FIL)
    assert c.max_window_post_gas_fee == ATTO_PER_FIL // 4
    assert config().max_window_post_gas_fee == 5 * ATTO_PER_FIL  # Lotus' default
    assert fil(ATTO_PER_FIL // 4) == "0.25 FIL" and fil(5 * ATTO_PER_FIL) == "5 FIL"
    with pytest.raises(ValueError, match="unknown unit"):
        config(max_window_post_gas_fee="5 BTC")
    with pytest.raises(ValueError, match="sender was replaced by senders"):
        ChainConfig(sender="t0100")


OLD = Sent("t3key", 7, b"params", gas_limit=50_000_000, gas_fee_cap=200, gas_premium=100)


def test_a_replacement_raises_the_premium_by_a_quarter_and_the_fee_cap_to_the_maximum():
    estimate = Message("t01000", "t3key", 5, gas_limit=40_000_000, gas_premium=90)
    new = replacement(OLD, estimate, ATTO_PER_FIL)
    assert new.nonce == 7 and new.sender == "t3key" and new.params == b"params"
    assert new.gas_premium == 125  # 100 x 1.25
    assert new.gas_limit == 50_000_000  # never below the old limit
    assert new.gas_fee_cap == ATTO_PER_FIL // 50_000_000
    assert new.gas_limit * new.gas_fee_cap <= ATTO_PER_FIL
    busy = replacement(OLD, Message("t01000", "t3key", 5, gas_premium=500), ATTO_PER_FIL)
    assert busy.gas_premium == 500  # the node's estimate when it is higher


def test_a_replacement_that_does_not_fit_under_the_maximum_fee_is_refused():
    tight = Sent("t3key", 7, b"", gas_limit=50_000_000, gas_fee_cap=120, gas_premium=100)
    with pytest.raises(CannotReplace, match="does not fit under the maximum fee"):
        replacement(tight, Message("t01000", "t3key", 5), 50_000_000 * 110)


class Node:
    """A test double of the Lotus client: keys, balances, an estimate."""

    def __init__(self, held: set[str], balances: dict[str, int]) -> None:
        self.held, self.balances, self.pushed = held, balances, []

    def address(self, miner: int) -> str:
        return f"t0{miner}"

    def state_miner_info(self, miner: int) -> MinerInfo:
        return INFO

    def state_account_key(self, address: str) -> str:
        if address == "t0109":
            raise LotusError("StateAccountKey", "actor not found")
        return "t3" + address[1:]

    def wallet_has(self, key: str) -> bool:
        return key in self.held

    def wallet_balance(self, key: str) -> int:
        return self.balances.get(key, 0)

    def gas_estimate_message_gas(self, msg: Message, max_fee: int | None) -> Message:
        return msg.with_gas(limit=50_000_000, fee_cap=1_000, premium=100)

    def mpool_get_nonce(self, key: str) -> int:
        return 3

    def wallet_sign_message(self, key: str, msg: Message) -> SignedMessage:
        return SignedMessage(msg, 2, b"sig")

    def mpool_push(self, signed: SignedMessage) -> str:
        self.pushed.append(signed.message)
        return "bafy-pushed"


def test_the_first_held_sender_that_can_pay_sends_with_the_fee_cap_maximized():
    # control address 1: not in the wallet; 2: too poor; worker: pays
    node = Node({"t30104", "t30102"}, {"t30104": 10, "t30102": 10 * ATTO_PER_FIL})
    pushed = Sender(node, config()).send(1000, MessageKind.POST, 5, b"p")
    (msg,) = node.pushed
    assert msg.sender == "t30102" and msg.nonce == 3 and pushed.cid == "bafy-pushed"
    assert msg.gas_fee_cap == 5 * ATTO_PER_FIL // 50_000_000  # MaximizeWindowPoStFeeCap
    assert pushed.sent == Sent("t30102", 3, b"p", 50_000_000, msg.gas_fee_cap, 100)


def test_recoveries_keep_the_estimated_fee_cap_and_their_own_maximum():
    node = Node({"t30103"}, {"t30103": ATTO_PER_FIL})
    Sender(node, config()).send(1000, MessageKind.RECOVERY, 11, b"r")
    (msg,) = node.pushed
    assert msg.gas_fee_cap == 1_000


def test_no_usable_sender_names_every_address_and_why():
    node = Node({"t30104"}, {"t30104": 10})
    with pytest.raises(NoSender) as info:
        Sender(node, config(senders=["t0103", "t0104", "t0109"])).send(
            1000, MessageKind.POST, 5, b"p"
        )
    text = str(info.value)
    assert "no usable sender for miner 1000" in text
    assert "t0103: key not in the node's wallet" in text
    assert "t0104: balance 0.00000000000000001 FIL below the message's maximum fee 5 FIL" in text
    assert "t0109: StateAccountKey: actor not found" in text
    assert node.pushed == []
