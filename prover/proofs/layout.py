"""Where a sector's files are: the one record of a job's sector, and the
storage layout Lotus, Curio and damocles share.

Under a storage root, a sector sealed by the miner keeps its replica in
``sealed/s-t0<miner>-<n>`` and its trees and ``p_aux`` in
``cache/s-t0<miner>-<n>/``; a snap-upgraded sector keeps them in
``update/`` and ``update-cache/`` (docs/DOMAIN.md §8). A job names storages,
not paths: each machine maps a storage name to its own mount point.

``SectorRef`` is the shape a sector has from the tracker that plans a job to
the worker that proves it: the store, the wire and the job file convert to
and from it at their edges, and a worker turns it into a ``SectorReplica``
(paths on its own mounts) with ``resolve``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from prover.proofs.types import SectorReplica

_new = tuple.__new__


def sector_name(miner: int, sector: int) -> str:
    return f"s-t0{miner}-{sector}"


def sector_paths(root: Path, miner: int, sector: int, upgraded: bool = False) -> tuple[Path, Path]:
    """(replica file, cache directory) of a sector under a storage root."""
    name = sector_name(miner, sector)
    if upgraded:
        return root / "update" / name, root / "update-cache" / name
    return root / "sealed" / name, root / "cache" / name


class SectorRef(NamedTuple):
    """One sector of a job: its number, comm_r, the storages holding its
    replica and its cache (often the same), and whether it is snap-upgraded
    (which moves its files to ``update/``).

    A named tuple rather than a dataclass: a 32GiB partition holds 2349 of
    them, and every claim and listing builds them from the stored form, where
    a tuple is built in a third of the time."""

    id: int
    comm_r: bytes
    sealed_storage: str = ""
    cache_storage: str = ""
    upgraded: bool = False

    def to_json(self) -> dict[str, Any]:
        """The stored form (comm_r as hex)."""
        return {
            "id": self.id,
            "comm_r": self.comm_r.hex(),
            "sealed_storage": self.sealed_storage,
            "cache_storage": self.cache_storage,
            "upgraded": self.upgraded,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SectorRef:
        return _new(
            cls,
            (
                int(d["id"]),
                bytes.fromhex(d["comm_r"]),
                d.get("sealed_storage", ""),
                d.get("cache_storage", ""),
                bool(d.get("upgraded", False)),
            ),
        )

    def replica(self, miner: int, storages: Mapping[str, Path]) -> SectorReplica:
        """The sector's files on this machine's mounts; ``MissingStorage``
        when a storage it names is not attached here."""
        missing = sorted({self.sealed_storage, self.cache_storage} - set(storages))
        if missing:
            raise MissingStorage(missing)
        sealed, _ = sector_paths(storages[self.sealed_storage], miner, self.id, self.upgraded)
        _, cache = sector_paths(storages[self.cache_storage], miner, self.id, self.upgraded)
        return SectorReplica(self.id, self.comm_r, sealed, cache)


class MissingStorage(Exception):
    """A job names storages this machine does not attach."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"storage {', '.join(names)} not attached on this worker")
        self.names = names


def resolve(
    sectors: Iterable[SectorRef], miner: int, storages: Mapping[str, Path]
) -> list[SectorReplica]:
    """Every sector's files on this machine; ``MissingStorage`` names all the
    storages that are not attached (not just the first)."""
    sectors = list(sectors)
    missing = sorted(
        {name for s in sectors for name in (s.sealed_storage, s.cache_storage)} - set(storages)
    )
    if missing:
        raise MissingStorage(missing)
    return [s.replica(miner, storages) for s in sectors]


def locate(
    storages: Mapping[str, Path], miner: int, sector: int, upgraded: bool = False
) -> tuple[str, str] | None:
    """(storage of the replica, storage of the cache) where a sector's files
    are on these mounts, or None when either is found nowhere."""
    sealed_on = cache_on = None
    for name, root in storages.items():
        sealed, cache = sector_paths(root, miner, sector, upgraded)
        if sealed_on is None and sealed.is_file():
            sealed_on = name
        if cache_on is None and cache.is_dir():
            cache_on = name
    return (sealed_on, cache_on) if sealed_on and cache_on else None


class StorageIndex:
    """Which of a miner's sector files each storage holds, from one listing
    of its four directories. Planning a 32GiB deadline asks where 50 x 2349
    sectors are; a ``stat`` per sector per storage, over network file
    systems, is what stalls job creation on slow storage (damocles #728).
    Built once per planning pass, so files that appear or vanish are seen
    by the next one. A directory that cannot be read counts as empty, as a
    failed ``stat`` did."""

    def __init__(self, storages: Mapping[str, Path], miner: int) -> None:
        self.__init_from(
            {name: list_sectors(root, miner) for name, root in storages.items()}, miner
        )

    @classmethod
    def of_listings(cls, listings: Mapping[str, Mapping[str, Iterable[int]]], miner: int):
        """The index of listings made elsewhere (storage -> layout directory
        -> sector numbers, as ``list_sectors`` or a storage host returns)."""
        index = cls.__new__(cls)
        index.__init_from(listings, miner)
        return index

    def __init_from(self, listings: Mapping[str, Mapping[str, Iterable[int]]], miner: int) -> None:
        # (upgraded) -> [(storage, replica numbers, cache numbers)] in storage order
        self._held: dict[bool, list[tuple[str, set[int], set[int]]]] = {False: [], True: []}
        for upgraded, sealed_dir, cache_dir in (
            (False, "sealed", "cache"),
            (True, "update", "update-cache"),
        ):
            for name, listing in listings.items():
                files = set(listing.get(sealed_dir, ()))
                dirs = set(listing.get(cache_dir, ()))
                self._held[upgraded].append((name, files, dirs))
        self.miner = miner

    def locate(self, miner: int, sector: int, upgraded: bool = False) -> tuple[str, str] | None:
        """As ``locate``, from the listing (``miner`` must be the index's)."""
        if miner != self.miner:
            raise ValueError(f"this index lists miner {self.miner}'s sectors, not {miner}'s")
        held = self._held[upgraded]
        sealed_on = next((s for s, files, _ in held if sector in files), None)
        cache_on = next((s for s, _, dirs in held if sector in dirs), None)
        return (sealed_on, cache_on) if sealed_on and cache_on else None


# the layout's directories, and whether each holds a directory per sector
LAYOUT_DIRS = (("sealed", False), ("cache", True), ("update", False), ("update-cache", True))


def list_sectors(root: Path, miner: int) -> dict[str, set[int]]:
    """The numbers of ``miner``'s sectors whose files a storage root holds,
    per layout directory, from one listing of each."""
    return {d: _numbers(root / d, miner, want_dir=is_dir) for d, is_dir in LAYOUT_DIRS}


def _numbers(directory: Path, miner: int, *, want_dir: bool) -> set[int]:
    prefix = sector_name(miner, 0)[:-1]  # "s-t0<miner>-"
    out = set()
    try:
        with os.scandir(directory) as entries:
            for e in entries:
                tail = e.name[len(prefix) :]
                kind_ok = e.is_dir() if want_dir else e.is_file()
                if e.name.startswith(prefix) and tail.isdigit() and kind_ok:
                    out.add(int(tail))
    except OSError:
        pass
    return out
