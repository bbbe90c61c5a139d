"""``NewJobSpec``: a job as the tracker, the API and job files ask for it,
and the checks that refuse a bad one before it reaches the table. Free of
the database so that the CLI and the wire conversions can use it without
loading SQLAlchemy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prover.proofs.errors import InvalidInput
from prover.proofs.layout import SectorRef
from prover.proofs.types import PoStProofType
from prover.store.errors import InvalidJob


@dataclass(frozen=True)
class NewJobSpec:
    miner: int
    proof_type: int  # chain id
    deadline: int
    partition: int
    randomness: bytes
    sectors: Sequence[SectorRef]
    period_start: int = 0
    challenge_epoch: int | None = None
    open_epoch: int | None = None
    close_epoch: int | None = None
    skipped: Sequence[int] = ()
    max_tries: int | None = None
    generation: int = 0
    dry_run: bool = False

    def check(self, index: int) -> None:
        def bad(name: str, why: str) -> InvalidJob:
            return InvalidJob(index, name, why)

        for name in ("miner", "deadline", "partition", "generation"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(name, f"must be a non-negative integer, got {value!r}")
        try:
            PoStProofType.from_chain_id(self.proof_type)
        except InvalidInput as exc:
            raise bad("proof_type", str(exc)) from None
        if self.deadline >= 48:
            raise bad("deadline", f"must be below 48, got {self.deadline}")
        if len(self.randomness) != 32:
            raise bad("randomness", f"must be 32 bytes, got {len(self.randomness)}")
        if not self.sectors:
            raise bad("sectors", "at least one sector is needed")
        ids = [s.id for s in self.sectors]
        if len(set(ids)) != len(ids):
            raise bad("sectors", "sector ids repeat")
        for s in self.sectors:
            if len(s.comm_r) != 32:
                raise bad("sectors", f"comm_r of sector {s.id} must be 32 bytes")
        if stray := sorted(set(self.skipped) - set(ids)):
            raise bad("skipped", f"sectors {stray} are not in the job")
        if self.max_tries is not None and self.max_tries < 1:
            raise bad("max_tries", "must be at least 1")
        epochs = [self.challenge_epoch, self.open_epoch, self.close_epoch]
        if all(e is not None for e in epochs) and not epochs[0] <= epochs[1] < epochs[2]:
            raise bad("close_epoch", "need challenge_epoch <= open_epoch < close_epoch")

    @property
    def key(self) -> tuple[int, int, int, int, int]:
        return (self.miner, self.period_start, self.deadline, self.partition, self.generation)
