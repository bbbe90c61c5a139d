"""The miner actor's dispute rules as the devnet applies them, without a
proof: when a deadline's PoSts may be disputed
(``deadline_available_for_optimistic_post_dispute``), the
``DisputeWindowedPoSt`` parameters, a PoSt without recoveries accepted
optimistically (its SNARK is not verified), and the refusals that come
before any verification, with the actor's exit codes."""

from __future__ import annotations

import json

import cbor2
import pytest

from prover.chain.deadlines import MAINNET, Policy, deadline_info
from prover.chain.encoding import (
    METHOD_DISPUTE_WINDOWED_POST,
    METHOD_SUBMIT_WINDOWED_POST,
    WPOST_DISPUTE_WINDOW,
    DisputeWindowedPoStParams,
    ParamsNotDeserializable,
    decode_dispute_windowed_post,
    encode_dispute_windowed_post,
    encode_submit_windowed_post,
)
from prover.chain.lotus import TAG_POST_CHAIN_COMMIT, LotusClient
from prover.chain.message import ATTO_PER_FIL
from prover.devnet import Devnet, DevnetMiner, DevnetServer
from prover.devnet.disputes import dispute_available
from prover.devnet.mpool import Account, Mpool, key_address_for
from prover.devnet.posts import partitions_max

MINER = 1000
WORKER = "t0100"
DISPUTER = "t0200"
POLICY = Policy.devnet()  # 10-epoch deadlines, 48 a period: 480 epochs


def test_the_window_is_two_finalities_after_close_on_mainnet():
    assert METHOD_DISPUTE_WINDOWED_POST == 24 and WPOST_DISPUTE_WINDOW == 1800
    close = deadline_info(0, 3, 0, MAINNET).close  # 240
    assert not dispute_available(MAINNET, 0, 3, close - 1)  # still open
    assert dispute_available(MAINNET, 0, 3, close)
    assert dispute_available(MAINNET, 0, 3, close + 1799)
    assert not dispute_available(MAINNET, 0, 3, close + 1800)
    # deadline 40's last turn closed at 2460 - 2880 = -420: 520 epochs
    # before epoch 100 of this period
    assert dispute_available(MAINNET, 0, 40, 100)
    assert not dispute_available(MAINNET, 0, 40, 1400)  # 1820 epochs after
    assert not dispute_available(MAINNET, 2880, 3, 100)  # a period not begun


def test_on_a_short_period_the_window_ends_when_the_deadline_opens_again():
    # deadline 3 closes at 40 and opens again at 510
    assert dispute_available(POLICY, 0, 3, 40) and dispute_available(POLICY, 0, 3, 509)
    assert not dispute_available(POLICY, 0, 3, 510)
    assert not dispute_available(POLICY, 480, 3, 519)  # open: period 480's turn
    assert dispute_available(POLICY, 480, 3, 520)  # that turn closed


def test_dispute_params_are_two_unsigned_integers():
    raw = encode_dispute_windowed_post(7, 2)
    assert cbor2.loads(raw) == [7, 2]
    assert decode_dispute_windowed_post(raw) == DisputeWindowedPoStParams(7, 2)
    for bad in (b"\xff", cbor2.dumps([7]), cbor2.dumps([7, 2, 0]), cbor2.dumps({"d": 7})):
        with pytest.raises(ParamsNotDeserializable):
            decode_dispute_windowed_post(bad)
    for bad in ([-1, 0], [0, "1"], [True, 0], [0, 1 << 64]):
        with pytest.raises(ParamsNotDeserializable):
            decode_dispute_windowed_post(cbor2.dumps(bad))


class Seconds:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def to(self, net: Devnet, epoch: int) -> None:
        self.now = net.genesis + epoch + 0.5


@pytest.fixture
def node():
    clock = Seconds()
    miner = DevnetMiner(
        MINER, 10, 0, {0: [[1, 2]], 1: [[3]]}, {n: bytes([n]) * 32 for n in (1, 2, 3)}
    )
    mpool = Mpool(
        [
            Account(WORKER, key_address_for(WORKER), 100 * ATTO_PER_FIL),
            Account(DISPUTER, key_address_for(DISPUTER), 10 * ATTO_PER_FIL),
        ]
    )
    net = Devnet([miner], POLICY, clock=clock, genesis=clock.now, mpool=mpool)
    server = DevnetServer(net).start()
    client = LotusClient(server.url, network="t", epoch_seconds=1.0, retries=0)
    yield net, clock, client
    client.close()
    server.stop()


def post(client: LotusClient, net: Devnet, deadline: int, partitions, proof: bytes) -> str:
    challenge = deadline_info(0, deadline, net.epoch(), POLICY).challenge
    params = encode_submit_windowed_post(
        deadline,
        [(p, set()) for p in partitions],
        10,
        proof,
        challenge,
        client.randomness_from_tickets(TAG_POST_CHAIN_COMMIT, challenge),
    )
    return client.mpool_push_message(f"t0{MINER}", WORKER, METHOD_SUBMIT_WINDOWED_POST, params)


def dispute(client: LotusClient, params: bytes, sender: str = DISPUTER) -> str:
    return client.mpool_push_message(f"t0{MINER}", sender, METHOD_DISPUTE_WINDOWED_POST, params)


def outcome(net: Devnet, clock: Seconds, cid: str) -> tuple[int, str]:
    clock.to(net, net.epoch() + 1)
    msg = net.messages[cid]
    return msg.exit_code, msg.reason


def test_a_post_without_recoveries_is_accepted_unverified_and_kept_for_dispute(node):
    net, clock, client = node
    m = net.miners[MINER]
    clock.to(net, 5)  # deadline 0 open
    cid = post(client, net, 0, [0], b"\x07" * 192)  # no proof at all
    assert outcome(net, clock, cid) == (0, "accepted optimistically")
    assert m.proven[(0, 0)] == {0} and m.faulty == set()
    (kept,) = m.optimistic[(0, 0)]
    assert kept == {"partitions": [0], "sectors": [1, 2], "proof": b"\x07" * 192, "cid": cid}

    # while the deadline is open: forbidden (18)
    code, reason = outcome(net, clock, dispute(client, encode_dispute_windowed_post(0, 0)))
    assert code == 18 and reason.startswith("can only dispute window posts during the dispute")
    clock.to(net, 12)  # closed at 10
    # a deadline the period has not, an index with no PoSt, a deadline
    # without PoSts: refused before anything is verified
    assert outcome(net, clock, dispute(client, encode_dispute_windowed_post(48, 0))) == (
        16,
        "invalid deadline 48 of 48",
    )
    assert outcome(net, clock, dispute(client, encode_dispute_windowed_post(0, 1))) == (
        16,
        "proof 1 not found",
    )
    clock.to(net, 25)  # deadline 1 closed unproven
    assert outcome(net, clock, dispute(client, encode_dispute_windowed_post(1, 0))) == (
        16,
        "proof 0 not found",
    )
    # parameters that do not deserialize: 21, as the actor's dispatch fails
    code, reason = outcome(net, clock, dispute(client, cbor2.dumps([0])))
    assert code == 21 and "DisputeWindowedPoSt params must be an array of 2" in reason
    assert m.disputes == [] and m.faulty == {3}

    # kept across a restart of the chain, proof and all
    again = Devnet.from_json(net.to_json(), clock=clock, restart=False)
    again.load_state(json.loads(json.dumps(net.state_json())))
    assert again.miners[MINER].optimistic == m.optimistic

    # gone once the deadline closes again (490): its turn can no longer be disputed
    clock.to(net, 489)
    assert (0, 0) in m.optimistic
    clock.to(net, 491)
    net.settle()
    assert (0, 0) not in m.optimistic


def test_a_proof_longer_than_its_partitions_is_refused(node):
    net, clock, client = node
    clock.to(net, 5)
    cid = post(client, net, 0, [0], bytes(193))
    assert outcome(net, clock, cid) == (16, "expected proof to be smaller than 192 bytes")
    assert net.miners[MINER].optimistic == {}


def test_more_partitions_than_one_message_may_prove_are_refused(node):
    """The actor's PoStedPartitionsMax (3): a fourth partition in one
    message is refused before anything of it is read (what lotus-miner's
    batching never goes beyond)."""
    net, clock, client = node
    clock.to(net, 5)
    cid = post(client, net, 0, [0, 1, 2, 3], bytes(4 * 192))
    assert outcome(net, clock, cid) == (16, "too many partitions 4, limit 3")
    assert net.miners[MINER].optimistic == {} and partitions_max(10) == 3
