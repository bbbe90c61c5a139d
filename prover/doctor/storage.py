"""Storage paths: readable, and one real vanilla proof read from each.

A listing alone says little: a mount whose disk is dying lists fine and
hangs on the first read, and a sector whose tree file was cut short is
listed like a whole one. So the doctor reads what proving reads: one
sector found on the path (by the storage host's own scan,
``lotus_index.scan_sectors``), its vanilla proof over fresh random
challenges through the same bounded, timed read the manager and storage
hosts use (``storage.access.SectorAccess``), then checked
(``verify_vanilla_proof``: the Merkle checks the SNARK makes of a sector).

**Where comm_r comes from.** The check needs the sector's comm_r, which
lives on chain, not in the files. Test sectors (``prover sectors
create-test``, the devnet's store) record it in ``sectors.json`` beside
them, and there the proof is verified in full. On a Lotus or Curio path
there is no such record; the read then runs against a comm_r that cannot
match, and a sector whose files are whole comes back with exactly the
native fault "p_aux does not match comm_r", raised only after every
challenged Merkle path was read and checked against the ``comm_r_last`` in
``p_aux``: the disk and the trees are proven readable, only the last link
to the chain is not (``prover sectors check`` on an admin host verifies
that). Any other answer is the sector's real fault.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from prover.doctor.checks import Check, fail, ok, warn

# the native fault for a p_aux that is not the asked comm_r's (native/src/post.rs)
COMM_R_MISMATCH = "p_aux does not match comm_r"
# a comm_r no sector has: the field element 1 (the native layer refuses an
# all-zero comm_r as a sector that was never sealed)
UNKNOWN_COMM_R = b"\x01" + bytes(31)
CHECK_FIX = "`prover sectors check --miner M` on an admin host lists every sector it cannot prove"


def path_check(name: str, path: Path) -> Check:
    """The storage root is a directory this user can list."""
    label = f"storage {name}"
    if not path.exists():
        return fail(label, f"{path}: does not exist", "mount it, or correct its path ([[storage]])")
    if not path.is_dir():
        return fail(label, f"{path}: not a directory", "point [[storage]] path at the storage root")
    try:
        entries = os.listdir(path)
    except OSError as exc:
        return fail(
            label, f"{path}: cannot be listed: {exc}", "give the user this runs as read access"
        )
    layout = sorted({"sealed", "cache", "update", "update-cache"} & set(entries))
    return ok(label, f"{path}: readable ({', '.join(layout) or 'no sector folders'})")


@dataclass(frozen=True)
class Found:
    """A sector whose replica and cache are both on a storage root."""

    miner: int
    number: int
    upgraded: bool  # its update/ files are what proving reads

    @property
    def label(self) -> str:
        return f"s-t0{self.miner}-{self.number}{' (upgraded)' if self.upgraded else ''}"


def first_sector(root: Path) -> Found | None:
    """The lowest-numbered sector the storage host's scan finds (its update
    files where it has them: those are what is proven)."""
    from prover.storage.lotus_index import FT_SEALED, FT_UPDATE, scan_sectors

    found = scan_sectors(root)
    pairs = sorted({(m, n) for m, n, ft in found if ft in (FT_SEALED, FT_UPDATE)})
    if not pairs:
        return None
    miner, number = pairs[0]
    return Found(miner, number, (miner, number, FT_UPDATE) in found)


def recorded(root: Path, sector: Found):
    """(proof type, comm_r) of a test sector from its ``sectors.json``, or None."""
    from prover.proofs import PoStProofType
    from prover.proofs.testsectors import load_test_sectors

    for pt in PoStProofType:
        for replica in load_test_sectors(root, sector.miner, pt):
            if replica.sector_id == sector.number:
                return pt, replica.comm_r
    return None


def by_size(root: Path, sector: Found):
    """The proof type the replica file's size says, or None."""
    from prover.proofs import InvalidInput, PoStProofType, sector_paths

    replica, _ = sector_paths(root, sector.miner, sector.number, sector.upgraded)
    try:
        return PoStProofType.from_sector_size(replica.stat().st_size)
    except (InvalidInput, OSError):
        return None


def vanilla_check(name: str, root: Path, timeout_s: float) -> Check:
    """One sector's vanilla proof, read and checked (see the module
    docstring for what is checked where comm_r is not known here)."""
    from prover.proofs import SectorRef, generate_challenges, mask_randomness, prover_id
    from prover.storage.access import SectorAccess

    label = f"vanilla proof {name}"
    sector = first_sector(root)
    if sector is None:
        return warn(
            label,
            f"no sector found under {root}",
            "nothing to prove here yet; if there "
            "should be, point the path at the storage root (sealed/, cache/ ...)",
        )
    known = recorded(root, sector)
    pt = known[0] if known else by_size(root, sector)
    if pt is None:
        return fail(label, f"{sector.label}: its replica is no sector size (cut short?)", CHECK_FIX)
    comm_r = known[1] if known else UNKNOWN_COMM_R
    randomness = mask_randomness(secrets.token_bytes(32))
    pid = prover_id(sector.miner)
    challenges = generate_challenges(pt, randomness, pid, [sector.number])
    ref = SectorRef(sector.number, comm_r, name, name, sector.upgraded)
    access = SectorAccess({name: root}, sector_timeout_s=timeout_s, parallelism=1)
    try:
        served = access.prove(sector.miner, pt.chain_id, [ref], challenges)[sector.number]
    finally:
        access.close()
    what = f"{sector.label} ({pt.size_name}) read in {served.seconds:.2f} s"
    if known:
        return _verified(label, sector, what, served, (pt, randomness, pid, comm_r))
    if served.proof is None and COMM_R_MISMATCH not in served.fault:
        return fail(label, f"{sector.label}: {served.fault}", CHECK_FIX)
    return ok(
        label,
        f"{what}; its Merkle paths check against p_aux (comm_r is on chain, not here: "
        "`prover sectors check` verifies it)",
    )


def _verified(label: str, sector: Found, what: str, served, proof_inputs) -> Check:
    """A test sector's answer, verified against its recorded comm_r."""
    from prover.proofs import verify_vanilla_proof

    pt, randomness, pid, comm_r = proof_inputs
    if served.proof is None:
        return fail(label, f"{sector.label}: {served.fault}", CHECK_FIX)
    if not verify_vanilla_proof(pt, randomness, pid, (sector.number, comm_r), served.proof):
        return fail(label, f"{what}, but it does not verify against its comm_r", CHECK_FIX)
    return ok(label, f"{what} and verified (comm_r from sectors.json)")


def storage_checks(storages: dict[str, Path], timeout_s: float, *, vanilla: bool) -> list[Check]:
    """Each storage readable, and with ``vanilla`` one sector proven from it."""
    if not storages:
        return [warn("storage", "no storage configured", "add [[storage]] name/path entries")]
    out: list[Check] = []
    for name, root in sorted(storages.items()):
        readable = path_check(name, root)
        out.append(readable)
        if vanilla and readable.status == "ok":
            out.append(vanilla_check(name, root, timeout_s))
    return out
