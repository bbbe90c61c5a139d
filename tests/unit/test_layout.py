"""Where a sector's files are: the Lotus layout, the one sector record and
its stored form, and resolving it on a machine's own mounts."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from prover.proofs import MissingStorage, SectorRef, SectorReplica, resolve, sector_paths
from prover.proofs.layout import StorageIndex, locate

COMM_R = bytes(range(32))


@pytest.mark.parametrize(
    ("upgraded", "sealed", "cache"),
    [
        (False, "sealed/s-t01000-7", "cache/s-t01000-7"),
        (True, "update/s-t01000-7", "update-cache/s-t01000-7"),
    ],
)
def test_sector_paths_follow_the_lotus_layout(upgraded, sealed, cache):
    assert sector_paths(Path("/mnt/a"), 1000, 7, upgraded) == (
        Path("/mnt/a") / sealed,
        Path("/mnt/a") / cache,
    )


def test_the_stored_form_round_trips_with_comm_r_as_hex():
    ref = SectorRef(7, COMM_R, "fast", "slow", upgraded=True)
    stored = ref.to_json()
    assert stored == {
        "id": 7,
        "comm_r": COMM_R.hex(),
        "sealed_storage": "fast",
        "cache_storage": "slow",
        "upgraded": True,
    }
    assert SectorRef.from_json(stored) == ref
    assert SectorRef.from_json({"id": 7, "comm_r": COMM_R.hex()}) == SectorRef(7, COMM_R)


def test_a_sector_resolves_to_its_files_on_this_machines_mounts():
    storages = {"fast": Path("/mnt/nvme"), "slow": Path("/mnt/hdd")}
    (replica,) = resolve([SectorRef(7, COMM_R, "fast", "slow", True)], 1000, storages)
    assert replica == SectorReplica(
        7, COMM_R, Path("/mnt/nvme/update/s-t01000-7"), Path("/mnt/hdd/update-cache/s-t01000-7")
    )


def test_resolving_names_every_storage_this_machine_lacks():
    sectors = [SectorRef(1, COMM_R, "a", "b"), SectorRef(2, COMM_R, "c", "a")]
    with pytest.raises(MissingStorage) as info:
        resolve(sectors, 1000, {"a": Path("/a")})
    assert info.value.names == ["b", "c"]
    assert str(info.value) == "storage b, c not attached on this worker"


def test_a_sector_that_was_not_located_cannot_resolve():
    ref = SectorRef(1, COMM_R)
    with pytest.raises(MissingStorage):
        ref.replica(1000, {"a": Path("/a")})


def test_locate_finds_replica_and_cache_on_different_storages(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    sealed, _ = sector_paths(one, 1000, 5)
    _, cache = sector_paths(two, 1000, 5)
    sealed.parent.mkdir(parents=True)
    sealed.write_bytes(b"replica")
    cache.mkdir(parents=True)
    storages = {"one": one, "two": two}
    assert locate(storages, 1000, 5) == ("one", "two")
    assert locate(storages, 1000, 5, upgraded=True) is None  # looked for in update/
    assert locate(storages, 1000, 6) is None
    assert locate({"one": one}, 1000, 5) is None  # the cache is nowhere


def test_a_storage_index_answers_as_locate_does(tmp_path):
    """A random layout over three storages, replicas and caches apart,
    sealed and snap-upgraded, with decoys: the index and a stat per sector
    agree on every sector."""
    rng = random.Random(7)
    storages = {name: tmp_path / name for name in ("a", "b", "c")}
    for sector in range(1, 60):
        for upgraded in (False, True):
            sealed_root = storages[rng.choice("abc")]
            cache_root = storages[rng.choice("abc")]
            sealed, _ = sector_paths(sealed_root, 1000, sector, upgraded)
            _, cache = sector_paths(cache_root, 1000, sector, upgraded)
            roll = rng.random()
            if roll > 0.2:
                sealed.parent.mkdir(parents=True, exist_ok=True)
                if roll > 0.9:
                    sealed.mkdir()  # a directory where the replica should be
                else:
                    sealed.write_bytes(b"r")
            if rng.random() > 0.2:
                cache.mkdir(parents=True, exist_ok=True)
    # another miner's sectors are not ours
    other, _ = sector_paths(storages["a"], 1001, 5)
    other.write_bytes(b"r")
    index = StorageIndex(storages, 1000)
    answers = [
        (locate(storages, 1000, n, u), index.locate(1000, n, u))
        for n in range(1, 62)
        for u in (False, True)
    ]
    assert all(a == b for a, b in answers)
    assert sum(a is not None for a, _ in answers) > 30  # the layout is not empty


def test_a_storage_index_is_a_snapshot_of_one_miner(tmp_path):
    root = tmp_path / "s"
    index = StorageIndex({"s": root}, 1000)  # the storage does not exist yet
    sealed, cache = sector_paths(root, 1000, 1)
    sealed.parent.mkdir(parents=True)
    sealed.write_bytes(b"r")
    cache.mkdir(parents=True)
    assert index.locate(1000, 1) is None
    assert StorageIndex({"s": root}, 1000).locate(1000, 1) == ("s", "s")
    with pytest.raises(ValueError, match="miner 1000"):
        index.locate(1001, 1)
