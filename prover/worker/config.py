"""Worker configuration (TOML; every key documented in configs/worker.toml).
Command-line flags override the file: the merge is what is validated
(prover.settings), flags included."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from prover.config import StorageConfig, check_listen, unique_storages
from prover.proofs import InvalidInput, PoStProofType
from prover.settings import Override, load_settings


class WorkerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # TOKEN:HOST:PORT[,HOST:PORT...] of the managers; PROVER_API_INFO or
    # --api otherwise.
    api: str = ""
    api_ca: Path | None = None
    name: str = Field(default_factory=socket.gethostname)
    gpu: int | None = None
    cpuset: str = ""
    allowed_miners: list[int] = []
    allowed_sizes: list[str] = []
    storage: list[StorageConfig] = []
    concurrency: int = Field(default=1, ge=1, le=8)
    tmpdir: Path | None = None
    claim_wait_s: float = Field(default=30.0, gt=0)
    vanilla_parallelism: int | None = Field(default=None, ge=1)
    sector_timeout_s: float = Field(default=300.0, gt=0)
    shutdown_grace_s: float = Field(default=60.0, ge=0)
    finish_retry_s: float = Field(default=1800.0, gt=0)
    # Where finished results wait for a manager; unset: default_spool_dir.
    spool_dir: Path | None = None
    # HOST:PORT of this worker's /metrics; empty: none.
    metrics_listen: str = ""
    # Where the worker writes its endpoint file once it listens (prover.endpoints:
    # pid, version, its /metrics address), removed at a clean stop; unset: none.
    endpoint_file: Path | None = None

    @field_validator("metrics_listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        return check_listen(v, empty_ok=True)

    @field_validator("allowed_sizes")
    @classmethod
    def _sizes(cls, v: list[str]) -> list[str]:
        for size in v:
            try:
                PoStProofType.from_sector_size(size)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from None
        return v

    _unique = field_validator("storage")(classmethod(lambda cls, v: unique_storages(v)))

    @property
    def allowed_proof_types(self) -> list[int]:
        return sorted({PoStProofType.from_sector_size(s).chain_id for s in self.allowed_sizes})

    @property
    def storages(self) -> dict[str, Path]:
        return {s.name: s.path for s in self.storage}


def default_spool_dir(config: WorkerConfig) -> Path:
    """``prover-spool-<name>`` in the worker's tmpdir base (``tmpdir``, else
    $TMPDIR, else /tmp), read before pinning points TMPDIR at a folder of
    the process' own: the spool must be found again by the next process
    of the same worker. Named per worker, so workers sharing a host keep
    their results apart."""
    base = config.tmpdir or Path(os.environ.get("TMPDIR") or "/tmp")
    return base / f"prover-spool-{config.name.replace(os.sep, '_')}"


def load_worker_config(path: Path | None, overrides: list[Override] | None = None) -> WorkerConfig:
    """The file at ``path`` (None: the defaults) with the command line's
    ``overrides`` on top, validated as one (see prover.settings)."""
    return load_settings(path, WorkerConfig, overrides or ())
