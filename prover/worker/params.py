"""The parameter files this worker can prove with, checked before it
registers (``prover params check --quick``).

The types with a file missing, truncated or wrong are named at Register:
the manager hands this worker no job of those sizes, and a job of one
handed over anyway (by a manager that does not know the refusal) is given
back naming the file."""

from __future__ import annotations

from collections.abc import Callable

from prover.logs import get_logger
from prover.proofs import PoStProofType
from prover.proofs.paramcheck import MISSING, quick_check

log = get_logger("prover.worker")

# proof types (chain ids) -> problems {proof_type (chain id), file, problem, detail}
ParamCheck = Callable[[list[int]], list[dict]]


def check_parameters(proof_types: list[int]) -> list[dict]:
    """The quick parameter check (``prover params check --quick``) of these
    proof types in the library's directory, as problems {proof_type (chain
    id), file, problem, detail}. Test parameters generated before they were
    recorded are recorded first, so that an upgrade does not refuse them."""
    report = quick_check(proof_types, record_earlier=True)
    return [
        {
            "proof_type": f.proof_type.chain_id,
            "file": f.name,
            "problem": f.status,
            "detail": f.detail,
        }
        for f in report.problems
    ]


class ParamRefusals:
    """The problems found at start and the proof types refused for them
    (both chain ids of each size)."""

    def __init__(self, allowed_proof_types: list[int], check: ParamCheck | None = None) -> None:
        self.allowed = list(allowed_proof_types)
        self.check = check or check_parameters
        self.problems: list[dict] = []
        self.refused: frozenset[int] = frozenset()

    def run_check(self) -> None:
        """Checks the types this worker may take (``allowed_sizes``, else
        all); a check that fails refuses nothing, as it must never stop the
        worker."""
        candidates = self.allowed or [pt.chain_id for pt in PoStProofType]
        try:
            problems = self.check(candidates)
        except Exception as exc:
            log.warning("parameters_check_failed", error=f"{type(exc).__name__}: {exc}")
            problems = []
        self.problems = problems
        self.refused = frozenset(
            t for p in problems for t in PoStProofType.same_size_ids(p["proof_type"])
        )
        self._log(candidates)

    def _log(self, candidates: list[int]) -> None:
        for p in self.problems:
            explicit = p["proof_type"] in self.allowed
            quiet = p["problem"] == MISSING and not explicit
            (log.info if quiet else log.error)(
                "parameters_refused",
                proof_type=PoStProofType.from_chain_id(p["proof_type"]).size_name,
                file=p["file"],
                problem=p["problem"],
                detail=p["detail"],
            )
        able = sorted(
            {PoStProofType.from_chain_id(t).size_name for t in candidates}
            - {PoStProofType.from_chain_id(p["proof_type"]).size_name for p in self.problems},
            key=lambda n: PoStProofType.from_sector_size(n).value,
        )
        refused = len({p["proof_type"] for p in self.problems})
        log.info("parameters_checked", proves=able, refused=refused)

    def refuses(self, proof_type: int) -> bool:
        return proof_type in self.refused

    def reason(self, proof_type: int) -> str:
        """Why a job of this type is given back: the size and its files."""
        files = [
            f"{p['file']} {p['problem']}"
            for p in self.problems
            if proof_type in PoStProofType.same_size_ids(p["proof_type"])
        ]
        size = PoStProofType.from_chain_id(proof_type).size_name
        return f"worker refuses {size} proofs, its parameter files are wrong: " + "; ".join(files)
