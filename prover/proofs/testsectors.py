"""Provable test replicas in the Lotus storage layout.

``sealed/s-t0<miner>-<n>`` and ``cache/s-t0<miner>-<n>/`` under a storage
root, as Lotus and damocles lay them out, so that the rest of the service
finds test sectors exactly where it would find real ones. A snap-upgraded
sector also has ``update/`` and ``update-cache/`` files: the sealed replica
stays as its sector key, and proving reads only the update. comm_r is not
stored in the files themselves (on chain it is the sector's SealedCID), so a
``sectors.json`` manifest beside them records it for later runs (and, for
an upgraded sector, the sector key's comm_r: its SectorKeyCID).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from prover.proofs.errors import InvalidInput
from prover.proofs.layout import sector_name, sector_paths
from prover.proofs.native import _native
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
    upgrade: bool = False,
) -> list[SectorReplica]:
    """Makes provable replicas under ``root`` and returns them.

    ``seal=False`` uses fauxrep (a zero-filled replica with real trees, in
    milliseconds); ``seal=True`` seals random data with a real PC1 + PC2
    (2KiB and 8MiB only) and clears the cache down to what proving reads.
    ``upgrade=True`` makes snap-upgraded sectors the way SnapDeals does: a
    committed-capacity sector is sealed for real (its sector key, left in
    ``sealed/`` and ``cache/``), then random deal data is encoded into it by
    the proofs library's empty-sector update into ``update/`` and
    ``update-cache/``; the replicas returned are the update files with the
    new comm_r (fauxrep cannot serve as a sector key: the encoder reads the
    tree layout a real seal records). Existing files of the same sectors are
    replaced.
    """
    pt = PoStProofType.parse(proof_type)
    ids = list(sector_ids)
    if not ids:
        raise InvalidInput("no sector ids given")
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"duplicate sector ids: {ids}")
    if (seal or upgrade) and pt not in (PoStProofType.WINDOW_2KIB, PoStProofType.WINDOW_8MIB):
        what = "upgrading" if upgrade else "sealing"
        raise InvalidInput(f"{what} test sectors is supported for 2KiB and 8MiB, not {pt}")
    root = Path(root)
    pid = prover_id(miner_id)
    (root / "sealed").mkdir(parents=True, exist_ok=True)
    (root / "cache").mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(root)
    out = []
    for sid in ids:
        sealed, cache = sector_paths(root, miner_id, sid)
        update, update_cache = sector_paths(root, miner_id, sid, upgraded=True)
        for d in (cache, update_cache):
            if d.exists():
                for f in d.iterdir():
                    f.unlink()
        update.unlink(missing_ok=True)
        staged = root / "staged" / sector_name(miner_id, sid)
        if seal or upgrade:
            staged.parent.mkdir(exist_ok=True)
            comm_r = _native.seal_sector(
                pt.api_name, sid, pid, str(cache), str(sealed), str(staged), upgrade
            )
        else:
            comm_r = _native.fauxrep(pt.api_name, str(cache), str(sealed))
        entry = {
            "miner": miner_id,
            "sector": sid,
            "proof_type": pt.chain_id,
            "comm_r": comm_r.hex(),
            "sealed": seal or upgrade,
        }
        if upgrade:
            sector_key = comm_r
            comm_r = _native.update_sector(
                pt.api_name, str(sealed), str(cache), str(update), str(update_cache), str(staged)
            )
            entry.update(comm_r=comm_r.hex(), sector_key=sector_key.hex(), upgraded=True)
            sealed, cache = update, update_cache
        manifest["sectors"][sector_name(miner_id, sid)] = entry
        out.append(SectorReplica(sid, comm_r, sealed, cache))
    _write_manifest(root, manifest)
    return out


def load_test_sectors(
    root: str | Path, miner_id: int, proof_type: PoStProofType | str | int
) -> list[SectorReplica]:
    """The test sectors of ``miner_id`` recorded under ``root`` whose files are
    still present, in sector order (an upgraded sector's update files)."""
    pt = PoStProofType.parse(proof_type)
    root = Path(root)
    found = []
    for entry in _read_manifest(root)["sectors"].values():
        if entry["miner"] != miner_id or entry["proof_type"] != pt.chain_id:
            continue
        sid = entry["sector"]
        sealed, cache = sector_paths(root, miner_id, sid, bool(entry.get("upgraded")))
        if sealed.is_file() and (cache / "p_aux").is_file():
            found.append(SectorReplica(sid, bytes.fromhex(entry["comm_r"]), sealed, cache))
    return sorted(found, key=lambda r: r.sector_id)


def sector_keys(root: str | Path, miner_id: int) -> dict[int, bytes]:
    """The sector key comm_r (on chain: SectorKeyCID) of each upgraded test
    sector of ``miner_id`` recorded under ``root``."""
    return {
        e["sector"]: bytes.fromhex(e["sector_key"])
        for e in _read_manifest(Path(root))["sectors"].values()
        if e["miner"] == miner_id and e.get("upgraded")
    }
