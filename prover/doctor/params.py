"""Proof parameters for the sizes this host will prove (a worker: the
``.params`` and ``.vk``; the manager: the ``.vk`` it verifies with), by the
quick form of ``prover params check``: present, as long as their Groth16
headers say, the small verifying keys hashed. The full check reads tens of
gigabytes for 32GiB; this takes milliseconds, and is what the daemons run
at start, so the doctor says in advance what they would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prover.doctor.checks import Check, fail, ok
from prover.doctor.host import NEEDS

if TYPE_CHECKING:
    from prover.proofs import PoStProofType
    from prover.proofs.paramcheck import CheckReport, FileCheck

TEST_SIZES = ("2KiB", "8MiB")


def parameter_dir() -> Path:
    """Where the proofs library reads parameters in this process
    (``FIL_PROOFS_PARAMETER_CACHE``, else its default)."""
    from prover.proofs.paramcheck import default_directory

    return default_directory()


def present_sizes(directory: Path) -> list[PoStProofType]:
    from prover.proofs.paramcheck import present_proof_types

    return present_proof_types(directory)


def mend(size: str, verifying_keys_only: bool, wrong: list[FileCheck] | None = None) -> str:
    """The command that puts a size's files right. ``prover params fetch``
    takes a wrong or cut file as a partial one and fetches it again; test
    parameters are made again only once the pair is gone (``params
    generate`` leaves files that are there alone, whole or not)."""
    if size in TEST_SIZES:
        command = f"prover params generate --size {size} (test parameters, local use only)"
        if wrong:
            stem = wrong[0].path.with_suffix("")
            return f"remove {stem}.* (the pair and its record), then {command}"
        return command
    role = " --role manager" if verifying_keys_only else ""
    return f"prover params fetch --sizes {size}{role}"


def size_check(
    proof_type: PoStProofType, report: CheckReport, *, verifying_keys_only: bool
) -> Check:
    """One size's verdict from its part of a quick check's report."""
    size = proof_type.size_name
    name = f"parameters {size}"
    files = [f for f in report.files if f.proof_type == proof_type]
    bad = [f for f in files if not f.ok]
    if bad:
        missing = [f.name for f in bad if f.status == "missing"]
        said = [f"{' and '.join(missing)} missing"] if missing else []
        said += [f.describe() for f in bad if f.status != "missing"]
        wrong = [f for f in bad if f.status != "missing"]
        return fail(
            name,
            "; ".join(said) + f", in {report.directory}",
            mend(size, verifying_keys_only, wrong),
        )
    return ok(name, f"{_origins(files)} in {report.directory} (quick check)")


def _origins(files: Iterable[FileCheck]) -> str:
    files = list(files)
    kinds = "/".join(f.kind for f in files)
    origins = {f.origin for f in files}
    if origins == {"test"}:
        return f"{kinds} ok (TEST parameters, local use only)"
    if origins == {"official"}:
        return f"{kinds} ok (official)"
    return f"{kinds} ok (header sizes; `prover params check` hashes them in full)"


def parameter_checks(
    sizes: Iterable[PoStProofType], directory: Path, *, verifying_keys_only: bool
) -> list[Check]:
    """A check per size; a host with no size at all to prove fails, since it
    would take no job."""
    from prover.proofs.paramcheck import quick_check

    sizes = sorted(set(sizes), key=lambda pt: pt.sector_size)
    if not sizes:
        what = "verifying keys" if verifying_keys_only else "parameter files"
        return [
            fail(
                "parameters",
                f"no {what} for any sector size in {directory}",
                "fetch the sizes this host proves: prover params fetch --sizes 32GiB "
                "(and set allowed_sizes), or point FIL_PROOFS_PARAMETER_CACHE at them",
            )
        ]
    report = quick_check(sizes, directory, verifying_keys_only=verifying_keys_only)
    return [size_check(pt, report, verifying_keys_only=verifying_keys_only) for pt in sizes]


def missing_params(sizes: Iterable[PoStProofType], directory: Path) -> list[tuple[str, int]]:
    """(size, bytes) of each size whose ``.params`` file is not there yet:
    what fetching it will take on the parameter cache's disk."""
    from prover.proofs.paramcheck import proof_type_files

    out = []
    for pt in sizes:
        params, _ = proof_type_files(pt, directory)
        if not params.is_file():
            out.append((pt.size_name, NEEDS[pt.size_name].params_file))
    return out
