"""The manager's check of every returned proof, with the chain's verifier,
before it may count: a faulty GPU or a rogue worker cannot poison a
deadline."""

from __future__ import annotations

from prover.proofs import PoStProofType, mask_randomness, prover_id, verify_window_post
from prover.proofs.errors import InvalidInput
from prover.store.models import JobRow


def proven_sectors(job: JobRow, faulty: set[int]) -> list[tuple[int, bytes]]:
    """The job's sectors as proven: in sector order, without the ones the job
    skips or the worker found faulty (their Lotus-style substitutes collapse
    into the good sectors they repeat, as in the chain's verifier)."""
    left_out = set(job.skipped) | faulty
    return [
        (s.id, s.comm_r) for s in sorted(job.sectors, key=lambda s: s.id) if s.id not in left_out
    ]


def proof_problem(job: JobRow, proof: bytes, faulty: set[int]) -> str | None:
    """Why this proof must not count, or None when it verifies.

    Raises ``ParametersMissing`` when the manager itself cannot verify."""
    public = proven_sectors(job, faulty)
    if not public:
        return "invalid proof: every sector of the job was left out"
    pt = PoStProofType.from_chain_id(job.proof_type)
    try:
        ok = verify_window_post(
            pt, mask_randomness(job.randomness), prover_id(job.miner), public, proof
        )
    except InvalidInput as exc:
        return f"invalid proof: {exc}"
    if not ok:
        return f"invalid proof: does not verify over sectors {[sid for sid, _ in public]}"
    return None
