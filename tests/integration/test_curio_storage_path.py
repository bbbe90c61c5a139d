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

from conftest import KIB2, MINER
from prover.api.client import ApiInfo
from prover.proofs import SectorRef, prove_partition, verify_window_post
from prover.proofs.layout import list_sectors, sector_name
from prover.storage.config import StorageHostConfig
from prover.storage.daemon import StorageHost
from prover.storage.remote import HostAddress, RemoteVanilla, fetch_for
from prover.storage.sectorstore import storage_option

DATA = Path(__file__).resolve().parents[1] / "data" / "curio"
STORE_ID = "5e0c7a41-9d2b-4f38-a6c1-0b8e3f5d7a92"
TOKEN = "worker.0123456789abcdef"
NO_MANAGER = ApiInfo(TOKEN, "127.0.0.1:9")  # announcing fails quietly: not under test here


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
    config = StorageHostConfig.model_validate(
        {"name": "curio-host", "listen": "127.0.0.1:0", "storage": [{"path": str(root)}]}
    )
    assert config.storages == {STORE_ID: root}
    host = StorageHost(config, NO_MANAGER).start()
    try:
        address = HostAddress("curio-host", f"127.0.0.1:{host.port}", frozenset([STORE_ID]))
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
