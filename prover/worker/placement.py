"""Where each sector of a job is read from: this worker's own mount when it
has the storage, else the storage hosts that serve it (their vanilla
proofs come over the network; no mount needed).

A storage neither mounted here nor known to any storage host is a worker
configured without it: the job goes back to the manager for a worker that
mounts it (as before storage hosts existed). A storage the index knows but
whose hosts are all down, or that no host answers for in time, is a fault of
those sectors: the partition is proven without them, never lost to a
worker handing it round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prover.proofs import MissingStorage, SectorRef, SectorReplica
from prover.storage.remote import HostAddress

# storage names -> the index's hosts serving any of them (live or not)
Locate = Callable[[set[str]], list]


@dataclass
class Placement:
    local: list[SectorReplica] = field(default_factory=list)
    remote: list[SectorRef] = field(default_factory=list)
    hosts: list[HostAddress] = field(default_factory=list)  # live ones
    unreachable: dict[int, str] = field(default_factory=dict)  # sector -> why


def place(
    sectors: Iterable[SectorRef], miner: int, mounts: Mapping[str, Path], locate: Locate
) -> Placement:
    """Splits ``sectors`` between local reads and storage hosts; raises
    ``MissingStorage`` for storages nobody here or in the index has."""
    sectors = list(sectors)
    needed = {n for s in sectors for n in (s.sealed_storage, s.cache_storage)}
    out = Placement()
    missing = needed - set(mounts)
    known: set[str] = set()
    if missing:
        found = locate(missing)
        for h in found:
            known |= set(h.storages)
        out.hosts = [HostAddress.from_pb(h) for h in found if h.live]
    unknown = sorted(missing - known)
    if unknown:
        raise MissingStorage(unknown)
    for s in sectors:
        if {s.sealed_storage, s.cache_storage} <= set(mounts):
            out.local.append(s.replica(miner, mounts))
        elif any(h.serves(s) for h in out.hosts):
            out.remote.append(s)
        else:
            storages = ", ".join(sorted({s.sealed_storage, s.cache_storage} - set(mounts)))
            out.unreachable[s.id] = (
                f"storage {storages}: not mounted on this worker and no live storage host serves it"
            )
    return out
