"""Provable test replicas in the Lotus storage layout.

``sealed/s-t0<miner>-<n>`` and ``cache/s-t0<miner>-<n>/`` under a storage
root, as Lotus and damocles lay them out, so that the rest of the service
finds test sectors exactly where it would find real ones. comm_r is not
stored in the files themselves (on chain it is the sector's SealedCID), so a
``sectors.json`` manifest beside them records it for later runs.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from prover import _native
from prover.proofs.errors import InvalidInput
from prover.proofs.layout import sector_name, sector_paths
from prover.proofs.types import PoStProofType, SectorReplica, prover_id

MANIFEST = "sectors.json"


def _read_manifest(root: Path) -> dict:
    try:
        return json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        return {"sectors": {}}


def _write_manifest(root: Path, manifest: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".sectors-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(tmp, root / MANIFEST)


def create_test_sectors(
    root: str | Path,
    miner_id: int,
    sector_ids: Iterable[int],
    proof_type: PoStProofType | str | int,
    *,
    seal: bool = False,
) -> list[SectorReplica]:
    """Makes provable replicas under ``root`` and returns them.

    ``seal=False`` uses fauxrep (a zero-filled replica with real trees, in
    milliseconds); ``seal=True`` seals random data with a real PC1 + PC2
    (2KiB and 8MiB only) and clears the cache down to what proving reads.
    Existing files of the same sectors are replaced.
    """
    pt = PoStProofType.parse(proof_type)
    ids = list(sector_ids)
    if not ids:
        raise InvalidInput("no sector ids given")
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"duplicate sector ids: {ids}")
    if seal and pt not in (PoStProofType.WINDOW_2KIB, PoStProofType.WINDOW_8MIB):
        raise InvalidInput(f"sealing test sectors is supported for 2KiB and 8MiB, not {pt}")
    root = Path(root)
    pid = prover_id(miner_id)
    (root / "sealed").mkdir(parents=True, exist_ok=True)
    (root / "cache").mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(root)
    out = []
    for sid in ids:
        sealed, cache = sector_paths(root, miner_id, sid)
        if cache.exists():
            for f in cache.iterdir():
                f.unlink()
        if seal:
            staged = root / "staged" / sector_name(miner_id, sid)
            staged.parent.mkdir(exist_ok=True)
            comm_r = _native.seal_sector(
                pt.api_name, sid, pid, str(cache), str(sealed), str(staged)
            )
        else:
            comm_r = _native.fauxrep(pt.api_name, str(cache), str(sealed))
        manifest["sectors"][sector_name(miner_id, sid)] = {
            "miner": miner_id,
            "sector": sid,
            "proof_type": pt.chain_id,
            "comm_r": comm_r.hex(),
            "sealed": seal,
        }
        out.append(SectorReplica(sid, comm_r, sealed, cache))
    _write_manifest(root, manifest)
    return out


def load_test_sectors(
    root: str | Path, miner_id: int, proof_type: PoStProofType | str | int
) -> list[SectorReplica]:
    """The test sectors of ``miner_id`` recorded under ``root`` whose files are
    still present, in sector order."""
    pt = PoStProofType.parse(proof_type)
    root = Path(root)
    found = []
    for entry in _read_manifest(root)["sectors"].values():
        if entry["miner"] != miner_id or entry["proof_type"] != pt.chain_id:
            continue
        sid = entry["sector"]
        sealed, cache = sector_paths(root, miner_id, sid)
        if sealed.is_file() and (cache / "p_aux").is_file():
            found.append(SectorReplica(sid, bytes.fromhex(entry["comm_r"]), sealed, cache))
    return sorted(found, key=lambda r: r.sector_id)
