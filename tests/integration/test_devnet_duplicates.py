"""The devnet counts duplicate PoSts: a SubmitWindowedPoSt for a partition
already proven in its deadline is refused as the miner actor refuses it
(``Deadline::record_proven_sectors``: exit code 16, "partition already
proven: <bitfield>") and recorded per miner, persisted with the chain and
shown by ``prover devnet status``, so that tests of several managers can
assert there were none. Real proofs, through the Lotus client."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from chain_fixtures import Seconds
from prover.chain.deadlines import Policy
from prover.chain.encoding import encode_submit_windowed_post, id_address_cbor
from prover.chain.lotus import TAG_POST_CHAIN_COMMIT, TAG_WINDOWED_POST_CHALLENGE_SEED, LotusClient
from prover.cli.devnet_cmds import devnet_group
from prover.devnet import Devnet, DevnetMiner, DevnetServer, endpoint_path
from prover.proofs import (
    PoStProofType,
    create_test_sectors,
    ensure_test_params,
    mask_randomness,
    merge_partition_proofs,
    prove_partition,
    prover_id,
)

MINER = 1000
KIB2 = PoStProofType.WINDOW_2KIB


@pytest.fixture
def chain(tmp_path):
    ensure_test_params(KIB2)
    replicas = {r.sector_id: r for r in create_test_sectors(tmp_path, MINER, range(1, 5), KIB2)}
    miner = DevnetMiner(
        actor_id=MINER,
        proof_type=KIB2.chain_id,
        period_offset=0,
        deadlines={0: [[1, 2], [3, 4]]},
        comm_r={n: r.comm_r for n, r in replicas.items()},
    )
    clock = Seconds()
    net = Devnet([miner], Policy.devnet(), clock=clock)
    server = DevnetServer(net).start()
    client = LotusClient(server.url, network="t", epoch_seconds=1.0)
    yield net, server, client, clock, replicas
    client.close()
    server.stop()


def _proofs(client, replicas, wanted):
    """(deadline, [(partition, skipped, proof)]) for the open deadline."""
    dl = client.state_miner_proving_deadline(MINER).info
    parts = client.state_miner_partitions(MINER, dl.index)
    seed = client.randomness_from_beacon(
        TAG_WINDOWED_POST_CHALLENGE_SEED, dl.challenge, id_address_cbor(MINER)
    )
    out = []
    for i in wanted:
        sectors = sorted(parts[i].to_prove)
        result = prove_partition(
            KIB2, mask_randomness(seed), prover_id(MINER), [replicas[n] for n in sectors], i
        )
        out.append((i, set(result.skipped), result.proof))
    return dl, out


def _submit(client, dl, proofs) -> str:
    rand = client.randomness_from_tickets(TAG_POST_CHAIN_COMMIT, dl.challenge)
    params = encode_submit_windowed_post(
        dl.index,
        [(i, skipped) for i, skipped, _ in proofs],
        KIB2.chain_id,
        merge_partition_proofs(KIB2, [p for _, _, p in proofs]),
        dl.challenge,
        rand,
    )
    return client.mpool_push_message(client.address(MINER), "t0100", 5, params)


def _land(net, client, clock, cid):
    clock.to_epoch(net.genesis, net.epoch() + 1)
    return client.state_search_msg(cid)


def test_the_same_partition_twice_is_refused_as_the_actor_does_and_counted(tmp_path, chain):
    net, server, client, clock, replicas = chain
    clock.to_epoch(net.genesis, 5)  # deadline 0 (epochs 0..9) is open
    dl, (p0, p1) = _proofs(client, replicas, [0, 1])
    first = _submit(client, dl, [p0])
    assert _land(net, client, clock, first).exit_code == 0
    assert client.call("DevnetStatus")["duplicate_posts"] == 0

    # partition 0 again, alone: refused, counted
    again = _submit(client, dl, [p0])
    assert _land(net, client, clock, again).exit_code == 16
    assert net.messages[again].reason == (
        "failed to process post submission for deadline 0: partition already proven: "
        "BitField { ranges: [0..1], set: {}, unset: {} }"
    )
    # partitions 0 and 1 together: the whole message is refused (1 stays
    # unproven), only the partition proven already counts
    both = _submit(client, dl, [p0, p1])
    assert _land(net, client, clock, both).exit_code == 16
    assert net.miners[MINER].proven[(0, 0)] == {0}
    # a partition twice in one message is another refusal, not a duplicate PoSt
    twice = _submit(client, dl, [p1, p1])
    assert _land(net, client, clock, twice).exit_code == 16
    assert net.messages[twice].reason.endswith(": duplicate partitions proven")

    expected = [
        {"period_start": 0, "deadline": 0, "partition": 0, "cid": again},
        {"period_start": 0, "deadline": 0, "partition": 0, "cid": both},
    ]
    status = client.call("DevnetStatus")
    assert status["duplicate_posts"] == 2
    (miner,) = status["miners"]
    assert miner["duplicate_posts"] == 2 and miner["duplicates"] == expected

    # persisted with the chain: a devnet loaded from the saved state has them
    restarted = Devnet.from_json(net.to_json(), clock=clock, restart=False)
    restarted.load_state(json.loads(json.dumps(net.state_json())))
    assert restarted.miners[MINER].duplicate_posts == expected
    assert restarted.status()["duplicate_posts"] == 2

    # and `prover devnet status` shows them, as JSON and to a person
    home = tmp_path / "home"
    endpoint_path(home).parent.mkdir(parents=True)
    endpoint_path(home).write_text(server.url + "\n")
    runner = CliRunner()
    out = runner.invoke(devnet_group, ["status", "--json", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["duplicate_posts"] == 2
    out = runner.invoke(devnet_group, ["status", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert "duplicate PoSts refused: 2" in out.output
    assert f"DUPLICATE deadline 0 partition 0 (period 0): message {again} refused" in out.output


def test_a_chain_saved_before_duplicates_were_counted_loads_with_none(chain):
    net, _, _, clock, _ = chain
    state = net.state_json()
    for row in state["miners"]:
        del row["duplicate_posts"]
    old = Devnet.from_json(net.to_json(), clock=clock, restart=False)
    old.load_state(state)
    assert old.status()["duplicate_posts"] == 0
