"""The packed form of a job's sectors: what goes in comes out, in order,
and anything that is not a packed list is refused by name."""

from __future__ import annotations

import pytest

from prover.proofs.layout import SectorRef
from prover.store import sectorpack


def refs(numbers, storages=("a", "b")) -> list[SectorRef]:
    return [
        SectorRef(
            n,
            n.to_bytes(32, "little"),
            storages[i % len(storages)],
            storages[(i + 1) % len(storages)],
            upgraded=i % 3 == 0,
        )
        for i, n in enumerate(numbers)
    ]


@pytest.mark.parametrize(
    "sectors",
    [
        [],
        refs([7]),
        refs(range(1, 2350)),  # a full 32GiB partition
        refs([900, 3, 2**63 - 1, 0, 41]),  # order kept, not sorted; extremes
        refs(range(300), storages=tuple(f"store-{k}" for k in range(300))),
        refs([1, 2], storages=("", "ünïcode")),
    ],
)
def test_what_is_packed_unpacks_identical(sectors):
    assert sectorpack.unpack(sectorpack.pack(sectors)) == sectors


def test_a_full_partition_costs_little_more_than_its_comm_rs():
    blob = sectorpack.pack(refs(range(1, 2350)))
    assert 2349 * 32 < len(blob) < 2349 * 32 + 600


def test_a_comm_r_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="comm_r of sector 5 is 31 bytes"):
        sectorpack.pack([SectorRef(5, bytes(31), "a", "a")])


@pytest.mark.parametrize(
    ("mangle", "why"),
    [
        (lambda b: b[:3], "truncated"),
        (lambda b: b"\x02" + b[1:], "unknown version 2"),
        (lambda b: b[:5] + b"\xff" * 4 + b[9:], "corrupt"),
        (lambda b: b[:-1], "comm_r section"),
        (lambda b: b + bytes(32), "comm_r section"),
    ],
)
def test_anything_else_is_refused_with_the_reason(mangle, why):
    blob = sectorpack.pack(refs(range(1, 10)))
    with pytest.raises(ValueError, match=why):
        sectorpack.unpack(mangle(blob))
