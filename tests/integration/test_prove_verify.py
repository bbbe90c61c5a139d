"""Real proofs over real replicas, checked by the chain's verifier."""

from __future__ import annotations

import pytest

from conftest import KIB2
from prover.proofs import (
    PARTITION_PROOF_LEN,
    SectorReplica,
    generate_challenges,
    load_test_sectors,
    mask_randomness,
    merge_partition_proofs,
    partition_snark,
    prove_partition,
    prover_id,
    sector_keys,
    vanilla_proof,
    verify_window_post,
)


def test_steps_one_by_one_give_a_proof_the_verifier_accepts(make_sectors, randomness, pid):
    replicas = make_sectors([1, 2])
    challenges = generate_challenges(KIB2, randomness, pid, [1, 2])
    assert sorted(challenges) == [1, 2]
    leaves = KIB2.sector_size // 32
    for sector_challenges in challenges.values():
        assert len(sector_challenges) == 10
        assert all(0 <= c < leaves for c in sector_challenges)
    vanilla = [vanilla_proof(KIB2, r, challenges[r.sector_id]) for r in replicas]
    proof = partition_snark(KIB2, randomness, pid, vanilla, 0)
    assert len(proof) == PARTITION_PROOF_LEN == 192
    assert verify_window_post(KIB2, randomness, pid, [r.public for r in replicas], proof)


def test_really_sealed_sectors_prove(make_sectors, randomness, pid):
    replicas = make_sectors([7, 8], seal=True)
    cache_files = {p.name for p in replicas[0].cache_dir.iterdir()}
    assert {"p_aux", "sc-02-data-tree-r-last.dat"} <= cache_files
    result = prove_partition(KIB2, randomness, pid, replicas, 0)
    assert result.skipped == []
    assert verify_window_post(KIB2, randomness, pid, result.public_sectors, result.proof)


def test_lotus_layout(make_sectors, tmp_path):
    (replica,) = make_sectors([5])
    assert replica.sealed_path == tmp_path / "store" / "sealed" / "s-t01000-5"
    assert replica.cache_dir == tmp_path / "store" / "cache" / "s-t01000-5"
    assert replica.sealed_path.stat().st_size == KIB2.sector_size


def test_partitions_proven_apart_merge_in_partition_order(make_sectors, randomness, pid):
    replicas = make_sectors([1, 2, 3, 4])
    p0 = prove_partition(KIB2, randomness, pid, replicas[:2], 0)
    p1 = prove_partition(KIB2, randomness, pid, replicas[2:], 1)
    public = [r.public for r in replicas]
    merged = merge_partition_proofs(KIB2, [p0.proof, p1.proof])
    assert len(merged) == 2 * PARTITION_PROOF_LEN
    assert verify_window_post(KIB2, randomness, pid, public, merged)
    swapped = merge_partition_proofs(KIB2, [p1.proof, p0.proof])
    assert not verify_window_post(KIB2, randomness, pid, public, swapped)
    # A merged proof is not a proof of fewer partitions, nor one partition of more.
    assert not verify_window_post(KIB2, randomness, pid, public[:2], merged)
    assert not verify_window_post(KIB2, randomness, pid, public, p0.proof)


@pytest.fixture
def proven(make_sectors, randomness, pid):
    replicas = make_sectors([1, 2])
    result = prove_partition(KIB2, randomness, pid, replicas, 0)
    assert verify_window_post(KIB2, randomness, pid, result.public_sectors, result.proof)
    return replicas, result


@pytest.mark.parametrize("position", [0, 47, 48, 95, 96, 191])
def test_one_flipped_bit_fails(proven, randomness, pid, position):
    _, result = proven
    tampered = bytearray(result.proof)
    tampered[position] ^= 0x04
    assert not verify_window_post(KIB2, randomness, pid, result.public_sectors, bytes(tampered))


def test_wrong_comm_r_fails(proven, randomness, pid):
    _, result = proven
    (sid, _), second = result.public_sectors
    other = mask_randomness(bytes(range(32)))
    assert not verify_window_post(KIB2, randomness, pid, [(sid, other), second], result.proof)


def test_other_randomness_fails(proven, randomness, pid):
    _, result = proven
    other = mask_randomness(bytes(b ^ 0x55 for b in randomness))
    assert not verify_window_post(KIB2, other, pid, result.public_sectors, result.proof)


def test_prover_id_is_bound_through_comm_r_not_the_proof(proven, randomness, make_sectors):
    """Contrary to a first reading of the API, the WindowPoSt circuit has no
    prover-id input (storage-proofs-post: public inputs are comm_r and the
    challenged leaves). A miner is bound to its proof through comm_r, whose
    replica id was derived from the prover id at sealing; another miner's
    sectors have other comm_rs, and those do not verify."""
    _, result = proven
    assert verify_window_post(
        KIB2, randomness, prover_id(1001), result.public_sectors, result.proof
    )
    other_miners = [r.public for r in make_sectors([1, 2], root=make_sectors.root / "other")]
    assert not verify_window_post(KIB2, randomness, prover_id(1001), other_miners, result.proof)


def test_other_sector_numbers_fail(proven, randomness, pid):
    _, result = proven
    (a, ca), (b, cb) = result.public_sectors
    assert not verify_window_post(KIB2, randomness, pid, [(a + 10, ca), (b + 10, cb)], result.proof)


@pytest.mark.parametrize("garbage", [b"", bytes(192), bytes(191), b"\xff" * 192, bytes(384)])
def test_bytes_that_are_no_proof_fail(proven, randomness, pid, garbage):
    _, result = proven
    assert not verify_window_post(KIB2, randomness, pid, result.public_sectors, garbage)


def test_partition_proof_reports_timings(proven):
    _, result = proven
    t = result.timings
    assert min(t.challenges, t.vanilla, t.snark) >= 0
    assert t.total >= t.challenges + t.vanilla + t.snark
    assert t.snark > 0


def test_snap_upgraded_sectors_prove_beside_plain_ones(make_sectors, tmp_path, randomness, pid):
    plain = make_sectors([1])
    upgraded = make_sectors([2], upgrade=True)
    store = tmp_path / "store"
    (snap,) = upgraded
    assert snap.sealed_path == store / "update" / "s-t01000-2"
    assert snap.cache_dir == store / "update-cache" / "s-t01000-2"
    assert {"p_aux", "sc-02-data-tree-r-last.dat"} <= {p.name for p in snap.cache_dir.iterdir()}
    key = sector_keys(store, 1000)
    assert set(key) == {2} and key[2] != snap.comm_r  # the sector key stays, comm_r is new
    assert load_test_sectors(store, 1000, KIB2) == plain + upgraded
    result = prove_partition(KIB2, randomness, pid, plain + upgraded, 0)
    assert result.skipped == []
    assert verify_window_post(KIB2, randomness, pid, result.public_sectors, result.proof)
    # the sector key's files with the new comm_r: not the sector any more
    old = SectorReplica(
        2, snap.comm_r, store / "sealed" / "s-t01000-2", store / "cache" / "s-t01000-2"
    )
    stale = prove_partition(KIB2, randomness, pid, [*plain, old], 0)
    assert stale.skipped == [2]


def test_a_vanilla_proof_checks_alone_against_its_sector_and_challenge(
    make_sectors, randomness, pid
):
    """What `prover sectors check` relies on: a sector's vanilla proof is
    checked without a SNARK, and anything else is refused."""
    from prover.proofs import verify_vanilla_proof

    one, two = make_sectors([1, 2])
    challenges = generate_challenges(KIB2, randomness, pid, [1, 2])
    proof = vanilla_proof(KIB2, one, challenges[1])
    assert verify_vanilla_proof(KIB2, randomness, pid, one.public, proof)
    # another sector's proof, another comm_r, other randomness, flipped bits, junk
    assert not verify_vanilla_proof(KIB2, randomness, pid, two.public, proof)
    assert not verify_vanilla_proof(KIB2, randomness, pid, (1, two.comm_r), proof)
    other = mask_randomness(bytes(reversed(randomness)))
    assert not verify_vanilla_proof(KIB2, other, pid, one.public, proof)
    flipped = bytearray(proof)
    flipped[len(flipped) // 2] ^= 1
    assert not verify_vanilla_proof(KIB2, randomness, pid, one.public, bytes(flipped))
    assert not verify_vanilla_proof(KIB2, randomness, pid, one.public, b"not a proof")
