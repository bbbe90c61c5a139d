"""TOML configuration of the manager, with defaults and validation.

Unknown keys are errors (a typo must not silently fall back to a default),
and every error names the file and the key.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from prover.chain.message import ATTO_PER_FIL
from prover.settings import ConfigError as ConfigError  # raised by every loader
from prover.settings import Override, load_settings

DEFAULT_HOME = Path("~/.prover")
CONFIG_FILE = "config.toml"
SECRET_FILE = "secret"
# where a running manager says it listens (prover.endpoints); --endpoint-file
ENDPOINT_FILE = "endpoint.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsConfig(_Strict):
    cert: Path | None = None
    key: Path | None = None
    client_ca: Path | None = None
    # the CA of storage hosts that serve TLS; unset: the system's roots
    storage_ca: Path | None = None

    @property
    def enabled(self) -> bool:
        return self.cert is not None


class ApiConfig(_Strict):
    listen: str = "127.0.0.1:9700"
    max_message_bytes: int = Field(default=4 << 20, ge=64 << 10)
    max_claim_wait_s: float = Field(default=60.0, gt=0, le=600)
    threads: int = Field(default=128, ge=4)
    tls: TlsConfig = TlsConfig()

    @field_validator("listen")
    @classmethod
    def _has_port(cls, v: str) -> str:
        return check_listen(v)


def check_listen(v: str, *, empty_ok: bool = False) -> str:
    """HOST:PORT, or with ``empty_ok`` the empty string (turned off)."""
    if empty_ok and not v:
        return v
    host, sep, port = v.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {v!r}")
    return v


def public_host(host: str) -> str:
    """The host part of a listen address as others reach it: this machine's
    name for a wildcard (what a manager advertises, what `prover devnet
    run` writes in its endpoint)."""
    return socket.gethostname() if host in ("", "0.0.0.0", "[::]", "::") else host


class HttpConfig(_Strict):
    # /metrics (Prometheus) on HOST:PORT; empty: no HTTP listener.
    listen: str = "127.0.0.1:9701"

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        return check_listen(v, empty_ok=True)


class DatabaseConfig(_Strict):
    """Where the job table and ledger live, and whether a daemon started on
    an older schema migrates it itself (see configs/manager.toml)."""

    # Empty: a SQLite file `prover.db` in the home directory.
    url: str = ""
    # "auto": a daemon upgrades an older schema at start (under the
    # migration lock); "never": it refuses to start and says to run
    # `prover-manager db upgrade`. Unset: auto on SQLite, never on PostgreSQL.
    migrate: Literal["auto", "never"] | None = None

    def migrate_policy(self, url: str) -> Literal["auto", "never"]:
        """The policy for ``url``: SQLite is one manager on its own file,
        so upgrading the software upgrades its schema (the demo goes on
        working after a pull); PostgreSQL is shared by several managers,
        perhaps of two releases, so its upgrade is one deliberate step and
        never a side effect of whichever manager restarts first."""
        if self.migrate is not None:
            return self.migrate
        return "auto" if url.startswith("sqlite") else "never"


class JobsConfig(_Strict):
    heartbeat_timeout_s: float = Field(default=15.0, gt=0)
    heartbeat_interval_s: float = Field(default=3.0, gt=0)
    max_tries: int = Field(default=2, ge=1)
    lifetime_h: float = Field(default=25.0, gt=0)
    sweep_interval_s: float = Field(default=1.0, gt=0)


class StorageConfig(_Strict):
    name: str
    path: Path


def unique_storages(v: list[StorageConfig]) -> list[StorageConfig]:
    """A ``[[storage]]`` list whose names do not repeat (a worker's or a
    storage host's: a name is what jobs and the index go by)."""
    names = [s.name for s in v]
    if len(names) != len(set(names)):
        raise ValueError(f"storage names repeat: {names}")
    return v


class ChainConfig(_Strict):
    # Lotus full node "<token>:<multiaddr or URL>". Empty: no tracker.
    api: str = ""
    # Shadow mode: prove every deadline as live (planning, workers,
    # verification) but never sign or send; at each Close compare with what
    # the chain shows (the existing system's PoSt). No sender or wallet needed.
    shadow: bool = False
    network: str = Field(default="f", pattern="^[ft]$")
    miners: list[int] = []
    # Who sends PoSt and recovery messages: these addresses in order, or
    # when empty the miner's control addresses, then its worker, then its
    # owner (each turned off by its flag); the first the node's wallet holds
    # and whose balance covers the message's maximum fee.
    senders: list[str] = []
    use_control_addresses: bool = True
    use_worker: bool = True
    use_owner: bool = True
    confidence: int = Field(default=2, ge=0)
    max_partitions_per_message: int = Field(default=3, ge=1, le=3)
    # attoFIL, or a string with a unit: "5 FIL", "0.25 FIL", "300000 attoFIL"
    max_window_post_gas_fee: int = 5 * ATTO_PER_FIL
    maximize_window_post_fee_cap: bool = True
    max_recovery_gas_fee: int = 5 * ATTO_PER_FIL
    # Recoveries that fit in a block, with Lotus' names and defaults. Partitions
    # per DeclareFaultsRecovered, 0 = no limit (MaxPartitionsPerRecoveryMessage;
    # the actor takes at most DeclarationsMax, 3000, declarations a message).
    max_partitions_per_recovery_message: int = Field(default=0, ge=0, le=3000)
    # Sectors per DeclareFaultsRecovered: the actor refuses more than
    # AddressedSectorsMax (25,000); a partition that does not fit is split.
    max_sectors_per_recovery_message: int = Field(default=25_000, ge=1, le=25_000)
    # Sectors declared per deadline and period, 0 = no limit (Lotus'
    # LOTUS_RECOVERING_SECTOR_LIMIT): the rest wait for the deadline's next turn.
    recovering_sector_limit: int = Field(default=0, ge=0)
    # A partition with recovering sectors alone in its SubmitWindowedPoSt
    # (SingleRecoveringPartitionPerPostMessage): the chain verifies it at once.
    single_recovering_partition_per_post_message: bool = False
    # Sector checks before a declaration run off the tick, this many at once
    # (ParallelCheckLimit), each failed after this long (SingleCheckTimeout).
    recovery_check_parallelism: int = Field(default=32, ge=1)
    recovery_check_timeout_s: float = Field(default=600.0, gt=0)
    notify: bool = True
    poll_interval_s: float = Field(default=1.0, gt=0)
    # a message not on chain this many epochs after its push is replaced by
    # fee (same nonce, premium x1.25 or more, fee cap up to the maximum fee)
    replace_after: int = Field(default=3, ge=1)
    resubmit_after: int = Field(default=6, ge=1)
    # Without a tracker, deadlines close by wall time from genesis
    # (mainnet: 1598306400 and 30 s). 0 disables expiry by epoch. With a
    # tracker, genesis only gives prover_chain_head_lag_seconds (a devnet's
    # genesis has a fraction of a second: a float).
    genesis_unix: float = Field(default=0, ge=0)
    epoch_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, new in (("sender", "senders = [...]"), ("max_fee", "max_window_post_gas_fee")):
                if old in data:
                    raise ValueError(f"{old} was replaced by {new}")
        return data

    @field_validator("max_window_post_gas_fee", "max_recovery_gas_fee", mode="before")
    @classmethod
    def _fil(cls, v: Any) -> int:
        return parse_fil(v)


def parse_fil(value: Any) -> int:
    """A token amount in attoFIL from an integer (attoFIL) or a string with
    a unit ("5 FIL", "0.5 FIL", "1e9 attoFIL", "2 nanoFIL")."""
    if isinstance(value, bool):
        raise ValueError(f"not a token amount: {value!r}")
    if isinstance(value, int):
        amount = Decimal(value)
    else:
        text = str(value).strip()
        number, _, unit = text.partition(" ")
        scale = _FIL_UNITS.get(unit.strip().lower() or "attofil")
        try:
            amount = Decimal(number) * (scale or 0)
        except InvalidOperation:
            raise ValueError(f"not a token amount: {value!r}") from None
        if scale is None:
            raise ValueError(f"unknown unit in {value!r}; use FIL, milliFIL, nanoFIL or attoFIL")
    if amount < 0 or amount != amount.to_integral_value():
        raise ValueError(f"not a whole, non-negative number of attoFIL: {value!r}")
    return int(amount)


_FIL_UNITS = {"fil": ATTO_PER_FIL, "millifil": 10**15, "nanofil": 10**9, "attofil": 1}


class AlertsConfig(_Strict):
    # Generic JSON webhooks (Slack's incoming webhooks among them): one POST
    # per fired or resolved alert.
    webhooks: list[str] = []
    # Alertmanager base URLs (POST <url>/api/v2/alerts).
    alertmanagers: list[str] = []
    interval_s: float = Field(default=10.0, gt=0)
    # A PoSt message not on chain this many epochs before its deadline's Close.
    not_landed_epochs: int = Field(default=10, ge=1)
    # A sender's balance under this (attoFIL or "10 FIL"); 0 turns it off.
    low_balance: int = 10 * ATTO_PER_FIL
    head_stall_epochs: int = Field(default=5, ge=1)
    resend_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=5.0, gt=0)
    # Added to every alert's labels (one manager's alerts told from another's).
    labels: dict[str, str] = {}

    @field_validator("webhooks", "alertmanagers")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return v

    @field_validator("low_balance", mode="before")
    @classmethod
    def _fil(cls, v: Any) -> int:
        return parse_fil(v)


class LeaseConfig(_Strict):
    """Several managers on one PostgreSQL database: one leads (does the
    chain work) under a lease in the database; see configs/manager.toml."""

    # This manager's name among those on the database; empty: HOST:PORT of
    # this host's name and the API port.
    name: str = Field(default="", max_length=255)
    # The address workers and operators reach this manager at, shown to
    # them as the leader's; empty: this host's name and the API port.
    advertise: str = ""
    ttl_s: float = Field(default=10.0, gt=0)
    renew_s: float = Field(default=2.0, gt=0)

    @field_validator("advertise")
    @classmethod
    def _advertise(cls, v: str) -> str:
        return check_listen(v, empty_ok=True)

    @model_validator(mode="after")
    def _renewed_in_time(self) -> LeaseConfig:
        if self.renew_s * 3 > self.ttl_s:
            raise ValueError(
                f"renew_s ({self.renew_s}) must be at most a third of ttl_s ({self.ttl_s}): "
                "a leader renews several times before its lease could run out"
            )
        return self


class LogConfig(_Strict):
    json_lines: bool = Field(default=False, alias="json")
    level: str = "info"

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ManagerConfig(_Strict):
    api: ApiConfig = ApiConfig()
    http: HttpConfig = HttpConfig()
    database: DatabaseConfig = DatabaseConfig()
    jobs: JobsConfig = JobsConfig()
    chain: ChainConfig = ChainConfig()
    storage: list[StorageConfig] = []
    alerts: AlertsConfig = AlertsConfig()
    lease: LeaseConfig = LeaseConfig()
    log: LogConfig = LogConfig()


def resolve_home(home: str | Path | None) -> Path:
    raw = home or os.environ.get("PROVER_HOME") or DEFAULT_HOME
    return Path(raw).expanduser()


def load_manager_config(path: Path, overrides: Iterable[Override] = ()) -> ManagerConfig:
    """The manager's file with its command line's ``overrides`` on top,
    validated as one (``prover.settings``, as for the other daemons)."""
    return load_settings(
        path, ManagerConfig, overrides, missing_hint="; run `prover-manager daemon init` first"
    )


def database_url(config: ManagerConfig, home: Path) -> str:
    return config.database.url or f"sqlite:///{home / 'prover.db'}"


def default_config_text() -> str:
    """The commented default config (configs/manager.toml), shipped in the
    package: what `daemon init` writes and `config import-lotus` fills in."""
    from importlib import resources

    return resources.files("prover").joinpath("manager.default.toml").read_text()
