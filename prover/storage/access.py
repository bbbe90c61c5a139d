"""How the manager reaches sector files: its own mounts where it has them,
else the storage hosts of its index. Planning asks where each sector is
(``index``: one listing per storage, from the mount or from a host's
ListSectors); recovery checks and ``prover sectors check`` ask for vanilla
proofs (``prove``: read locally, or through ``RemoteVanilla`` with its
failover and timeouts). So neither needs a mount on the manager.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import grpc

from prover._proto import storage_pb2 as spb
from prover.logs import get_logger
from prover.proofs import PoStProofType, SectorFault, SectorRef, vanilla_proof
from prover.proofs.layout import StorageIndex, list_sectors
from prover.storage.pool import CheckPool
from prover.storage.remote import HostAddress, RemoteVanilla, Served

log = get_logger("prover.storage.access")

LOCAL = "local"


class SectorAccess:
    def __init__(
        self,
        mounts: Mapping[str, Path],
        hosts: Callable[[], list[HostAddress]] = list,
        token: str = "",
        *,
        ca_file: str | Path | None = None,
        sector_timeout_s: float = 60.0,
        parallelism: int = 32,
    ) -> None:
        self.mounts = dict(mounts)
        self.hosts = hosts  # the live storage hosts, asked afresh each time
        self.token = token
        self.ca_file = ca_file
        self.sector_timeout_s = sector_timeout_s
        self.parallelism = parallelism
        self._pool: CheckPool | None = None
        self._lock = threading.Lock()
        self._batches = 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    # ---- where sectors are -----------------------------------------------------------

    def index(self, miner: int) -> StorageIndex:
        """Which storage holds each of ``miner``'s sectors: each mount listed
        here, each other storage by the first live host that lists it (a
        host that does not answer is skipped: its storages read as empty,
        as an unreadable mount does)."""
        listings: dict[str, dict[str, set[int]]] = {
            name: list_sectors(root, miner) for name, root in self.mounts.items()
        }
        hosts = self.hosts() if self.token else []
        with RemoteVanilla(
            hosts, self.token, sector_timeout_s=self.sector_timeout_s, ca_file=self.ca_file
        ) as remote:
            for host in hosts:
                todo = host.storages - set(listings)
                if not todo:
                    continue
                try:
                    resp = remote.stub(host).ListSectors(
                        spb.ListSectorsRequest(miner=miner),
                        metadata=remote.metadata,
                        timeout=self.sector_timeout_s,
                    )
                except grpc.RpcError as exc:
                    log.warning(
                        "storage_listing_failed", host=host.name, miner=miner, error=exc.details()
                    )
                    continue
                for s in resp.storages:
                    if s.storage in todo and s.storage not in listings:
                        listings[s.storage] = {
                            "sealed": set(s.sealed),
                            "cache": set(s.cache),
                            "update": set(s.update),
                            "update-cache": set(s.update_cache),
                        }
        return StorageIndex.of_listings(listings, miner)

    # ---- vanilla proofs ---------------------------------------------------------------

    def prove(
        self,
        miner: int,
        proof_type: int,
        sectors: Sequence[SectorRef],
        challenges: Mapping[int, Sequence[int]],
    ) -> dict[int, Served]:
        """Each sector's vanilla proof or fault: read from the mounts when
        both its storages are mounted here, else from the storage hosts."""
        mounted = set(self.mounts)
        local = [s for s in sectors if {s.sealed_storage, s.cache_storage} <= mounted]
        far = [s for s in sectors if not {s.sealed_storage, s.cache_storage} <= mounted]
        out: dict[int, Served] = {}
        fetched: dict[int, Served] = {}
        fetcher = None
        if far:

            def fetch() -> None:
                hosts = self.hosts() if self.token else []
                with RemoteVanilla(
                    hosts, self.token, sector_timeout_s=self.sector_timeout_s, ca_file=self.ca_file
                ) as remote:
                    fetched.update(remote.prove(miner, proof_type, far, challenges))

            fetcher = threading.Thread(target=fetch, name="sectors-remote", daemon=True)
            fetcher.start()
        if local:
            out.update(self._read_locally(miner, proof_type, local, challenges))
        if fetcher is not None:
            fetcher.join()
            out.update(fetched)
        return out

    def _read_locally(
        self,
        miner: int,
        proof_type: int,
        sectors: Sequence[SectorRef],
        challenges: Mapping[int, Sequence[int]],
    ) -> dict[int, Served]:
        """On this machine's mounts, through a pool that bounds and times the
        reads (a hung mount is written off, never waited on)."""
        with self._lock:
            if self._pool is None:
                self._pool = CheckPool(self.parallelism, self.sector_timeout_s, name="local-read")
            self._batches += 1
            key = ("local", self._batches)
        pool = self._pool
        pt = PoStProofType.from_chain_id(proof_type)
        by_id = {s.id: s for s in sectors}
        began: dict[int, float] = {}
        answers: queue.Queue = queue.Queue()

        def read(n: int) -> object:
            began[n] = time.monotonic()
            try:
                return vanilla_proof(pt, by_id[n].replica(miner, self.mounts), challenges[n])
            except SectorFault as fault:
                return fault.reason
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"

        t0 = time.monotonic()
        pool.start(
            key,
            sorted(by_id),
            read,
            lambda n, r: answers.put((n, r, time.monotonic() - began.get(n, t0))),
        )
        out: dict[int, Served] = {}
        while len(out) < len(by_id):
            n, r, seconds = answers.get()
            if isinstance(r, bytes):
                out[n] = Served(n, r, "", LOCAL, seconds)
            else:
                out[n] = Served(n, None, str(r), LOCAL, seconds)
        pool.cancel(key)
        return out
