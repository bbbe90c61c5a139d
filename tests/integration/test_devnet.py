"""The embedded devnet behaves like the miner actor, through the Lotus client."""

from __future__ import annotations

import json

import cbor2
import pytest
from click.testing import CliRunner

from chain_fixtures import Seconds
from prover.chain.deadlines import Policy
from prover.chain.encoding import (
    encode_bitfield,
    encode_declare_faults_recovered,
    encode_submit_windowed_post,
    id_address_cbor,
)
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
    replicas = {r.sector_id: r for r in create_test_sectors(tmp_path, MINER, range(1, 7), KIB2)}
    miner = DevnetMiner(
        actor_id=MINER,
        proof_type=KIB2.chain_id,
        period_offset=0,
        deadlines={0: [[1, 2], [3, 4]], 1: [[5, 6]]},
        comm_r={n: r.comm_r for n, r in replicas.items()},
    )
    clock = Seconds()
    net = Devnet([miner], Policy.devnet(), clock=clock)
    server = DevnetServer(net, token="devnet-token").start()
    client = LotusClient(server.url, "devnet-token", network="t", epoch_seconds=1.0)
    yield net, client, clock, replicas
    client.close()
    server.stop()


def prove_deadline(client, replicas, partitions_wanted=None):
    """What the tracker will do: read the deadline, prove its partitions."""
    dl = client.state_miner_proving_deadline(MINER).info
    parts = client.state_miner_partitions(MINER, dl.index)
    seed = client.randomness_from_beacon(
        TAG_WINDOWED_POST_CHALLENGE_SEED, dl.challenge, id_address_cbor(MINER)
    )
    proofs = []
    wanted = range(len(parts)) if partitions_wanted is None else partitions_wanted
    for i in wanted:
        sectors = sorted(parts[i].to_prove)
        result = prove_partition(
            KIB2, mask_randomness(seed), prover_id(MINER), [replicas[n] for n in sectors], i
        )
        proofs.append((i, set(result.skipped), result.proof))
    return dl, proofs


def submit(client, dl, proofs, *, commit_rand=None, skipped_rle=None, extra=b""):
    """``skipped_rle``: the partitions' Skipped bitfields as sent, bytes in
    their order, in place of the canonical encodings of the sets; ``extra``:
    bytes after the proofs."""
    commit_epoch = dl.challenge
    rand = commit_rand or client.randomness_from_tickets(TAG_POST_CHAIN_COMMIT, commit_epoch)
    params = encode_submit_windowed_post(
        dl.index,
        [(i, skipped) for i, skipped, _ in proofs],
        KIB2.chain_id,
        merge_partition_proofs(KIB2, [p for _, _, p in proofs]) + extra,
        commit_epoch,
        rand,
    )
    if skipped_rle is not None:
        fields = cbor2.loads(params)
        for partition, rle in zip(fields[1], skipped_rle, strict=True):
            partition[1] = rle
        params = cbor2.dumps(fields)
    return client.mpool_push_message(client.address(MINER), "t0100", 5, params)


def landed(net, client, clock, cid):
    clock.to_epoch(net.genesis, net.epoch() + 1)
    return client.state_search_msg(cid)


def test_a_deadline_is_proven_and_accepted(chain):
    net, client, clock, replicas = chain
    clock.to_epoch(net.genesis, 5)  # deadline 0 is open (epochs 0..9)
    dl, proofs = prove_deadline(client, replicas)
    assert dl.index == 0 and len(proofs) == 2
    cid = submit(client, dl, proofs)
    assert client.state_search_msg(cid) is None  # lands in the next epoch
    found = landed(net, client, clock, cid)
    assert found.exit_code == 0
    assert net.miners[MINER].proven[(0, 0)] == {0, 1}
    again = submit(client, dl, proofs)
    assert landed(net, client, clock, again).exit_code == 16
    assert "already proven" in net.messages[again].reason


@pytest.mark.parametrize("mistake", ["commit_rand", "closed", "long_proof"])
def test_the_actor_refuses_bad_submissions(chain, mistake):
    """A proof that does not verify is not among them: without recoveries
    the actor accepts it optimistically (test_devnet_disputes.py)."""
    net, client, clock, replicas = chain
    clock.to_epoch(net.genesis, 5)
    dl, proofs = prove_deadline(client, replicas)
    kwargs = {}
    if mistake == "commit_rand":
        kwargs["commit_rand"] = bytes(32)
    elif mistake == "closed":
        clock.to_epoch(net.genesis, 12)  # deadline 0 closed at 10
    else:  # 192 bytes a partition at most: one byte more
        kwargs["extra"] = b"\0"
    cid = submit(client, dl, proofs, **kwargs)
    assert landed(net, client, clock, cid).exit_code == 16
    reason = net.messages[cid].reason
    assert {
        "commit_rand": "commit randomness",
        "closed": "not open",
        "long_proof": "expected proof to be smaller than 384 bytes",
    }[mistake] in reason


def test_a_missed_deadline_faults_its_sectors_and_a_recovery_heals_them(chain):
    net, client, clock, replicas = chain
    clock.to_epoch(net.genesis, 25)  # deadline 1 (10..19) passed unproven
    (part,) = client.state_miner_partitions(MINER, 1)
    assert part.faulty == {5, 6} and part.to_prove == frozenset()
    assert net.miners[MINER].misses[-1]["sectors"] == [5, 6]
    # declare the recovery before deadline 1's fault cutoff in the next period
    params = encode_declare_faults_recovered([(1, 0, {5, 6})])
    cid = client.mpool_push_message(client.address(MINER), "t0100", 11, params)
    assert landed(net, client, clock, cid).exit_code == 0
    assert client.state_miner_partitions(MINER, 1)[0].recovering == {5, 6}
    clock.to_epoch(net.genesis, 480 + 12)  # deadline 1 of the next period is open
    dl, proofs = prove_deadline(client, replicas, [0])
    assert dl.index == 1 and proofs[0][1] == set()
    cid = submit(client, dl, proofs)
    assert landed(net, client, clock, cid).exit_code == 0
    (part,) = client.state_miner_partitions(MINER, 1)
    assert part.faulty == set() and part.recovering == set()


def test_the_same_partition_twice_is_refused_as_the_actor_does_and_counted(tmp_path, chain):
    """Refused as the actor refuses it (``Deadline::record_proven_sectors``),
    counted per miner, persisted and shown, so that tests of several
    managers can assert there were none."""
    net, client, clock, replicas = chain
    clock.to_epoch(net.genesis, 5)  # deadline 0 (epochs 0..9) is open
    dl, (p0, p1) = prove_deadline(client, replicas, [0, 1])
    first = submit(client, dl, [p0])
    assert landed(net, client, clock, first).exit_code == 0
    assert client.call("DevnetStatus")["duplicate_posts"] == 0

    # partition 0 again, alone: refused, counted
    again = submit(client, dl, [p0])
    assert landed(net, client, clock, again).exit_code == 16
    assert net.messages[again].reason == (
        "failed to process post submission for deadline 0: partition already proven: "
        "BitField { ranges: [0..1], set: {}, unset: {} }"
    )
    # partitions 0 and 1 together: the whole message is refused (1 stays
    # unproven), only the partition proven already counts
    both = submit(client, dl, [p0, p1])
    assert landed(net, client, clock, both).exit_code == 16
    assert net.miners[MINER].proven[(0, 0)] == {0}
    # a partition twice in one message is another refusal, not a duplicate PoSt
    twice = submit(client, dl, [p1, p1])
    assert landed(net, client, clock, twice).exit_code == 16
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
    endpoint_path(home).write_text(f"{client.token}:{client.url}\n")
    runner = CliRunner()
    out = runner.invoke(devnet_group, ["status", "--json", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["duplicate_posts"] == 2
    out = runner.invoke(devnet_group, ["status", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert "duplicate PoSts refused: 2" in out.output
    assert f"DUPLICATE deadline 0 partition 0 (period 0): message {again} refused" in out.output


def test_a_chain_saved_before_duplicates_were_counted_loads_with_none(chain):
    net, _, clock, _ = chain
    state = net.state_json()
    for row in state["miners"]:
        del row["duplicate_posts"]
    old = Devnet.from_json(net.to_json(), clock=clock, restart=False)
    old.load_state(state)
    assert old.status()["duplicate_posts"] == 0


# ---- bitfields the actor refuses to deserialize --------------------------------------

EXIT_SERIALIZATION = 21  # fvm_shared ExitCode::USR_SERIALIZATION


def pack(bits: list[int]) -> bytes:
    """RLE+ by hand: bits, least significant first in each byte."""
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        out[i // 8] |= bit << (i % 8)
    return bytes(out)


def refused_as_malformed(net, client, clock, cid, why):
    """Landed, exit code 21 in the receipt (Lotus' shape), gas paid."""
    assert landed(net, client, clock, cid).exit_code == EXIT_SERIALIZATION
    raw = client.call("StateSearchMsg", [], {"/": cid}, -1, True)
    assert raw["Receipt"]["ExitCode"] == EXIT_SERIALIZATION and raw["Receipt"]["Return"] is None
    assert why in net.messages[cid].reason
    assert net.messages[cid].gas_used > 0 and net.messages[cid].fee > 0


def test_a_post_whose_skipped_bitfield_is_not_canonical_fails_to_deserialize(chain):
    """Skipped = {2} written two ways the actor's decoder refuses (a lenient
    one reads {2} from both, and the proof verifies): each message exits
    with USR_SERIALIZATION, as the actor's dispatch fails on its params, and
    changes nothing; the canonical encoding is accepted."""
    net, client, clock, replicas = chain
    clock.to_epoch(net.genesis, 5)  # deadline 0 (epochs 0..9) is open
    dl = client.state_miner_proving_deadline(MINER).info
    seed = client.randomness_from_beacon(
        TAG_WINDOWED_POST_CHALLENGE_SEED, dl.challenge, id_address_cbor(MINER)
    )
    # partition 0 holds sectors 1 and 2: sector 1 proven, 2 skipped
    proof = prove_partition(KIB2, mask_randomness(seed), prover_id(MINER), [replicas[1]], 0).proof
    proofs = [(0, {2}, proof)]
    # {2}: 00 | 0 | "01" 0100 (2 zeros) | "1" (1 one)
    canonical = [0, 0, 0, 0, 1, 0, 1, 0, 0, 1]
    assert pack(canonical) == encode_bitfield({2})
    before = net.state_json()["miners"]
    for rle, why in [
        (pack(canonical) + b"\x00", "trailing zero byte"),
        (pack([*canonical, 1]), "trailing run of zeros"),  # "1": 1 zero more
    ]:
        cid = submit(client, dl, proofs, skipped_rle=[rle])
        refused_as_malformed(net, client, clock, cid, why)
        assert net.state_json()["miners"] == before  # nothing proven, nothing faulty
    cid = submit(client, dl, proofs, skipped_rle=[pack(canonical)])
    assert landed(net, client, clock, cid).exit_code == 0
    assert net.miners[MINER].proven[(0, 0)] == {0} and net.miners[MINER].faulty == {2}


def test_a_recovery_whose_sectors_bitfield_is_not_canonical_fails_to_deserialize(chain):
    net, client, clock, _ = chain
    clock.to_epoch(net.genesis, 25)  # deadline 1 (10..19) passed unproven: 5, 6 faulty
    # {5, 6}: 00 | 0 | "01" 1010 (5 zeros) | "01" 0100 (2 ones)
    canonical = [0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0]
    assert pack(canonical) == encode_bitfield({5, 6})
    net.settle()  # the missed deadlines' faults are recorded
    assert net.miners[MINER].faulty == {1, 2, 3, 4, 5, 6}
    before = net.state_json()["miners"]
    for rle, why in [
        (pack(canonical) + b"\x00", "trailing zero byte"),
        (pack([*canonical, 0, 1, 1, 1, 0, 0]), "trailing run of zeros"),  # 3 zeros more
    ]:
        params = cbor2.dumps([[[1, 0, rle]]])
        cid = client.mpool_push_message(client.address(MINER), "t0100", 11, params)
        refused_as_malformed(net, client, clock, cid, why)
        assert net.state_json()["miners"] == before  # nothing recovering
    params = cbor2.dumps([[[1, 0, pack(canonical)]]])
    assert params == encode_declare_faults_recovered([(1, 0, {5, 6})])
    cid = client.mpool_push_message(client.address(MINER), "t0100", 11, params)
    assert landed(net, client, clock, cid).exit_code == 0
    assert client.state_miner_partitions(MINER, 1)[0].recovering == {5, 6}
