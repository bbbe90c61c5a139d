"""Disputes on the devnet with real proofs, through the Lotus client: an
invalid PoSt the actor took optimistically is disputed by another account
(its sectors faulty, the penalty recorded, the disputer paid); a valid one
cannot be disputed (16, and it stays disputable); a PoSt that recovers
sectors is verified at once, so an invalid one is refused and a valid one
is not kept for dispute."""

from __future__ import annotations

import json

import pytest

from chain_fixtures import Seconds
from prover.chain.deadlines import Policy
from prover.chain.encoding import (
    METHOD_DISPUTE_WINDOWED_POST,
    encode_dispute_windowed_post,
    encode_submit_windowed_post,
    id_address_cbor,
)
from prover.chain.lotus import TAG_POST_CHAIN_COMMIT, TAG_WINDOWED_POST_CHALLENGE_SEED, LotusClient
from prover.chain.message import ATTO_PER_FIL
from prover.devnet import Devnet, DevnetMiner, DevnetServer
from prover.devnet.disputes import DISPUTE_BASE_PENALTY, DISPUTE_REWARD
from prover.devnet.mpool import Account, Mpool, key_address_for
from prover.proofs import (
    PoStProofType,
    create_test_sectors,
    ensure_test_params,
    mask_randomness,
    prove_partition,
    prover_id,
)

MINER = 1000
KIB2 = PoStProofType.WINDOW_2KIB
WORKER = "t0100"
DISPUTER = "t0200"


@pytest.fixture
def chain(tmp_path):
    ensure_test_params(KIB2)
    replicas = {r.sector_id: r for r in create_test_sectors(tmp_path, MINER, range(1, 5), KIB2)}
    miner = DevnetMiner(
        MINER,
        KIB2.chain_id,
        0,
        {0: [[1, 2]], 1: [[3, 4]]},
        {n: r.comm_r for n, r in replicas.items()},
    )
    mpool = Mpool(
        [
            Account(WORKER, key_address_for(WORKER), 100 * ATTO_PER_FIL),
            Account(DISPUTER, key_address_for(DISPUTER), 10 * ATTO_PER_FIL),
        ]
    )
    clock = Seconds()
    net = Devnet([miner], Policy.devnet(), clock=clock, mpool=mpool)
    server = DevnetServer(net, token="t").start()
    client = LotusClient(server.url, "t", network="t", epoch_seconds=1.0)
    yield net, client, clock, replicas
    client.close()
    server.stop()


def submit(client, replicas, *, bad: bool = False) -> str:
    """Partition 0 of the open deadline, proven for real (or a proof of the
    right length that proves nothing)."""
    dl = client.state_miner_proving_deadline(MINER).info
    (part,) = client.state_miner_partitions(MINER, dl.index)
    seed = client.randomness_from_beacon(
        TAG_WINDOWED_POST_CHALLENGE_SEED, dl.challenge, id_address_cbor(MINER)
    )
    proof = bytes(192)
    if not bad:
        sectors = [replicas[n] for n in sorted(part.to_prove)]
        proof = prove_partition(KIB2, mask_randomness(seed), prover_id(MINER), sectors, 0).proof
    params = encode_submit_windowed_post(
        dl.index,
        [(0, set())],
        KIB2.chain_id,
        proof,
        dl.challenge,
        client.randomness_from_tickets(TAG_POST_CHAIN_COMMIT, dl.challenge),
    )
    return client.mpool_push_message(client.address(MINER), WORKER, 5, params)


def dispute(client, deadline: int, index: int = 0) -> str:
    return client.mpool_push_message(
        client.address(MINER),
        DISPUTER,
        METHOD_DISPUTE_WINDOWED_POST,
        encode_dispute_windowed_post(deadline, index),
    )


def outcome(net, client, clock, cid) -> tuple[int, str]:
    clock.to_epoch(net.genesis, net.epoch() + 1)
    found = client.state_search_msg(cid)
    return found.exit_code, net.messages[cid].reason


def test_an_invalid_post_is_disputed_and_a_valid_one_cannot_be(chain):
    net, client, clock, replicas = chain
    m = net.miners[MINER]
    clock.to_epoch(net.genesis, 5)  # deadline 0 (0..9) open
    bad = submit(client, replicas, bad=True)
    assert outcome(net, client, clock, bad) == (0, "accepted optimistically")
    clock.to_epoch(net.genesis, 15)  # deadline 1 (10..19) open
    good = submit(client, replicas)
    assert outcome(net, client, clock, good) == (0, "accepted optimistically")

    balance = net.mpool.account(DISPUTER).balance
    cid = dispute(client, 0)
    code, reason = outcome(net, client, clock, cid)
    assert code == 0 and reason.endswith("was invalid: partitions [0] faulty")
    assert client.state_miner_partitions(MINER, 0)[0].faulty == {1, 2}
    (record,) = client.call("DevnetStatus")["miners"][0]["disputes"]
    assert record == {
        "period_start": 0,
        "deadline": 0,
        "post_index": 0,
        "partitions": [0],
        "sectors": [1, 2],
        "post_cid": bad,
        "cid": cid,
        "disputer": DISPUTER,
        "epoch": 16,
        "penalty": str(DISPUTE_BASE_PENALTY + DISPUTE_REWARD),
        "reward": str(DISPUTE_REWARD),
    }
    paid = net.messages[cid].fee
    assert net.mpool.account(DISPUTER).balance == balance + DISPUTE_REWARD - paid
    # taken: it cannot be disputed twice
    assert outcome(net, client, clock, dispute(client, 0)) == (16, "proof 0 not found")

    clock.to_epoch(net.genesis, 21)  # deadline 1 closed at 20
    refused = dispute(client, 1)
    assert outcome(net, client, clock, refused) == (16, "failed to dispute valid post")
    assert client.state_miner_partitions(MINER, 1)[0].faulty == set()
    # the refusal rolled back: still there to dispute (and refused again)
    assert outcome(net, client, clock, dispute(client, 1)) == (16, "failed to dispute valid post")
    assert len(m.disputes) == 1

    # a restarted chain still has the valid PoSt to dispute, and the record
    again = Devnet.from_json(net.to_json(), clock=clock, restart=False)
    again.load_state(json.loads(json.dumps(net.state_json())))
    assert again.miners[MINER].optimistic == m.optimistic
    assert again.miners[MINER].disputes == m.disputes


def test_a_post_that_recovers_sectors_is_verified_at_once(chain):
    net, client, clock, replicas = chain
    m = net.miners[MINER]
    m.faulty, m.recovering = {3, 4}, {3, 4}  # declared recovered
    clock.to_epoch(net.genesis, 15)  # deadline 1 open
    bad = submit(client, replicas, bad=True)
    assert outcome(net, client, clock, bad) == (16, "invalid post was submitted")
    assert m.recovering == {3, 4}
    good = submit(client, replicas)
    assert outcome(net, client, clock, good) == (0, "proven")
    assert not m.faulty & {3, 4} and m.recovering == set()
    assert (0, 1) not in m.optimistic  # verified: nothing to dispute
    clock.to_epoch(net.genesis, 21)
    assert outcome(net, client, clock, dispute(client, 1)) == (16, "proof 0 not found")
