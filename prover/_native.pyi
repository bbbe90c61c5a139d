"""Type stubs of the private native module (native/src/bindings.rs).

Use ``prover.proofs`` instead: it validates arguments and documents
behaviour. Proof types are the Rust API's names, e.g.
``"StackedDrgWindow2KiBV1_2"``. Errors are raised as the classes of
``prover.proofs.errors``.
"""

from os import PathLike

PARTITION_PROOF_LEN: int
# the built library's parameters.json (file name -> cid, digest, sector_size)
PARAMETERS_JSON: str
# the cache version in parameter file names (v28-...)
PARAMETER_CACHE_VERSION: int
# "cpu" or "cuda" (the cargo feature it was built with)
BUILD_FLAVOR: str
# the CUDA toolkit version of a cuda build ("" when not recorded)
CUDA_VERSION: str

def proof_type_info(proof_type: str) -> tuple[int, int, int]:
    """(sector size in bytes, sectors per partition, challenges per sector)."""

def parameter_cache_dir() -> str: ...
def parameter_files(proof_type: str, dir: str | PathLike[str] | None = None) -> tuple[str, str]: ...
def generate_test_params(proof_type: str, dir: str | PathLike[str]) -> tuple[str, str, bool]: ...
def generate_challenges(
    proof_type: str, randomness: bytes, prover_id: bytes, sector_ids: list[int]
) -> dict[int, list[int]]: ...
def vanilla_proof(
    proof_type: str,
    sector_id: int,
    comm_r_bytes: bytes,
    sealed_path: str | PathLike[str],
    cache_dir: str | PathLike[str],
    challenges: list[int],
) -> bytes: ...
def verify_vanilla(
    proof_type: str,
    randomness: bytes,
    prover_id: bytes,
    sector_id: int,
    comm_r_bytes: bytes,
    proof_bytes: bytes,
) -> bool: ...
def partition_snark(
    proof_type: str,
    randomness: bytes,
    prover_id: bytes,
    vanilla_proofs: list[bytes],
    partition_index: int,
) -> bytes: ...
def merge_partition_proofs(proof_type: str, proofs: list[bytes]) -> bytes: ...
def verify_window_post(
    proof_type: str,
    randomness: bytes,
    prover_id: bytes,
    public_sectors: list[tuple[int, bytes]],
    proof_bytes: bytes,
) -> bool: ...
def fauxrep(
    proof_type: str, cache_dir: str | PathLike[str], sealed_path: str | PathLike[str]
) -> bytes: ...
def seal_sector(
    proof_type: str,
    sector_id: int,
    prover_id: bytes,
    cache_dir: str | PathLike[str],
    sealed_path: str | PathLike[str],
    staged_path: str | PathLike[str],
    committed_capacity: bool = False,
) -> bytes: ...
def update_sector(
    proof_type: str,
    sector_key_path: str | PathLike[str],
    sector_key_cache_dir: str | PathLike[str],
    update_path: str | PathLike[str],
    update_cache_dir: str | PathLike[str],
    staged_path: str | PathLike[str],
) -> bytes: ...
