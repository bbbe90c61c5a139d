"""The devnet's Lotus method table, called through the Lotus client over
loopback HTTP, for what needs no proof: heads, messages and their lookup,
the miner's state, and refusals in the node's error shape."""

from __future__ import annotations

import pytest

from prover.chain.deadlines import Policy
from prover.chain.encoding import METHOD_DECLARE_FAULTS_RECOVERED, encode_declare_faults_recovered
from prover.chain.lotus import LotusClient, LotusError
from prover.devnet import Devnet, DevnetMiner, DevnetServer

MINER = 1000


class Seconds:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def node():
    clock = Seconds()
    miner = DevnetMiner(MINER, 10, 0, {2: [[1, 2]]}, {1: bytes(32), 2: bytes([1]) * 32})
    net = Devnet([miner], Policy.devnet(), clock=clock, genesis=clock.now)
    server = DevnetServer(net).start()
    client = LotusClient(server.url, network="t", epoch_seconds=1.0)
    yield net, clock, client
    client.close()
    server.stop()


def test_a_pushed_message_is_found_once_its_epoch_has_come(node):
    _, clock, client = node
    clock.now += 5.5
    good = encode_declare_faults_recovered([(2, 0, {1})])
    cid = client.mpool_push_message(f"t0{MINER}", "t0100", METHOD_DECLARE_FAULTS_RECOVERED, good)
    assert client.state_search_msg(cid) is None  # included at the next epoch
    clock.now += 1
    found = client.state_search_msg(cid)
    assert (found.message, found.height, found.exit_code) == (cid, 6, 0)
    assert client.state_search_msg("bafy2devnetmsg-unknown") is None


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (b"\x81", "not CBOR"),  # truncated
        (bytes.fromhex("8181820200"), "triples"),  # a pair, not a triple
        (encode_declare_faults_recovered([(2, 0, {7})]), "no such sectors"),
    ],
)
def test_bad_params_land_refused_with_an_exit_code_not_a_dead_node(node, params, reason):
    net, clock, client = node
    cid = client.mpool_push_message(f"t0{MINER}", "t0100", METHOD_DECLARE_FAULTS_RECOVERED, params)
    clock.now += 1
    assert client.state_search_msg(cid).exit_code == 16
    assert reason in net.messages[cid].reason
    assert client.chain_head().height == 1  # the node still answers


def test_heads_and_the_miners_state(node):
    _, clock, client = node
    clock.now += 3.5
    assert client.chain_head().height == 3
    info = client.state_miner_info(MINER)
    assert (info.window_post_proof_type, info.sector_size) == (10, 2048)
    (part,) = client.state_miner_partitions(MINER, 2)
    assert part.to_prove == {1, 2}
    assert [s.number for s in client.state_miner_sectors(MINER, {2})] == [2]


def test_an_unknown_actor_or_method_is_an_rpc_error(node):
    _, _, client = node
    with pytest.raises(LotusError, match="actor t09999 not found"):
        client.state_miner_info(9999)
    with pytest.raises(LotusError, match="not supported by the devnet"):
        client.call("StateMinerFaults", f"t0{MINER}", [])


def test_a_snap_upgraded_sector_has_its_sector_key_and_keeps_it_across_a_restart(node):
    net, _, client = node
    net.miners[MINER].sector_keys[2] = bytes([2]) * 32  # sector 2 was upgraded
    plain, upgraded = client.state_miner_sectors(MINER)
    assert (plain.number, plain.upgraded) == (1, False)
    assert (upgraded.number, upgraded.upgraded, upgraded.comm_r) == (2, True, bytes([1]) * 32)
    raw = client.call("StateMinerSectors", f"t0{MINER}", None, [])
    assert raw[0]["SectorKeyCID"] is None
    assert raw[1]["SectorKeyCID"]["/"].startswith("bagboea4b5abc")  # a sealed-sector CID
    again = Devnet.from_json(net.to_json())
    assert again.miners[MINER].sector_keys == {2: bytes([2]) * 32}


def test_a_recovery_over_the_actors_limits_is_refused(node):
    net, clock, client = node
    net.miners[MINER].deadlines[3] = [list(range(100, 25_101))]  # 25,001 sectors
    too_many = encode_declare_faults_recovered([(3, 0, set(range(100, 25_101)))])
    cid = client.mpool_push_message(
        f"t0{MINER}", "t0100", METHOD_DECLARE_FAULTS_RECOVERED, too_many
    )
    clock.now += 1
    assert client.state_search_msg(cid).exit_code == 16
    assert "too many sectors" in net.messages[cid].reason
