"""The steps of a WindowPoSt proof, one native call each.

Every call converts and checks its arguments, then runs in Rust with the GIL
released: several vanilla proofs on threads run at once, and a heartbeat
thread keeps running during a SNARK.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prover.proofs.errors import InvalidInput
from prover.proofs.native import _native
from prover.proofs.types import PoStProofType, SectorReplica

# One partition's Groth16 proof (the native module's PARTITION_PROOF_LEN, as
# a literal so that importing this module loads nothing; a unit test checks
# they agree).
PARTITION_PROOF_LEN: int = 192


def _bytes(name: str, value: object) -> bytes:
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if not isinstance(value, bytes):
        raise InvalidInput(f"{name} must be bytes, not {type(value).__name__}")
    return value


def generate_challenges(
    proof_type: PoStProofType | str | int,
    randomness: bytes,
    prover_id: bytes,
    sector_ids: Iterable[int],
) -> dict[int, list[int]]:
    """The challenged leaves of each sector (ten per sector for WindowPoSt).

    ``randomness`` must already be masked (see ``mask_randomness``).
    """
    pt = PoStProofType.parse(proof_type)
    return _native.generate_challenges(
        pt.api_name,
        _bytes("randomness", randomness),
        _bytes("prover_id", prover_id),
        list(sector_ids),
    )


def vanilla_proof(
    proof_type: PoStProofType | str | int,
    replica: SectorReplica,
    challenges: Sequence[int],
) -> bytes:
    """Merkle inclusion proofs of one sector's challenged leaves (disk bound).

    Raises ``SectorFault`` naming the sector when its files are missing,
    truncated or corrupt.
    """
    pt = PoStProofType.parse(proof_type)
    return _native.vanilla_proof(
        pt.api_name,
        replica.sector_id,
        replica.comm_r,
        str(replica.sealed_path),
        str(replica.cache_dir),
        list(challenges),
    )


def verify_vanilla_proof(
    proof_type: PoStProofType | str | int,
    randomness: bytes,
    prover_id: bytes,
    sector: tuple[int, bytes],
    proof: bytes,
) -> bool:
    """Whether ``proof`` is a vanilla proof of ``sector`` (number, comm_r)
    over the challenges ``randomness`` draws: what the SNARK would check of
    this sector, without building one (``prover sectors check`` checks what
    a storage host sends back). False for bytes that are no such proof."""
    pt = PoStProofType.parse(proof_type)
    sector_id, comm_r = sector
    return _native.verify_vanilla(
        pt.api_name,
        _bytes("randomness", randomness),
        _bytes("prover_id", prover_id),
        int(sector_id),
        _bytes("comm_r", comm_r),
        _bytes("proof", proof),
    )


def partition_snark(
    proof_type: PoStProofType | str | int,
    randomness: bytes,
    prover_id: bytes,
    vanilla_proofs: Sequence[bytes],
    partition_index: int,
) -> bytes:
    """The 192-byte Groth16 proof of one partition (GPU when built with cuda).

    ``vanilla_proofs`` must be in sector-number order, one per distinct
    sector, as the chain's verifier orders them.
    """
    pt = PoStProofType.parse(proof_type)
    if isinstance(partition_index, bool) or not isinstance(partition_index, int):
        raise InvalidInput(f"partition_index must be an int, not {partition_index!r}")
    if partition_index < 0:
        raise InvalidInput(f"partition_index must not be negative, got {partition_index}")
    return _native.partition_snark(
        pt.api_name,
        _bytes("randomness", randomness),
        _bytes("prover_id", prover_id),
        [_bytes("vanilla proof", v) for v in vanilla_proofs],
        partition_index,
    )


def merge_partition_proofs(proof_type: PoStProofType | str | int, proofs: Sequence[bytes]) -> bytes:
    """Concatenates partition proofs, given in partition order, into the one
    proof a ``SubmitWindowedPoSt`` message carries."""
    pt = PoStProofType.parse(proof_type)
    return _native.merge_partition_proofs(
        pt.api_name, [_bytes("partition proof", p) for p in proofs]
    )


def verify_window_post(
    proof_type: PoStProofType | str | int,
    randomness: bytes,
    prover_id: bytes,
    public_sectors: Sequence[tuple[int, bytes]],
    proof: bytes,
) -> bool:
    """The chain's check of a WindowPoSt proof (one partition or several merged)
    over the ``(sector_id, comm_r)`` of those partitions' sectors.

    Like the chain, the verifier keys sectors by number: they are taken in
    sector order, and a repeated sector (a skipped sector's substitute) counts
    once. Returns False for any proof that does not verify, including bytes
    that are not a proof at all.
    """
    pt = PoStProofType.parse(proof_type)
    sectors = [(int(sid), _bytes("comm_r", comm_r)) for sid, comm_r in public_sectors]
    return _native.verify_window_post(
        pt.api_name,
        _bytes("randomness", randomness),
        _bytes("prover_id", prover_id),
        sectors,
        _bytes("proof", proof),
    )
