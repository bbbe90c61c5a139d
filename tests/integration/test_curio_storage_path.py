"""A storage host serving a Curio storage path as it is: Curio lays a path
out as lotus-miner does (sectorstore.json, sealed/, cache/, update/,
update-cache/) and adds key/ (its unseal keys) and piece/, with its own
temporary entries (fetching/, *.tmp) and a sectorstore.json of the same
fields (tests/data/curio, as `curio cli storage attach --init` writes it,
the key type allowed). The extra folders are not sectors: only the
sealed/cache pairs are listed, and a worker's proof over them verifies."""

from __future__ import annotations

import shutil
from pathlib import Path

from storage_path_proof import assert_served_by_id_and_proven

from conftest import MINER
from prover.proofs.layout import list_sectors, sector_name
from prover.storage.sectorstore import storage_option

DATA = Path(__file__).resolve().parents[1] / "data" / "curio"
STORE_ID = "5e0c7a41-9d2b-4f38-a6c1-0b8e3f5d7a92"


def _curio_extras(root: Path) -> None:
    """What Curio keeps beside the sectors: unseal keys, pieces, unsealed
    copies, a fetch in progress, a sector being written."""
    for folder in ("key", "piece", "unsealed", "fetching"):
        (root / folder).mkdir(exist_ok=True)
    (root / "key" / sector_name(MINER, 1)).write_bytes(b"\0" * 32)
    (root / "key" / sector_name(MINER, 7)).write_bytes(b"\0" * 32)
    (root / "unsealed" / sector_name(MINER, 7)).write_bytes(b"\0" * 64)
    (root / "fetching" / sector_name(MINER, 8)).write_bytes(b"\0" * 64)
    (root / "sealed" / f"{sector_name(MINER, 9)}.tmp").write_bytes(b"\0" * 64)


def test_a_curio_storage_path_is_served_by_its_id(make_sectors, tmp_path, randomness, pid):
    root = tmp_path / "curio-store"
    replicas = make_sectors([1, 2], root=root)
    shutil.copy(DATA / "store-path" / "sectorstore.json", root / "sectorstore.json")
    _curio_extras(root)
    assert storage_option(str(root)) == (STORE_ID, root)
    listed = list_sectors(root, MINER)
    assert listed["sealed"] == {1, 2} and listed["cache"] == {1, 2}  # key/ etc. are not sectors
    assert_served_by_id_and_proven(root, STORE_ID, "curio-host", replicas, randomness, pid)
