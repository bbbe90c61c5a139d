"""A storage host over real gRPC on loopback, serving a Lotus storage path
as it is: real sectors in the Lotus layout beside the path's
sectorstore.json (tests/data/lotus), named by its ID, with nothing renamed.
A worker asks for them by that ID and the proof verifies."""

from __future__ import annotations

import shutil
from pathlib import Path

from storage_path_proof import assert_served_by_id_and_proven

from prover.storage.sectorstore import storage_option

DATA = Path(__file__).resolve().parents[1] / "data" / "lotus"
STORE_ID = "b7c2d915-48e0-4f6a-8c3d-91e5a0f27b64"


def test_a_lotus_storage_path_is_served_by_its_id(make_sectors, tmp_path, randomness, pid):
    root = tmp_path / "lotus-store"
    replicas = make_sectors([1, 2], root=root)
    shutil.copy(DATA / "store-path" / "sectorstore.json", root / "sectorstore.json")
    # given as prover-storage --storage PATH, and as [[storage]] path = PATH
    assert storage_option(str(root)) == (STORE_ID, root)
    assert_served_by_id_and_proven(root, STORE_ID, "lotus-host", replicas, randomness, pid)
