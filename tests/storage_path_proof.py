"""A storage path served as it is by a real storage host over loopback
gRPC, and a worker's proof over its sectors fetched from that host: what
the Lotus and Curio storage-path tests both assert once the path is laid
out their way."""

from __future__ import annotations

from pathlib import Path

from conftest import KIB2, MINER
from prover.api.client import ApiInfo
from prover.proofs import SectorRef, SectorReplica, prove_partition, verify_window_post
from prover.storage.config import StorageHostConfig
from prover.storage.daemon import StorageHost
from prover.storage.remote import HostAddress, RemoteVanilla, fetch_for

TOKEN = "worker.0123456789abcdef"
NO_MANAGER = ApiInfo(TOKEN, "127.0.0.1:9")  # announcing fails quietly: not under test here


def assert_served_by_id_and_proven(
    root: Path,
    store_id: str,
    host_name: str,
    replicas: list[SectorReplica],
    randomness: bytes,
    pid: bytes,
) -> None:
    """``root`` given as ``[[storage]] path`` is named by its sectorstore.json
    ID; a worker asking for the sectors by that ID gets a proof that verifies."""
    config = StorageHostConfig.model_validate(
        {"name": host_name, "listen": "127.0.0.1:0", "storage": [{"path": str(root)}]}
    )
    assert config.storages == {store_id: root}
    host = StorageHost(config, NO_MANAGER).start()
    try:
        address = HostAddress(host_name, f"127.0.0.1:{host.port}", frozenset([store_id]))
        sectors = [SectorRef(r.sector_id, r.comm_r, store_id, store_id) for r in replicas]
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
