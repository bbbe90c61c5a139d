"""Where a job's sector files are on this worker: storage names from the job
mapped to this machine's mount points (damocles' [[attached]]), in the
Lotus layout."""

from __future__ import annotations

from pathlib import Path

from prover.proofs import SectorReplica


class MissingStorage(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"storage {', '.join(names)} not attached on this worker")
        self.names = names


def sector_paths(root: Path, miner: int, sector_id: int, upgraded: bool) -> tuple[Path, Path]:
    name = f"s-t0{miner}-{sector_id}"
    if upgraded:
        return root / "update" / name, root / "update-cache" / name
    return root / "sealed" / name, root / "cache" / name


def resolve(job_sectors: list[dict], miner: int, storages: dict[str, Path]) -> list[SectorReplica]:
    missing = sorted(
        {s[k] for s in job_sectors for k in ("sealed_storage", "cache_storage")} - set(storages)
    )
    if missing:
        raise MissingStorage(missing)
    out = []
    for s in job_sectors:
        sealed, _ = sector_paths(storages[s["sealed_storage"]], miner, s["id"], s["upgraded"])
        _, cache = sector_paths(storages[s["cache_storage"]], miner, s["id"], s["upgraded"])
        out.append(SectorReplica(s["id"], s["comm_r"], sealed, cache))
    return out
