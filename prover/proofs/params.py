"""Groth16 parameters: where they are looked for, and test parameters for
small sectors.

The proofs library reads ``FIL_PROOFS_PARAMETER_CACHE`` (default
``/var/tmp/filecoin-proof-parameters/``) once, at first use, and never
generates missing files. Production sizes need the official files; for 2KiB
and 8MiB this module makes random parameters for the real circuit, as
upstream's paramcache does for its CI. They prove and verify locally and are
worth nothing anywhere else; their sizes and digests are recorded beside
them, so that ``prover params check`` tells them from the official files
(``prover.proofs.paramcheck``).

512MiB test parameters (for benchmarks: the smallest size whose circuit
has the production trees' depth of base layer) are made only when asked
(``allow_large``: about two minutes of CPU and 45 MB), and only into a
directory of their own: the native side refuses the library's default cache
and any directory holding official files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prover.logs import get_logger
from prover.proofs.errors import ParametersMissing
from prover.proofs.native import _native
from prover.proofs.paramcheck import record_earlier_test_parameters, write_test_record
from prover.proofs.types import PoStProofType

log = get_logger(__name__)

TEST_PARAMETER_SIZES = frozenset({PoStProofType.WINDOW_2KIB, PoStProofType.WINDOW_8MIB})
# made only when asked for (``allow_large``), never into a production cache
LARGE_TEST_PARAMETER_SIZES = frozenset({PoStProofType.WINDOW_512MIB})


@dataclass(frozen=True)
class ParameterFiles:
    params: Path
    verifying_key: Path
    generated: bool = False

    @property
    def directory(self) -> Path:
        return self.params.parent


def parameter_cache_dir() -> Path:
    """The directory the library reads parameters from in this process."""
    return Path(_native.parameter_cache_dir())


def parameter_files(
    proof_type: PoStProofType | str | int, cache_dir: str | Path | None = None
) -> ParameterFiles:
    pt = PoStProofType.parse(proof_type)
    params, vk = _native.parameter_files(pt.api_name, None if cache_dir is None else str(cache_dir))
    return ParameterFiles(Path(params), Path(vk))


def ensure_test_params(
    proof_type: PoStProofType | str | int,
    cache_dir: str | Path | None = None,
    *,
    allow_large: bool = False,
) -> ParameterFiles:
    """Makes sure the parameters and verifying key of ``proof_type`` are in
    ``cache_dir`` (default: the library's), generating random test
    parameters for 2KiB and 8MiB when they are absent, and for 512MiB with
    ``allow_large`` (``InvalidInput`` when ``cache_dir`` is the library's
    default cache or holds official files).

    For other sizes nothing is generated: missing files raise
    ``ParametersMissing`` naming the file and the directory searched.
    """
    pt = PoStProofType.parse(proof_type)
    directory = Path(cache_dir) if cache_dir is not None else parameter_cache_dir()
    generates = pt in TEST_PARAMETER_SIZES or (allow_large and pt in LARGE_TEST_PARAMETER_SIZES)
    if not generates:
        files = parameter_files(pt, directory)
        for path in (files.params, files.verifying_key):
            if not path.is_file():
                raise ParametersMissing(path, directory)
        return files
    params, vk, generated = _native.generate_test_params(pt.api_name, str(directory), allow_large)
    files = ParameterFiles(Path(params), Path(vk), generated)
    if generated:
        write_test_record(pt, files.params, files.verifying_key)
        log.warning(
            "test_parameters_generated",
            proof_type=pt.api_name,
            params=str(files.params),
            note="random Groth16 parameters: valid for local use only, never on a real network",
        )
    elif record_earlier_test_parameters(pt, files.params, files.verifying_key):
        log.info("test_parameters_recorded", proof_type=pt.api_name, params=str(files.params))
    return files
