"""Bad input is a clear InvalidInput naming what is wrong, never a crash."""

from __future__ import annotations

import pytest

from conftest import KIB2
from prover import _native
from prover.proofs import (
    InvalidInput,
    PoStProofType,
    SectorReplica,
    generate_challenges,
    merge_partition_proofs,
    partition_snark,
    prove_partition,
    vanilla_proof,
    verify_window_post,
)

UNMASKED = bytes(31) + b"\xff"


def test_unmasked_randomness_is_refused(make_sectors, pid):
    replicas = make_sectors([1, 2])
    with pytest.raises(InvalidInput, match="randomness is not a canonical BLS12-381 scalar"):
        generate_challenges(KIB2, UNMASKED, pid, [1, 2])
    with pytest.raises(InvalidInput, match="mask it first"):
        prove_partition(KIB2, UNMASKED, pid, replicas, 0)
    with pytest.raises(InvalidInput, match="randomness"):
        verify_window_post(KIB2, UNMASKED, pid, [r.public for r in replicas], bytes(192))
    with pytest.raises(InvalidInput, match="randomness"):
        partition_snark(KIB2, UNMASKED, pid, [b"x"], 0)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_comm_r_of_wrong_length_is_refused(make_sectors, randomness, pid, length):
    (r,) = make_sectors([1])
    with pytest.raises(InvalidInput, match="comm_r of sector 1 must be 32 bytes"):
        SectorReplica(1, bytes(length), r.sealed_path, r.cache_dir)
    with pytest.raises(InvalidInput, match="comm_r of sector 1 must be 32 bytes"):
        verify_window_post(KIB2, randomness, pid, [(1, bytes(length))], bytes(192))
    challenges = generate_challenges(KIB2, randomness, pid, [1])[1]
    with pytest.raises(InvalidInput, match="comm_r of sector 1 must be 32 bytes"):
        _native.vanilla_proof(
            KIB2.api_name, 1, bytes(length), str(r.sealed_path), str(r.cache_dir), challenges
        )


def test_comm_r_that_is_not_a_field_element_is_refused(randomness, pid):
    with pytest.raises(InvalidInput, match="comm_r of sector 4 is not a canonical"):
        verify_window_post(KIB2, randomness, pid, [(4, b"\xff" * 32)], bytes(192))


def test_unknown_proof_types_are_refused(randomness, pid):
    with pytest.raises(InvalidInput):
        generate_challenges(3, randomness, pid, [1])
    with pytest.raises(InvalidInput):
        verify_window_post("StackedDrgWindow4KiBV1_2", randomness, pid, [(1, bytes(32))], b"")
    with pytest.raises(InvalidInput, match="unknown WindowPoSt proof type"):
        _native.generate_challenges("StackedDrgWinning2KiBV1", randomness, pid, [1])


def test_wrong_argument_shapes_are_refused(make_sectors, randomness, pid):
    replicas = make_sectors([1, 2, 3])
    with pytest.raises(InvalidInput, match="do not fit one 2KiB partition"):
        prove_partition(KIB2, randomness, pid, replicas, 0)
    with pytest.raises(InvalidInput, match="at least one sector"):
        prove_partition(KIB2, randomness, pid, [], 0)
    with pytest.raises(InvalidInput, match="duplicate"):
        prove_partition(KIB2, randomness, pid, [replicas[0], replicas[0]], 0)
    with pytest.raises(InvalidInput, match="duplicates"):
        generate_challenges(KIB2, randomness, pid, [1, 1])
    with pytest.raises(InvalidInput, match="empty"):
        generate_challenges(KIB2, randomness, pid, [])
    with pytest.raises(InvalidInput, match="prover_id must be 32 bytes"):
        generate_challenges(KIB2, randomness, b"\x01", [1])
    with pytest.raises(InvalidInput, match="no challenges"):
        vanilla_proof(KIB2, replicas[0], [])
    with pytest.raises(InvalidInput, match="1 to 2 vanilla proofs"):
        partition_snark(KIB2, randomness, pid, [], 0)
    with pytest.raises(InvalidInput, match="partition proof 1 is 10 bytes"):
        merge_partition_proofs(KIB2, [bytes(192), bytes(10)])
    with pytest.raises(InvalidInput, match="different comm_r"):
        verify_window_post(
            KIB2, randomness, pid, [replicas[0].public, (1, bytes([7]) + bytes(31))], bytes(192)
        )
    with pytest.raises(InvalidInput, match="negative"):
        partition_snark(KIB2, randomness, pid, [b"x"], -1)


def test_garbage_vanilla_proof_is_an_error_not_a_crash(params_2kib, randomness, pid):
    from prover.proofs import ProofError

    with pytest.raises(ProofError):
        partition_snark(KIB2, randomness, pid, [b"\x00" * 50], 0)


def test_sealing_is_refused_for_big_sectors(tmp_path):
    from prover.proofs import create_test_sectors

    with pytest.raises(InvalidInput, match="2KiB and 8MiB"):
        create_test_sectors(tmp_path, 1000, [1], PoStProofType.WINDOW_32GIB, seal=True)
