"""Are a proof type's parameter files whole? The check behind ``prover params
check``, and its quick form that workers and the manager run at start.

**What the files must be.** The proofs library carries the list of the
official files in its own ``parameters.json`` (file name -> ``cid``,
``digest``, ``sector_size``; the list Lotus' ``fetch-params`` checks). The
native module hands out the very copy the built library embeds
(``_native.PARAMETERS_JSON``), so the list always matches the circuits
this build proves with. The ``digest`` is the BLAKE2b-512 hash of the whole
file, hex, cut to its first 32 characters (16 bytes): storage-proofs-core's
``verify_production_entry`` and go-paramfetch's ``checkFile`` both compute
it that way.

**Which files.** A WindowPoSt proof of one sector size needs one
``.params`` (the Groth16 proving parameters) and its ``.vk``, named
``v28-proof-of-spacetime-fallback-merkletree-poseidon_hasher-8-<shape>-<id>``
where the library derives ``<id>`` from the circuit's parameters
(``parameter_files``). Snap-upgraded sectors are proven with the same PoSt
circuit over their update replica, so they need nothing more; the
empty-sector-update and inner-product (SRS) files serve sealing, upgrading
and aggregation, never WindowPoSt.

**Sizes.** ``parameters.json`` names no sizes, and a table kept by hand
would drift from the library. A Groth16 file states its own: the verifying
key's ``ic`` count, then each vector of the parameters (``h``, ``l``,
``a``, ``b_g1``, ``b_g2``) preceded by its length, points uncompressed
(96 bytes in G1, 192 in G2), as bellperson writes and maps them. Reading
those few length fields gives the size the file must have, at the cost of
six small reads: a file shorter than that is truncated, whichever file it
is. A file longer than its header says is only caught by the full check
(its digest), unless it is recorded test parameters, whose exact size is
known; the quick check does not refuse it, lest a file that carries more
than the library reads be refused for nothing.

**The quick form** (workers and the manager at start): each file present,
as long as its header says (exactly the recorded size for test
parameters), and the files small enough to hash at once (up to
``SMALL_FILE``: the verifying keys) hashed as in the full check. It takes
milliseconds where the full check reads tens of gigabytes for 32GiB.

**Test parameters.** ``prover params generate`` makes random parameters
for 2KiB and 8MiB under the official names (the circuit is the same). The
files are recorded, with their sizes and digests, in a record beside them
(``<name>.test.json``, written by ``ensure_test_params``): a file whose
digest is the official one is official, one whose digest is its record's
is test parameters (reported as such, never as official), and one that
matches neither is wrong, so a generated file that is truncated or has a
flipped byte is caught as surely as an official one.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from prover.proofs.native import _native
from prover.proofs.types import PoStProofType

# the digest parameters.json records: BLAKE2b-512, hex, its first 32 characters
DIGEST_HEX_CHARS = 32
# the quick check hashes files up to this size (verifying keys: a few KB)
SMALL_FILE = 1 << 20
# uncompressed BLS12-381 points, as bellperson writes parameters
G1_BYTES = 96
G2_BYTES = 192
# the verifying key before its ic vector: alpha_g1, beta_g1, beta_g2,
# gamma_g2, delta_g1, delta_g2
_VK_FIXED = 3 * G1_BYTES + 3 * G2_BYTES
# the vectors after the verifying key in a .params file, by point size
_PARAMS_VECTORS = (G1_BYTES, G1_BYTES, G1_BYTES, G1_BYTES, G2_BYTES)  # h, l, a, b_g1, b_g2
_U32 = struct.Struct(">I")

TEST_RECORD_SUFFIX = ".test.json"

# a file's status
OK = "ok"
MISSING = "missing"
TRUNCATED = "truncated"
WRONG_SIZE = "wrong size"
WRONG_DIGEST = "wrong digest"
UNREADABLE = "unreadable"
# where an ok file comes from
OFFICIAL = "official"
TEST = "test"


@dataclass(frozen=True)
class Published:
    """One entry of the library's parameters.json."""

    cid: str
    digest: str
    sector_size: int


@lru_cache(maxsize=1)
def published() -> Mapping[str, Published]:
    """The official files by name, as the built library lists them."""
    raw = json.loads(_native.PARAMETERS_JSON)
    return {
        name: Published(e["cid"], e["digest"], int(e["sector_size"])) for name, e in raw.items()
    }


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """The digest parameters.json records for a file's content."""
    h = hashlib.blake2b()  # 64-byte digest, as the library's and go-paramfetch's
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()[:DIGEST_HEX_CHARS]


def groth16_size(path: str | Path, kind: str) -> int | None:
    """The size a Groth16 ``.params`` or ``.vk`` file must have, read from
    the vector lengths it states; None when the file ends before its header
    does (truncated there). Raises OSError when it cannot be read."""
    with open(path, "rb") as f:
        offset = _VK_FIXED
        vectors = (G1_BYTES,) if kind == "vk" else (G1_BYTES, *_PARAMS_VECTORS)
        for point in vectors:
            f.seek(offset)
            raw = f.read(_U32.size)
            if len(raw) < _U32.size:
                return None
            (count,) = _U32.unpack(raw)
            offset += _U32.size + count * point
    return offset


def _kind(path: Path) -> str:
    return "vk" if path.suffix == ".vk" else "params"


# ---- the record of generated test parameters ------------------------------------


def record_path(params: Path) -> Path:
    """Where the record of generated test parameters for ``params`` lives."""
    return params.with_name(params.stem + TEST_RECORD_SUFFIX)


def read_test_record(params: Path) -> dict[str, tuple[int, str]]:
    """File name -> (size, digest) of the test parameters recorded beside
    ``params``; empty when there is no (readable) record."""
    try:
        raw = json.loads(record_path(params).read_text())
        return {name: (int(e["size"]), str(e["digest"])) for name, e in raw["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_test_record(proof_type: PoStProofType, params: Path, vk: Path) -> Path:
    """Records ``params`` and ``vk`` as generated test parameters: their
    sizes and digests, beside them (written aside, then renamed: a reader
    never sees half a record)."""
    record = {
        "note": "random TEST parameters made by `prover params generate`: valid for local "
        "use only, never on a real network",
        "proof_type": proof_type.api_name,
        "sector_size": proof_type.sector_size,
        "files": {
            p.name: {"size": p.stat().st_size, "digest": file_digest(p)} for p in (params, vk)
        },
    }
    path = record_path(params)
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def record_earlier_test_parameters(proof_type: PoStProofType, params: Path, vk: Path) -> bool:
    """Records test parameters generated before they were recorded, once:
    2KiB or 8MiB files with the generator's ``.meta`` beside them (the
    official files come without one), whole as far as their headers tell,
    and not the official bytes. Official files, files already recorded and
    files that are not whole are left alone (the check names the latter).
    True when a record was written; a directory that cannot be written is
    left as it is."""
    if proof_type.sector_size > 8 << 20 or not params.with_suffix(".meta").is_file():
        return False
    if read_test_record(params) or not (params.is_file() and vk.is_file()):
        return False
    try:
        for path in (params, vk):
            if groth16_size(path, _kind(path)) != path.stat().st_size:
                return False
        if any(
            file_digest(p) == getattr(published().get(p.name), "digest", None) for p in (params, vk)
        ):
            return False
        write_test_record(proof_type, params, vk)
    except OSError:
        return False
    return True


# ---- the check -------------------------------------------------------------------


@dataclass(frozen=True)
class FileCheck:
    """One file's verdict. ``origin`` says what an ok file is (``official``
    or ``test``; empty when unknown, as for a large file the quick check
    did not hash and that has no record); ``expected_size`` is what its
    record or header says; ``digest`` is set when it was hashed."""

    proof_type: PoStProofType
    path: Path
    status: str
    detail: str = ""
    origin: str = ""
    size: int | None = None
    expected_size: int | None = None
    digest: str | None = None
    expected_digest: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        return _kind(self.path)

    def describe(self) -> str:
        """One line for people: what is wrong (or right) with the file."""
        what = self.status if self.ok or not self.detail else f"{self.status}: {self.detail}"
        if self.ok:
            what = {
                OFFICIAL: "ok (official)",
                TEST: "ok (TEST parameters, local use only)",
            }.get(self.origin, "ok")
        return f"{self.name}: {what}"

    def as_dict(self) -> dict:
        return {
            "proof_type": self.proof_type.size_name,
            "kind": self.kind,
            "file": self.name,
            "path": str(self.path),
            "status": self.status,
            "ok": self.ok,
            "origin": self.origin,
            "detail": self.detail,
            "size": self.size,
            "expected_size": self.expected_size,
            "digest": self.digest,
            "expected_digest": self.expected_digest,
        }


@dataclass(frozen=True)
class CheckReport:
    directory: Path
    full: bool
    files: tuple[FileCheck, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def problems(self) -> list[FileCheck]:
        return [f for f in self.files if not f.ok]

    def refused(self) -> dict[PoStProofType, list[FileCheck]]:
        """The proof types with a file that is not ok, and those files."""
        out: dict[PoStProofType, list[FileCheck]] = {}
        for f in self.problems:
            out.setdefault(f.proof_type, []).append(f)
        return out

    def as_dict(self) -> dict:
        return {
            "directory": str(self.directory),
            "mode": "full" if self.full else "quick",
            "ok": self.ok,
            "files": [f.as_dict() for f in self.files],
            "problems": len(self.problems),
        }


def check_file(
    proof_type: PoStProofType,
    path: Path,
    *,
    full: bool,
    record: Mapping[str, tuple[int, str]] | None = None,
) -> FileCheck:
    """The verdict on one file (see the module docstring)."""
    pt = proof_type
    if not path.is_file():
        return FileCheck(pt, path, MISSING, f"not found in {path.parent}")
    entry = published().get(path.name)
    recorded = (record or {}).get(path.name)
    try:
        size = path.stat().st_size
        header = groth16_size(path, _kind(path))
    except OSError as exc:
        return FileCheck(pt, path, UNREADABLE, f"{type(exc).__name__}: {exc}")
    expected = recorded[0] if recorded else header
    facts = {"size": size, "expected_size": expected}
    if header is None:
        return FileCheck(pt, path, TRUNCATED, f"{size} bytes: ends inside its header", **facts)
    if size < expected:
        return FileCheck(
            pt, path, TRUNCATED, f"{size} of {expected} bytes ({expected - size} missing)", **facts
        )
    if recorded and size != expected:
        return FileCheck(
            pt, path, WRONG_SIZE, f"{size} bytes, recorded as {expected} bytes", **facts
        )
    if not full and size > SMALL_FILE:
        # present and long enough; only the full check reads it all
        return FileCheck(pt, path, OK, origin=TEST if recorded else "", **facts)
    digest = file_digest(path)
    facts["digest"] = digest
    if entry is not None and digest == entry.digest:
        return FileCheck(pt, path, OK, origin=OFFICIAL, expected_digest=entry.digest, **facts)
    if recorded and digest == recorded[1]:
        return FileCheck(pt, path, OK, origin=TEST, expected_digest=recorded[1], **facts)
    if recorded:
        return FileCheck(
            pt,
            path,
            WRONG_DIGEST,
            f"digest {digest}, recorded test parameters have {recorded[1]}",
            expected_digest=recorded[1],
            **facts,
        )
    if entry is not None:
        hint = ""
        if pt.sector_size <= 8 << 20:
            hint = f"; `prover params generate --size {pt.size_name}` records earlier ones"
        return FileCheck(
            pt,
            path,
            WRONG_DIGEST,
            f"digest {digest}, the official file has {entry.digest} "
            f"(nor is it recorded as test parameters{hint})",
            expected_digest=entry.digest,
            **facts,
        )
    return FileCheck(
        pt, path, WRONG_DIGEST, "not a file the proofs library publishes, nor recorded", **facts
    )


def proof_type_files(proof_type: PoStProofType, directory: Path) -> tuple[Path, Path]:
    params, vk = _native.parameter_files(proof_type.api_name, str(directory))
    return Path(params), Path(vk)


def default_directory() -> Path:
    return Path(_native.parameter_cache_dir())


def check_parameters(
    proof_types: Iterable[PoStProofType | str | int],
    directory: str | Path | None = None,
    *,
    full: bool = True,
    verifying_keys_only: bool = False,
    record_earlier: bool = False,
) -> CheckReport:
    """Checks the files ``proof_types`` need in ``directory`` (default: the
    library's); ``full`` hashes every file, else the quick form.
    ``verifying_keys_only``: only the ``.vk`` files (what a verifier needs).
    ``record_earlier``: first record test parameters generated before
    they were recorded (``record_earlier_test_parameters``), as the daemons
    do at start so that an upgrade does not refuse them."""
    directory = Path(directory) if directory is not None else default_directory()
    files: list[FileCheck] = []
    for pt in dict.fromkeys(PoStProofType.parse(p) for p in proof_types):
        params, vk = proof_type_files(pt, directory)
        if record_earlier:
            record_earlier_test_parameters(pt, params, vk)
        record = read_test_record(params)
        for path in (vk,) if verifying_keys_only else (params, vk):
            files.append(check_file(pt, path, full=full, record=record))
    return CheckReport(directory, full, tuple(files))


def quick_check(
    proof_types: Iterable[PoStProofType | str | int],
    directory: str | Path | None = None,
    *,
    verifying_keys_only: bool = False,
    record_earlier: bool = False,
) -> CheckReport:
    """The start-up form: present, of the right size, small files hashed."""
    return check_parameters(
        proof_types,
        directory,
        full=False,
        verifying_keys_only=verifying_keys_only,
        record_earlier=record_earlier,
    )


def present_proof_types(directory: str | Path | None = None) -> list[PoStProofType]:
    """The proof types with at least one of their files in ``directory``."""
    directory = Path(directory) if directory is not None else default_directory()
    return [pt for pt in PoStProofType if any(p.exists() for p in proof_type_files(pt, directory))]
