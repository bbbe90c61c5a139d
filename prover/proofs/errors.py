"""Exception classes for the proof core, one per kind of failure.

The native module raises these (its single error mapping imports this
module), so callers catch what they can act on: a ``SectorFault`` means skip
that sector, ``ParametersMissing`` means the machine is not set up,
``InvalidInput`` is a bug in the caller. Everything else the proofs library
reports is a plain ``ProofError`` carrying the library's own message.
"""

from __future__ import annotations

from pathlib import Path


class ProofError(Exception):
    """Base class: the proofs library reported a failure."""


class InvalidInput(ProofError, ValueError):
    """An argument the library must never see (wrong length, not a scalar...)."""


class SectorFault(ProofError):
    """One sector cannot be proven: its files are missing, truncated or corrupt."""

    def __init__(self, sector_id: int, reason: str) -> None:
        super().__init__(f"sector {sector_id} is faulty: {reason}")
        self.sector_id = sector_id
        self.reason = reason

    def __reduce__(self):  # keep attributes across pickling (process pools)
        return (type(self), (self.sector_id, self.reason))


class ParametersMissing(ProofError):
    """A Groth16 parameter or verifying-key file is not in the parameter cache."""

    def __init__(self, path: str | Path, directory: str | Path) -> None:
        self.path = Path(path)
        self.directory = Path(directory)
        super().__init__(
            f"parameter file {self.path.name} not found in {self.directory} "
            f"(set FIL_PROOFS_PARAMETER_CACHE to the directory holding it, or for "
            f"2KiB/8MiB run `prover params generate`)"
        )

    def __reduce__(self):
        return (type(self), (self.path, self.directory))


class PartitionUnprovable(ProofError):
    """Every sector of a partition is faulty: there is nothing to prove."""

    def __init__(self, partition_index: int, faults: dict[int, str]) -> None:
        self.partition_index = partition_index
        self.faults = dict(faults)
        detail = "; ".join(f"{sid}: {why}" for sid, why in sorted(faults.items()))
        super().__init__(f"every sector of partition {partition_index} is faulty ({detail})")

    def __reduce__(self):
        return (type(self), (self.partition_index, self.faults))
