"""A storage host over real gRPC on loopback, serving a Lotus storage path
as it is: real sectors in the Lotus layout beside the path's
sectorstore.json (tests/data/lotus), named by its ID, with nothing renamed.
A worker asks for them by that ID and the proof verifies."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import KIB2, MINER
from prover.api.client import ApiInfo
from prover.proofs import SectorRef, prove_partition, verify_window_post
from prover.storage.config import StorageHostConfig
from prover.storage.daemon import StorageHost
from prover.storage.remote import HostAddress, RemoteVanilla, fetch_for
from prover.storage.sectorstore import storage_option

DATA = Path(__file__).resolve().parents[1] / "data" / "lotus"
STORE_ID = "b7c2d915-48e0-4f6a-8c3d-91e5a0f27b64"
TOKEN = "worker.0123456789abcdef"
NO_MANAGER = ApiInfo(TOKEN, "127.0.0.1:9")  # announcing fails quietly: not under test here


def test_a_lotus_storage_path_is_served_by_its_id(make_sectors, tmp_path, randomness, pid):
    root = tmp_path / "lotus-store"
    replicas = make_sectors([1, 2], root=root)
    shutil.copy(DATA / "store-path" / "sectorstore.json", root / "sectorstore.json")
    # given as prover-storage --storage PATH, and as [[storage]] path = PATH
    assert storage_option(str(root)) == (STORE_ID, root)
    config = StorageHostConfig.model_validate(
        {"name": "lotus-host", "listen": "127.0.0.1:0", "storage": [{"path": str(root)}]}
    )
    assert config.storages == {STORE_ID: root}
    host = StorageHost(config, NO_MANAGER).start()
    try:
        address = HostAddress("lotus-host", f"127.0.0.1:{host.port}", frozenset([STORE_ID]))
        sectors = [SectorRef(r.sector_id, r.comm_r, STORE_ID, STORE_ID) for r in replicas]
        with RemoteVanilla([address], TOKEN, sector_timeout_s=30) as remote:
            proof = prove_partition(
                KIB2,
                randomness,
                pid,
                [],
                0,
                remote=[(s.id, s.comm_r) for s in sectors],
                fetch_remote=fetch_for(remote, MINER, KIB2.chain_id, sectors),
            )
        assert proof.skipped == []
        assert verify_window_post(
            KIB2, randomness, pid, [(s.id, s.comm_r) for s in sectors], proof.proof
        )
    finally:
        host.stop()
