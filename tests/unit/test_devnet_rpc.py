"""The devnet's Lotus method table, called through the Lotus client over
loopback HTTP, for what needs no proof: heads, messages and their lookup,
the miner's state, and refusals in the node's error shape."""

from __future__ import annotations

import json

import pytest

from prover.chain.deadlines import Policy
from prover.chain.encoding import METHOD_DECLARE_FAULTS_RECOVERED, encode_declare_faults_recovered
from prover.chain.lotus import LotusClient, LotusError
from prover.devnet import Devnet, DevnetMiner, DevnetServer, devnet_paths

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
    ("params", "reason", "exit_code"),
    [
        # what does not deserialize fails in the actor's dispatch: 21
        (b"\x81", "not CBOR", 21),  # truncated
        (bytes.fromhex("8181820200"), "triples", 21),  # a pair, not a triple
        # what deserializes but is wrong is the method's illegal argument: 16
        (encode_declare_faults_recovered([(2, 0, {7})]), "no such sectors", 16),
    ],
)
def test_bad_params_land_refused_with_an_exit_code_not_a_dead_node(node, params, reason, exit_code):
    net, clock, client = node
    cid = client.mpool_push_message(f"t0{MINER}", "t0100", METHOD_DECLARE_FAULTS_RECOVERED, params)
    clock.now += 1
    assert client.state_search_msg(cid).exit_code == exit_code
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


def test_a_saved_devnet_goes_on_from_its_genesis_with_its_nonces_balances_and_faults(
    node, tmp_path
):
    net, clock, client = node
    net.state_path = tmp_path / "chain.json"
    clock.now += 5.5
    declare = encode_declare_faults_recovered([(2, 0, {1})])
    first = client.mpool_push_message(
        f"t0{MINER}", "t0100", METHOD_DECLARE_FAULTS_RECOVERED, declare
    )
    clock.now += 1
    net.miners[MINER].proven[(0, 3)] = {0}  # as a landed proof leaves it
    clock.now += 30  # deadline 2 (epochs 20-29) closes unproven: a miss, sectors faulty
    net.settle()
    balance, nonce = net.mpool.account("t0100").balance, net.mpool.account("t0100").nonce
    assert (nonce, net.miners[MINER].faulty) == (1, {1, 2})
    epoch = net.epoch()

    clock.now += 600  # the node is down for 600 epochs: deadline 2 closes again unproven
    again = Devnet.from_json(net.to_json(), clock=clock)  # a new chain from now ...
    assert again.epoch() == 0
    again.load_state(json.loads(net.state_path.read_text()))  # ... or the saved one
    assert again.genesis == net.genesis and again.epoch() == epoch + 600
    assert again.mpool.account("t0100").balance == balance < 1000 * 10**18
    assert again.mpool.next_nonce("t0100") == 1
    m = again.miners[MINER]
    assert (m.proven, m.faulty) == ({(0, 3): {0}}, {1, 2})
    assert [(x["deadline"], x["close"]) for x in m.misses] == [(2, 30)]
    assert again.lookup(first, False).exit_code == 0  # its messages are still on chain
    server = DevnetServer(again).start()
    other = LotusClient(server.url, network="t", epoch_seconds=1.0)
    try:
        second = other.mpool_push_message(
            f"t0{MINER}", "t0100", METHOD_DECLARE_FAULTS_RECOVERED, declare
        )
        # included with the next nonce, never a reused one
        assert second != first and again.mpool.account("t0100").nonce == 2
    finally:
        other.close()
        server.stop()


def test_load_devnet_records_the_genesis_once_and_init_starts_a_new_chain(node, tmp_path):
    from prover.devnet.home import STATE_FILE, load_devnet

    net, _, _ = node
    config, _ = devnet_paths(tmp_path)
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps(net.to_json()))
    first = load_devnet(tmp_path)
    assert (config.parent / STATE_FILE).is_file()
    first.mpool.account("t0100").nonce = 7
    first.save()
    second = load_devnet(tmp_path)
    assert second.genesis == first.genesis != net.genesis
    assert second.mpool.next_nonce("t0100") == 7


def test_partitions_at_an_older_tipset_have_the_faults_as_they_stood_then(node):
    """Lotus answers StateMinerPartitions from the tipset asked for: a
    manager back after a gap reads a deadline's partitions as they were
    when it opened, not as its miss left them."""
    net, clock, client = node
    clock.now += 25.5  # deadline 2 (epochs 20..29 under this policy) open, unproven
    opened = client.chain_get_tipset_by_height(21)
    clock.now += 10
    (now,) = client.state_miner_partitions(MINER, 2)
    assert now.faulty == {1, 2} and now.to_prove == frozenset()
    (then,) = client.state_miner_partitions(MINER, 2, opened)
    assert then.faulty == frozenset() and then.to_prove == {1, 2}
    assert net.miners[MINER].misses[0]["deadline"] == 2


def test_deadlines_closed_in_walks_the_miners_deadlines_across_periods():
    from prover.chain.deadlines import current_deadline
    from prover.tracker.unplanned import deadlines_closed_in

    policy = Policy.devnet(challenge_window=6, challenge_lookback=2, fault_declaration_cutoff=3)
    head = current_deadline(7, 100, policy)
    closed = deadlines_closed_in(head, 40, 40 + policy.proving_period + 12)
    closes = [d.close for d in closed]
    assert closes == list(range(closes[0], closes[0] + 6 * len(closes), 6))
    assert 40 < closes[0] <= 46 and len(closed) == policy.period_deadlines + 2
    assert (closed[0].period_start + closed[0].index * 6 + 6) == closes[0]
    assert deadlines_closed_in(head, 40, 40) == []
