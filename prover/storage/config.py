"""Storage host configuration (TOML; every key documented in
configs/storage.toml). Command-line flags override the file: the merge is
what is validated (prover.settings), so a setting may sit in either."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from prover.config import StorageConfig, check_listen, unique_storages
from prover.settings import Override, load_settings, set_by
from prover.storage.lotus_index import LotusIndexConfig
from prover.storage.sectorstore import name_lotus_paths


class StorageHostConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # TOKEN:HOST:PORT[,HOST:PORT...] of the managers, with a worker token;
    # PROVER_API_INFO or --api otherwise. The same token is what callers
    # must present here. Announcing to one manager is enough (they share
    # one database); the next is used when it is away.
    api: str = ""
    api_ca: Path | None = None
    name: str = Field(default_factory=socket.gethostname)
    listen: str = "0.0.0.0:9702"
    # HOST:PORT workers and the manager dial; empty: this host's name and
    # the listen port.
    advertise: str = ""
    storage: list[StorageConfig] = []
    parallelism: int = Field(default=32, ge=1, le=1024)
    sector_timeout_s: float = Field(default=120.0, gt=0)
    # TLS for this host's own StorageService (PEM); unset: plain TCP.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    metrics_listen: str = ""
    max_message_bytes: int = Field(default=64 << 20, ge=1 << 20)
    # Lotus' POST /remote/vanilla/single on this HTTP HOST:PORT (may be the
    # metrics listener's), for a Lotus or Curio reading through this host;
    # it takes lotus_token. Empty: off.
    lotus_listen: str = ""
    lotus_token: str = ""
    # Attach the storages to a lotus-miner's sector index, as a lotus-worker
    # does, so that Lotus asks lotus_listen for their vanilla proofs
    # (prover.storage.lotus_index). Off while its api is empty.
    lotus_index: LotusIndexConfig = LotusIndexConfig()
    # Where the host writes its endpoint file once it listens (prover.endpoints:
    # pid, version, its bound addresses), removed at a clean stop; unset: none.
    endpoint_file: Path | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        return check_listen(v)

    @field_validator("advertise", "metrics_listen", "lotus_listen")
    @classmethod
    def _optional_listen(cls, v: str) -> str:
        return check_listen(v, empty_ok=True)

    _unique = field_validator("storage")(classmethod(lambda cls, v: unique_storages(v)))

    @model_validator(mode="before")
    @classmethod
    def _lotus_paths(cls, data: Any) -> Any:
        # a [[storage]] with a path and no name: a Lotus storage path, named
        # by its sectorstore.json ID
        return name_lotus_paths(data)

    @model_validator(mode="after")
    def _lotus_needs_a_token(self, info: ValidationInfo) -> StorageHostConfig:
        """Checked on the merged settings: either half may come from the
        file and the other from the command line. The message says where
        the half that is set came from, and where the other may go."""
        # with [lotus_index] the miner vouches for the tokens Lotus sends
        if self.lotus_listen and not self.lotus_token and not self.lotus_index.enabled:
            raise ValueError(
                f"lotus_listen{set_by(info, 'lotus_listen')} is set but lotus_token is not: "
                "set lotus_token to the token Lotus sends, or attach to the miner's index "
                "([lotus_index] api, --lotus-miner-api), which checks it"
            )
        if self.lotus_index.enabled and not self.lotus_listen:
            raise ValueError(
                f"[lotus_index] api{set_by(info, 'lotus_index.api')} is set but lotus_listen "
                "is not: the miner is given that listener's http://HOST:PORT/remote "
                "(lotus_listen in the file, or --lotus-listen)"
            )
        return self

    @property
    def storages(self) -> dict[str, Path]:
        return {s.name: s.path for s in self.storage}

    @property
    def address(self) -> str:
        """What this host announces: ``advertise``, else its name and port."""
        if self.advertise:
            return self.advertise
        host, _, port = self.listen.rpartition(":")
        if host in ("0.0.0.0", "[::]", "::", ""):
            host = socket.getfqdn()
        return f"{host}:{port}"


def load_storage_config(
    path: Path | None, overrides: list[Override] | None = None
) -> StorageHostConfig:
    """The file at ``path`` (None: the defaults) with the command line's
    ``overrides`` on top, validated as one (see prover.settings)."""
    return load_settings(path, StorageHostConfig, overrides or ())
