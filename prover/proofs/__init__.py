"""The proof core: genuine Filecoin WindowPoSt proofs from Python.

A typed layer over ``prover._native``, a PyO3 extension built on the
``filecoin-proofs-api`` crate (the code Lotus, Curio and damocles run).
Every proof here is a real Groth16 proof over the Merkle trees of a replica
on disk, checked by the chain's verifier code.
"""

from prover.proofs.errors import (
    InvalidInput,
    ParametersMissing,
    PartitionUnprovable,
    ProofError,
    SectorFault,
)
from prover.proofs.layout import MissingStorage, SectorRef, resolve, sector_paths
from prover.proofs.params import (
    ParameterFiles,
    ensure_test_params,
    parameter_cache_dir,
    parameter_files,
)
from prover.proofs.partition import prove_partition
from prover.proofs.steps import (
    PARTITION_PROOF_LEN,
    generate_challenges,
    merge_partition_proofs,
    partition_snark,
    vanilla_proof,
    verify_vanilla_proof,
    verify_window_post,
)
from prover.proofs.testsectors import create_test_sectors, load_test_sectors, sector_keys
from prover.proofs.types import (
    PartitionProof,
    PoStProofType,
    SectorReplica,
    StepTimings,
    mask_randomness,
    prover_id,
)

__all__ = [
    "PARTITION_PROOF_LEN",
    "InvalidInput",
    "MissingStorage",
    "ParameterFiles",
    "ParametersMissing",
    "PartitionProof",
    "PartitionUnprovable",
    "PoStProofType",
    "ProofError",
    "SectorFault",
    "SectorRef",
    "SectorReplica",
    "StepTimings",
    "create_test_sectors",
    "ensure_test_params",
    "generate_challenges",
    "load_test_sectors",
    "mask_randomness",
    "merge_partition_proofs",
    "parameter_cache_dir",
    "parameter_files",
    "partition_snark",
    "prove_partition",
    "prover_id",
    "resolve",
    "sector_keys",
    "sector_paths",
    "vanilla_proof",
    "verify_vanilla_proof",
    "verify_window_post",
]
