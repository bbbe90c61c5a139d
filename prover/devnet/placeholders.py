"""Miners at mainnet size whose sectors exist only as placeholders.

Nothing on this machine proves a 32GiB sector, but the control plane
(planning, storing, listing, claiming, settling) must be exercised at the
size storage providers run: partitions of 2349 sectors, tens of miners.
A placeholder miner has a real chain state on the devnet (its proof type,
deadlines, partitions, sealed CIDs) and, when asked for, placeholder files
(an empty replica file and an empty cache directory per sector) under a
storage root so that the planner finds every sector where a real one would
be. Its comm_rs are hashes, masked to a field element as real ones are.

Any proof submitted for such a miner is refused like any proof the devnet
cannot verify (the verifying key is not on this machine), so its deadlines
are missed, never proven: tests over them say so.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from prover.devnet.state import DevnetMiner
from prover.proofs import PoStProofType
from prover.proofs.layout import sector_name


def placeholder_comm_r(miner: int, sector: int) -> bytes:
    """A stand-in comm_r: a hash of (miner, sector), a canonical BLS12-381
    scalar as every real comm_r is (so verifiers accept it as input)."""
    digest = bytearray(hashlib.sha256(b"placeholder %d %d" % (miner, sector)).digest())
    digest[31] &= 0x3F
    return bytes(digest)


def placeholder_miner(
    actor_id: int,
    size: str,
    partitions: Mapping[int, int],
    *,
    first_sector: int = 1,
    period_offset: int = 0,
) -> DevnetMiner:
    """A miner with ``partitions[d]`` full partitions in each deadline ``d``,
    numbered from ``first_sector`` upwards, deadline by deadline."""
    pt = PoStProofType.from_sector_size(size)
    deadlines: dict[int, list[list[int]]] = {}
    comm_r: dict[int, bytes] = {}
    n = first_sector
    for d, count in sorted(partitions.items()):
        for _ in range(count):
            sectors = list(range(n, n + pt.partition_sectors))
            deadlines.setdefault(d, []).append(sectors)
            comm_r.update((s, placeholder_comm_r(actor_id, s)) for s in sectors)
            n += pt.partition_sectors
    return DevnetMiner(actor_id, pt.chain_id, period_offset, deadlines, comm_r)


def write_placeholder_files(
    roots: Iterable[Path], miner: DevnetMiner, sectors: Iterable[int] | None = None
) -> int:
    """Places each sector's (empty) replica and cache directory under one of
    ``roots``, round robin, as sectors spread over a miner's storages.
    Returns how many sectors were placed."""
    roots = list(roots)
    for root in roots:
        for sub in ("sealed", "cache"):
            (root / sub).mkdir(parents=True, exist_ok=True)
    placed = sorted(miner.comm_r if sectors is None else sectors)
    # plain strings and syscalls: a large miner has 100,000 sectors to place
    dirs = [(str(root / "sealed"), str(root / "cache")) for root in roots]
    flags = os.O_CREAT | os.O_WRONLY
    for sector in placed:
        sealed, cache = dirs[sector % len(dirs)]
        name = sector_name(miner.actor_id, sector)
        os.close(os.open(f"{sealed}/{name}", flags, 0o644))
        with contextlib.suppress(FileExistsError):
            os.mkdir(f"{cache}/{name}")
    return len(placed)
