"""Real sectors and a real proof, made once per test session, for tests
whose jobs must carry proofs the manager's verifier accepts."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prover._proto import manager_pb2 as pb
from prover.proofs import (
    PoStProofType,
    SectorReplica,
    create_test_sectors,
    ensure_test_params,
    mask_randomness,
    prove_partition,
    prover_id,
)

MINER = 1000
RANDOMNESS = mask_randomness(bytes(range(32)))


@dataclass(frozen=True)
class ProvenSet:
    root: Path
    proof_type: PoStProofType
    replicas: list[SectorReplica]
    proof: bytes

    def sector_refs(self, storage: str = "store-1") -> list[pb.SectorRef]:
        return [
            pb.SectorRef(
                id=r.sector_id, comm_r=r.comm_r, sealed_storage=storage, cache_storage=storage
            )
            for r in self.replicas
        ]

    def new_job(
        self, partition: int = 0, *, deadline: int = 1, storage: str = "store-1", **kw
    ) -> pb.NewJob:
        return pb.NewJob(
            miner=MINER,
            proof_type=self.proof_type.chain_id,
            deadline=deadline,
            partition=partition,
            randomness=RANDOMNESS,
            sectors=self.sector_refs(storage),
            **kw,
        )


@functools.cache
def proven_set(size: str = "2KiB") -> ProvenSet:
    pt = PoStProofType.from_sector_size(size)
    ensure_test_params(pt)
    root = Path(tempfile.mkdtemp(prefix=f"prover-proven-{size}-"))
    replicas = create_test_sectors(root, MINER, [1, 2], pt)
    result = prove_partition(pt, RANDOMNESS, prover_id(MINER), replicas, 0)
    return ProvenSet(root, pt, replicas, result.proof)


def fresh_set(root: Path, size: str = "2KiB", ids=(1, 2)) -> ProvenSet:
    """Sectors of one's own (to damage), without a proof."""
    pt = PoStProofType.from_sector_size(size)
    ensure_test_params(pt)
    return ProvenSet(root, pt, create_test_sectors(root, MINER, ids, pt), b"")
