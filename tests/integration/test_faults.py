"""A broken sector is reported by number and skipped; the partition still proves."""

from __future__ import annotations

import os

import pytest

from conftest import KIB2
from prover.proofs import (
    PartitionUnprovable,
    SectorFault,
    generate_challenges,
    prove_partition,
    vanilla_proof,
    verify_window_post,
)


def delete_sealed(r):
    r.sealed_path.unlink()


def truncate_sealed(r):
    os.truncate(r.sealed_path, KIB2.sector_size // 2)


def scramble_sealed(r):
    # Random bytes are mostly not field elements: the tree code panics on
    # them, and the panic must come back as this sector's fault.
    with open(r.sealed_path, "r+b") as f:
        f.seek(256)
        f.write(b"\xff" * 512)


def delete_p_aux(r):
    (r.cache_dir / "p_aux").unlink()


def corrupt_comm_c(r):
    # p_aux holds comm_c then comm_r_last; a wrong comm_c passes the library's
    # Merkle checks and would only fail the whole partition's SNARK.
    p = r.cache_dir / "p_aux"
    data = bytearray(p.read_bytes())
    data[3] ^= 0x01
    p.write_bytes(bytes(data))


def corrupt_tree_r_last(r):
    p = r.cache_dir / "sc-02-data-tree-r-last.dat"
    data = bytearray(p.read_bytes())
    data[0] ^= 0x01
    p.write_bytes(bytes(data))


def delete_tree_r_last(r):
    (r.cache_dir / "sc-02-data-tree-r-last.dat").unlink()


def delete_cache_dir(r):
    for f in r.cache_dir.iterdir():
        f.unlink()
    r.cache_dir.rmdir()


DAMAGE = [
    (delete_sealed, "sealed file"),
    (truncate_sealed, "1024 bytes, expected 2048"),
    (scramble_sealed, ""),
    (delete_p_aux, "p_aux"),
    (corrupt_comm_c, "p_aux does not match comm_r"),
    (corrupt_tree_r_last, "invalid"),
    (delete_tree_r_last, "tree-r-last"),
    (delete_cache_dir, "cache directory"),
]


@pytest.mark.parametrize(("damage", "words"), DAMAGE, ids=[d.__name__ for d, _ in DAMAGE])
def test_vanilla_proof_names_the_faulty_sector(make_sectors, randomness, pid, damage, words):
    (replica,) = make_sectors([11])
    damage(replica)
    challenges = generate_challenges(KIB2, randomness, pid, [11])[11]
    with pytest.raises(SectorFault) as info:
        vanilla_proof(KIB2, replica, challenges)
    assert info.value.sector_id == 11
    assert "sector 11" in str(info.value)
    assert words in info.value.reason


@pytest.mark.parametrize("faulty_index", [0, 1])
@pytest.mark.parametrize(("damage", "_"), DAMAGE, ids=[d.__name__ for d, _ in DAMAGE])
def test_partition_proves_with_the_faulty_sector_skipped(
    make_sectors, randomness, pid, damage, _, faulty_index
):
    replicas = make_sectors([21, 22])
    bad, good = replicas[faulty_index], replicas[1 - faulty_index]
    damage(bad)
    result = prove_partition(KIB2, randomness, pid, replicas, 3)
    assert result.skipped == [bad.sector_id]
    assert bad.sector_id in result.faults
    assert result.public_sectors == [good.public]
    assert result.partition_index == 3
    assert verify_window_post(KIB2, randomness, pid, result.public_sectors, result.proof)
    # As the chain rebuilds it: the skipped slot filled with the good sector
    # (Lotus' substitution), keyed by sector number.
    substituted = [good.public, good.public]
    assert verify_window_post(KIB2, randomness, pid, substituted, result.proof)
    # The proof does not pass for the partition as if nothing were skipped.
    assert not verify_window_post(KIB2, randomness, pid, [r.public for r in replicas], result.proof)


def test_every_sector_faulty_is_reported_not_crashed(make_sectors, randomness, pid):
    replicas = make_sectors([31, 32])
    delete_sealed(replicas[0])
    delete_p_aux(replicas[1])
    with pytest.raises(PartitionUnprovable) as info:
        prove_partition(KIB2, randomness, pid, replicas, 0)
    assert sorted(info.value.faults) == [31, 32]
