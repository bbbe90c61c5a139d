"""Proof types, prover ids and randomness: the inputs every proof depends on."""

from __future__ import annotations

import pytest

from prover import _native
from prover.proofs import InvalidInput, PoStProofType, mask_randomness, prover_id
from prover.proofs.types import leb128, parse_sector_size


@pytest.mark.parametrize(
    ("chain_id", "size", "partition"),
    [
        (10, 2048, 2),
        (11, 8 << 20, 2),
        (12, 512 << 20, 2),
        (13, 32 << 30, 2349),
        (14, 64 << 30, 2300),
    ],
)
def test_proof_type_facts(chain_id, size, partition):
    pt = PoStProofType.from_chain_id(chain_id)
    assert pt.chain_id == chain_id
    assert pt.sector_size == size
    assert pt.partition_sectors == partition
    assert PoStProofType.from_chain_id(chain_id - 5) is pt  # V1 ids name the same size
    assert PoStProofType.from_sector_size(size) is pt
    assert PoStProofType.from_sector_size(pt.size_name) is pt
    assert pt.api_name.startswith("StackedDrgWindow") and pt.api_name.endswith("V1_2")


@pytest.mark.parametrize("pt", list(PoStProofType))
def test_python_facts_match_the_proofs_library(pt):
    sector_size, partition_sectors, challenges = _native.proof_type_info(pt.api_name)
    assert (sector_size, partition_sectors) == (pt.sector_size, pt.partition_sectors)
    assert challenges == 10


def test_size_spellings():
    assert PoStProofType.from_sector_size("2KiB") is PoStProofType.WINDOW_2KIB
    assert PoStProofType.from_sector_size("32gib") is PoStProofType.WINDOW_32GIB
    assert PoStProofType.from_sector_size(2048) is PoStProofType.WINDOW_2KIB
    assert PoStProofType.parse("StackedDrgWindow8MiBV1_1") is PoStProofType.WINDOW_8MIB
    assert parse_sector_size("512MiB") == 512 << 20


@pytest.mark.parametrize("bad", [4, 15, 0, -1, True, "x"])
def test_unknown_chain_ids_are_refused(bad):
    with pytest.raises(InvalidInput, match=r"chain ids are 5\.\.14"):
        PoStProofType.from_chain_id(bad)


@pytest.mark.parametrize("bad", ["3KiB", 4096, "big", ""])
def test_unknown_sizes_are_refused(bad):
    with pytest.raises(InvalidInput):
        PoStProofType.from_sector_size(bad)


def test_native_refuses_unknown_proof_type_names():
    with pytest.raises(InvalidInput, match="unknown WindowPoSt proof type"):
        _native.proof_type_info("StackedDrgWinning2KiBV1")


def test_prover_id_of_t01000():
    pid = prover_id(1000)
    assert len(pid) == 32
    assert pid == bytes([0xE8, 0x07]) + bytes(30)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (1000, "e807"), (624485, "e58e26")],
)
def test_leb128_vectors(value, encoded):
    assert leb128(value).hex() == encoded


@pytest.mark.parametrize("bad", [-1, 1 << 63, "1000", 1.5])
def test_prover_id_refuses_bad_actor_ids(bad):
    with pytest.raises(InvalidInput):
        prover_id(bad)


def test_mask_randomness_clears_top_two_bits():
    r = bytes(range(31)) + b"\xff"
    masked = mask_randomness(r)
    assert masked[:31] == r[:31]
    assert masked[31] == 0x3F


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33), "x" * 32])
def test_mask_randomness_refuses_wrong_lengths(bad):
    with pytest.raises(InvalidInput, match="32 bytes"):
        mask_randomness(bad)


def test_both_chain_ids_of_a_size_are_asked_of_the_type():
    """V1 and V1_1 ids name one circuit; the type owns how they relate."""
    from prover.proofs.types import PoStProofType as T

    assert T.WINDOW_2KIB.chain_ids == (5, 10) and T.WINDOW_64GIB.chain_ids == (9, 14)
    assert all(T.from_chain_id(i) is t for t in T for i in t.chain_ids)
    assert T.same_size_ids(8) == T.same_size_ids(13) == (8, 13)
    assert T.same_size_ids(99) == (99, 99)  # unknown: only itself
    assert T.WINDOW_32GIB.seal_proof_id == 8  # StackedDrg32GiBV1_1
