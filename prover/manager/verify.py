"""The manager's check of every returned proof, with the chain's verifier,
before it may count: a faulty GPU or a rogue worker cannot poison a
deadline; and its check, at start, of the verifying keys it checks them
with."""

from __future__ import annotations

from pathlib import Path

from prover.logs import get_logger
from prover.proofs import PoStProofType, mask_randomness, prover_id, verify_window_post
from prover.proofs.errors import InvalidInput
from prover.store.models import JobRow

log = get_logger("prover.manager")


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


def check_verifying_keys(directory: Path | None = None) -> list[dict]:
    """The quick parameter check of the manager's verifying keys (it
    verifies every proof; it never proves, so it needs no ``.params``), at
    start: each key present, of its right size and digest (they are small).
    Returns the problems as {proof_type, file, problem, detail}; a wrong key
    is logged as an error, raised as an alert, and its proof type's results
    are not verified with it (``CannotVerify``: the workers keep them)."""
    from prover.proofs.paramcheck import MISSING, quick_check

    try:
        report = quick_check(
            list(PoStProofType), directory, verifying_keys_only=True, record_earlier=True
        )
    except Exception as exc:  # never keep the manager from starting
        log.warning("parameters_check_failed", error=f"{type(exc).__name__}: {exc}")
        return []
    problems = []
    for f in report.problems:
        problems.append(
            {
                "proof_type": f.proof_type.chain_id,
                "file": f.name,
                "problem": f.status,
                "detail": f.detail,
            }
        )
        if f.status != MISSING:
            log.error(
                "verifying_key_bad",
                proof_type=f.proof_type.size_name,
                file=f.name,
                problem=f.status,
                detail=f.detail,
                path=str(f.path),
            )
    log.info(
        "verifying_keys_checked",
        directory=str(report.directory),
        ok=[f.proof_type.size_name for f in report.files if f.ok],
        missing=[f.proof_type.size_name for f in report.problems if f.status == MISSING],
        bad=[f.proof_type.size_name for f in report.problems if f.status != MISSING],
    )
    return problems
