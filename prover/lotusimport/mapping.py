"""Import from lotus-miner: a manager config from a lotus-miner repo
(``prover-manager config import-lotus``).

What is read, and from where:

- ``config.toml`` of the repo, as Lotus writes it (every default commented
  out, ``#  Key = value``; what is set is uncommented): the ``[Proving]``,
  ``[Fees]`` and ``[Addresses]`` keys become their counterparts in
  ``[chain]``; a key with none, or with another meaning here, is reported
  with the reason. A key not set in the file has Lotus' default (its
  ``node/config`` defaults), and is mapped all the same, so that the written
  config says what the miner did.
- ``storage.json`` (``{"StoragePaths": [{"Path": ...}]}``) and each path's
  ``sectorstore.json``: one ``[[storage]]`` per path, named by its ID.
- The miner node (the repo's ``api`` and ``token`` files, ``--miner-api`` or
  ``MINER_API_INFO``): ``ActorAddress``, the miner's actor. The full node
  (``--full-node-api`` or ``FULLNODE_API_INFO``, what lotus-miner runs
  with): ``StateMinerInfo`` for the owner, worker and control addresses,
  ``StateLookupID`` for the addresses ``[Addresses]`` names, and whether the
  wallet holds each possible sender. It becomes ``[chain] api``. A node that
  cannot be reached is said so, and what the files give is written.

Values are converted as Lotus reads them: FIL amounts as ``types.ParseFIL``
does (``"0.5 FIL"``, ``"5"`` meaning FIL, ``"1000 attoFIL"``), durations as
Go's ``time.ParseDuration`` (``"10m0s"``). Environment overrides
(``LOTUS_PROVING_...``) are lotus-miner's process's own: they are listed
when set here, never read.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx

from prover.chain.lotus import LotusClient, LotusError, MinerInfo, parse_api_info
from prover.chain.message import ATTO_PER_FIL, fil
from prover.storage.sectorstore import LotusPathMeta, SectorStoreError, read_sectorstore

CONFIG_FILE = "config.toml"
STORAGE_FILE = "storage.json"
API_FILE = "api"
TOKEN_FILE = "token"
MINER_API_ENV = "MINER_API_INFO"
FULLNODE_API_ENV = "FULLNODE_API_INFO"
NETWORK_POST_PARTITIONS = 3  # the network's limit per SubmitWindowedPoSt (nv21 on)
DECLARATIONS_MAX = 3000  # the miner actor's limit per DeclareFaultsRecovered


class LotusImportError(Exception):
    """The repo or a file in it cannot be imported; the message names the
    file and what is wrong."""


# ---- values as Lotus reads them ---------------------------------------------

_DURATION_UNITS = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "\u00b5s": Decimal("1e-6"),  # Go accepts both micro signs
    "\u03bcs": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}
_DURATION_PART = re.compile("(\\d+\\.?\\d*|\\.\\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string ("10m0s", "1h30m", "1.5s", "0")."""
    if not isinstance(text, str):
        raise ValueError(f'not a duration string: {text!r} (write it as "10m0s")')
    s = text
    sign = Decimal(1)
    if s.startswith(("+", "-")):
        sign = Decimal(-1) if s[0] == "-" else Decimal(1)
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"not a duration: {text!r}")
    total, pos = Decimal(0), 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise ValueError(f'not a duration: {text!r} (e.g. "10m0s", "90s", "1h")')
        total += Decimal(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return float(sign * total)


def parse_lotus_fil(text: Any) -> int:
    """attoFIL in a Lotus FIL string, read as ``types.ParseFIL`` reads it: a
    decimal number, then nothing or "FIL" (FIL), or "attoFIL"/"aFIL"."""
    if not isinstance(text, str):
        raise ValueError(f'not a FIL amount string: {text!r} (Lotus writes "5 FIL")')
    number = text[: len(text) - len(text.lstrip("-.0123456789"))]
    suffix = text[len(number) :].strip().lower()
    if suffix in ("", "fil"):
        scale = ATTO_PER_FIL
    elif suffix in ("attofil", "afil"):
        scale = 1
    else:
        raise ValueError(f"not a FIL amount: {text!r} (unrecognized unit {suffix!r})")
    try:
        amount = Decimal(number) * scale
    except InvalidOperation:
        raise ValueError(f"not a FIL amount: {text!r}") from None
    if amount != amount.to_integral_value():
        raise ValueError(f"not a whole number of attoFIL: {text!r}")
    if amount < 0:
        raise ValueError(f"a negative amount: {text!r}")
    return int(amount)


def toml_value(value: Any) -> str:
    """``value`` as a TOML value (strings, numbers, booleans, lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _lotus_text(value: Any) -> str:
    """A value as it stands in Lotus' config.toml."""
    return toml_value(value) if not isinstance(value, dict) else json.dumps(value)


# ---- lotus-miner's keys, their defaults and what becomes of them ------------

# (kind, Lotus' default as its config.toml writes it); node/config/def.go
PROVING: dict[str, tuple[str, Any]] = {
    "ParallelCheckLimit": ("int", 32),
    "SingleCheckTimeout": ("duration", "10m0s"),
    "PartitionCheckTimeout": ("duration", "20m0s"),
    "DisableBuiltinWindowPoSt": ("bool", False),
    "DisableBuiltinWinningPoSt": ("bool", False),
    "DisableWDPoStPreChecks": ("bool", False),
    "MaxPartitionsPerPoStMessage": ("int", 0),
    "MaxPartitionsPerRecoveryMessage": ("int", 0),
    "SingleRecoveringPartitionPerPostMessage": ("bool", False),
}
FEES: dict[str, tuple[str, Any]] = {
    "MaxPreCommitGasFee": ("fil", "0.025 FIL"),
    "MaxCommitGasFee": ("fil", "0.05 FIL"),
    "MaxTerminateGasFee": ("fil", "0.5 FIL"),
    "MaxWindowPoStGasFee": ("fil", "5 FIL"),
    "MaxPublishDealsFee": ("fil", "0.05 FIL"),
    "MaxMarketBalanceAddFee": ("fil", "0.007 FIL"),
    "MaximizeWindowPoStFeeCap": ("bool", True),
    "MaxPreCommitBatchGasFee": ("batch", {"Base": "0 FIL", "PerSector": "0.02 FIL"}),
    "MaxCommitBatchGasFee": ("batch", {"Base": "0 FIL", "PerSector": "0.03 FIL"}),
}
ADDRESSES: dict[str, tuple[str, Any]] = {
    "PreCommitControl": ("list", []),
    "CommitControl": ("list", []),
    "TerminateControl": ("list", []),
    "DealPublishControl": ("list", []),
    "DisableOwnerFallback": ("bool", False),
    "DisableWorkerFallback": ("bool", False),
}
KNOWN = {"Proving": PROVING, "Fees": FEES, "Addresses": ADDRESSES}
SEALING_SENDERS = ("PreCommitControl", "CommitControl", "TerminateControl", "DealPublishControl")

# Keys with no counterpart here, and why.
NOT_OURS = {
    ("Proving", "PartitionCheckTimeout"): (
        "no counterpart: sectors are checked one at a time here (recovery checks against "
        "recovery_check_timeout_s, proving reads against each storage host's "
        "sector_timeout_s), and a partition's proving is bounded by its deadline"
    ),
    ("Proving", "DisableBuiltinWindowPoSt"): (
        "lotus-miner's own WindowPoSt computation; here prover workers compute every proof"
    ),
    ("Proving", "DisableBuiltinWinningPoSt"): (
        "winning PoSt (block production) is not ours: lotus-miner goes on doing it"
    ),
    ("Proving", "DisableWDPoStPreChecks"): (
        "no counterpart: there is no pre-check round before proving here; a worker reads each "
        "sector once and skips what cannot be read (as Lotus does with PoSt workers), and "
        "recovering sectors are always checked before they are declared (as in Lotus "
        "with this set)"
    ),
    ("Fees", "MaxPreCommitGasFee"): "PreCommit messages (sealing) are not sent by a prover",
    ("Fees", "MaxCommitGasFee"): "ProveCommit messages (sealing) are not sent by a prover",
    ("Fees", "MaxPreCommitBatchGasFee"): "PreCommit batches (sealing) are not sent by a prover",
    ("Fees", "MaxCommitBatchGasFee"): "ProveCommit batches (sealing) are not sent by a prover",
    ("Fees", "MaxTerminateGasFee"): "TerminateSectors is not sent by a prover",
    ("Fees", "MaxPublishDealsFee"): "PublishStorageDeals (deals) is not sent by a prover",
    ("Fees", "MaxMarketBalanceAddFee"): "market balance top-ups (deals) are not sent by a prover",
}

# Why the other sections of lotus-miner's config are not ours.
SECTIONS = {
    "API": "lotus-miner's own API listener",
    "Backup": "lotus-miner's metadata backups",
    "Logging": "lotus-miner's log levels (ours: [log])",
    "Subsystems": "which lotus-miner subsystems run",
    "Dealmaking": "deal making is not ours",
    "Sealing": "sealing is not ours",
    "Storage": "the sealing scheduler's tasks and fetches",
    "HarmonyDB": "a database lotus-miner does not use for WindowPoSt",
}

# Counterparts of lotus-miner's environment overrides, for the note that
# lists those set here.
ENV_COUNTERPARTS = {
    "LOTUS_RECOVERING_SECTOR_LIMIT": "[chain] recovering_sector_limit",
    "LOTUS_PROVING_PARALLELCHECKLIMIT": "[chain] recovery_check_parallelism",
    "LOTUS_PROVING_SINGLECHECKTIMEOUT": "[chain] recovery_check_timeout_s",
    "LOTUS_PROVING_MAXPARTITIONSPERPOSTMESSAGE": "[chain] max_partitions_per_message",
    "LOTUS_PROVING_MAXPARTITIONSPERRECOVERYMESSAGE": "[chain] max_partitions_per_recovery_message",
    "LOTUS_PROVING_SINGLERECOVERINGPARTITIONPERPOSTMESSAGE": (
        "[chain] single_recovering_partition_per_post_message"
    ),
    "LOTUS_FEES_MAXWINDOWPOSTGASFEE": "[chain] max_window_post_gas_fee, max_recovery_gas_fee",
    "LOTUS_FEES_MAXIMIZEWINDOWPOSTFEECAP": "[chain] maximize_window_post_fee_cap",
    "LOTUS_ADDRESSES_DISABLEOWNERFALLBACK": "[chain] use_owner",
    "LOTUS_ADDRESSES_DISABLEWORKERFALLBACK": "[chain] use_worker",
}


@dataclass(frozen=True)
class LotusKey:
    """One lotus-miner setting: its value in the file, else Lotus' default."""

    section: str
    key: str
    value: Any
    set: bool

    def __str__(self) -> str:
        where = "" if self.set else " (Lotus' default)"
        return f"[{self.section}] {self.key} = {_lotus_text(self.value)}{where}"


@dataclass(frozen=True)
class Setting:
    """One of our keys, with the value imported and where it came from."""

    section: str  # "chain"
    key: str
    value: Any
    source: str


@dataclass(frozen=True)
class Unmapped:
    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


@dataclass
class LotusRepo:
    path: Path
    config_file: Path
    config: dict[str, Any]
    storage_file: Path | None
    storage_paths: list[Path]
    api: str | None = None  # the api file's multiaddr
    token: str | None = None


@dataclass
class ImportResult:
    repo: LotusRepo
    settings: list[Setting] = field(default_factory=list)
    storages: list[LotusPathMeta] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def set(self, section: str, key: str, value: Any, source: str) -> None:
        self.settings = [s for s in self.settings if (s.section, s.key) != (section, key)]
        self.settings.append(Setting(section, key, value, source))

    def get(self, section: str, key: str) -> Any:
        for s in self.settings:
            if (s.section, s.key) == (section, key):
                return s.value
        raise KeyError(f"{section}.{key}")

    def skip(self, what: Any, reason: str) -> None:
        self.unmapped.append(Unmapped(str(what), reason))


# ---- reading the repo ---------------------------------------------------------


def _section(config: Mapping[str, Any], name: str) -> tuple[str, dict[str, Any]] | None:
    """A table of the config by name, matched as Lotus' TOML decoder does
    (exactly, else without regard to case)."""
    if isinstance(config.get(name), dict):
        return name, config[name]
    for key, value in config.items():
        if key.lower() == name.lower() and isinstance(value, dict):
            return key, value
    return None


def read_repo(repo: Path, storage_json: Path | None = None) -> LotusRepo:
    """A lotus-miner repo's files; ``LotusImportError`` naming the file for
    a missing or invalid one."""
    repo = repo.expanduser()
    if not repo.exists():
        raise LotusImportError(
            f"{repo}: no such directory (a lotus-miner repo: LOTUS_MINER_PATH, by default "
            "~/.lotusminer)"
        )
    if not repo.is_dir():
        raise LotusImportError(f"{repo}: not a directory (a lotus-miner repo is one)")
    config_file = repo / CONFIG_FILE
    try:
        text = config_file.read_text()
    except FileNotFoundError:
        raise LotusImportError(
            f"{config_file}: not found; is {repo} a lotus-miner repo? (it holds config.toml, "
            "storage.json, keystore/ and datastore/)"
        ) from None
    except OSError as exc:
        raise LotusImportError(f"{config_file}: cannot be read: {exc.strerror or exc}") from None
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LotusImportError(f"{config_file}: not valid TOML: {exc}") from None
    miner_tables = ("Proving", "Sealing", "Subsystems", "Addresses", "Dealmaking")
    if not any(_section(config, t) for t in miner_tables) and any(
        _section(config, t) for t in ("Chainstore", "Libp2p", "Wallet", "Fevm")
    ):
        raise LotusImportError(
            f"{config_file}: a Lotus full node's config (it has [Chainstore] or [Libp2p] and no "
            "[Proving]); give the lotus-miner repo (~/.lotusminer), not the node's (~/.lotus)"
        )
    out = LotusRepo(repo, config_file, config, None, [])
    given = storage_json is not None
    storage_file = (storage_json or repo / STORAGE_FILE).expanduser()
    try:
        raw = storage_file.read_text()
    except FileNotFoundError:
        if given:
            raise LotusImportError(f"{storage_file}: not found") from None
        raw = None
    except OSError as exc:
        raise LotusImportError(f"{storage_file}: cannot be read: {exc.strerror or exc}") from None
    if raw is not None:
        out.storage_file = storage_file
        out.storage_paths = _storage_paths(storage_file, raw)
    out.api = _read_small(repo / API_FILE)
    out.token = _read_small(repo / TOKEN_FILE)
    return out


def _storage_paths(file: Path, raw: str) -> list[Path]:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LotusImportError(f"{file}: not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise LotusImportError(f'{file}: expected {{"StoragePaths": [{{"Path": ...}}]}}')
    paths = next((v for k, v in obj.items() if k.lower() == "storagepaths"), None)
    if paths is None:  # Go writes a nil list as null
        return []
    if not isinstance(paths, list):
        raise LotusImportError(f"{file}: StoragePaths must be a list, got {paths!r}")
    out = []
    for i, entry in enumerate(paths):
        path = (
            next((v for k, v in entry.items() if k.lower() == "path"), None)
            if isinstance(entry, dict)
            else None
        )
        if not isinstance(path, str) or not path:
            raise LotusImportError(
                f'{file}: StoragePaths[{i}] must be {{"Path": "/a/directory"}}, got {entry!r}'
            )
        out.append(Path(path).expanduser())
    return out


def _read_small(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


# ---- the mapping ----------------------------------------------------------------


def lotus_keys(repo: LotusRepo) -> tuple[dict[tuple[str, str], LotusKey], list[Unmapped]]:
    """Every key of [Proving], [Fees] and [Addresses] (the file's value, else
    Lotus' default), type-checked as Lotus loads them; and the file's other
    keys, each with why it is not ours."""
    keys: dict[tuple[str, str], LotusKey] = {}
    others: list[Unmapped] = []
    for section, known in KNOWN.items():
        found = _section(repo.config, section)
        table = found[1] if found else {}
        lower = {k.lower(): k for k in known}
        for name, value in table.items():
            key = lower.get(name.lower())
            if key is None:
                others.append(
                    Unmapped(
                        f"[{section}] {name} = {_lotus_text(value)}",
                        "not a key this import knows (a newer or older lotus-miner?); "
                        "not carried over",
                    )
                )
                continue
            kind = known[key][0]
            if kind == "batch" and value == {}:
                continue  # its header alone: Lotus writes every table's, keys commented
            _check(repo.config_file, section, key, kind, value)
            if kind == "batch":
                value = {**known[key][1], **value}
            keys[(section, key)] = LotusKey(section, key, value, True)
        for key, (_kind, default) in known.items():
            keys.setdefault((section, key), LotusKey(section, key, default, False))
    for name, table in repo.config.items():
        if any(name.lower() == s.lower() for s in KNOWN):
            continue
        reason = next(
            (r for s, r in SECTIONS.items() if s.lower() == name.lower()),
            "not a WindowPoSt setting",
        )
        for key, value in _flatten(table):
            where = f"[{name}] {key}" if isinstance(table, dict) else name
            others.append(Unmapped(f"{where} = {_lotus_text(value)}", reason))
    return keys, others


def _flatten(table: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if not isinstance(table, dict):
        return [(prefix, table)]
    out = []
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        out += _flatten(value, name) if isinstance(value, dict) else [(name, value)]
    return out


def _check(file: Path, section: str, key: str, kind: str, value: Any) -> None:
    """``value`` as lotus-miner would load it, or ``LotusImportError``."""
    where = f"{file}: [{section}] {key}"
    try:
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"expected a whole number, got {value!r}")
        if kind == "bool" and not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        if kind == "duration":
            parse_go_duration(value)
        if kind == "fil":
            parse_lotus_fil(value)
        if kind == "list" and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise ValueError(f"expected a list of addresses, got {value!r}")
        if kind == "batch":
            if not isinstance(value, dict):
                raise ValueError(f"expected a table with Base and PerSector, got {value!r}")
            for sub, v in value.items():
                if sub not in ("Base", "PerSector"):
                    raise ValueError(f"unknown key {sub!r} (Base and PerSector)")
                parse_lotus_fil(v)
    except ValueError as exc:
        raise LotusImportError(f"{where}: {exc}") from None


def map_keys(result: ImportResult, keys: dict[tuple[str, str], LotusKey]) -> None:
    """[Proving] and [Fees] to [chain] (the senders are ``map_senders``')."""

    def k(section: str, key: str) -> LotusKey:
        return keys[(section, key)]

    def via(*ks: LotusKey) -> str:
        return "Lotus " + "; ".join(str(x) for x in ks)

    # [Proving]
    for name in ("ParallelCheckLimit", "MaxPartitionsPerRecoveryMessage"):
        if k("Proving", name).value < 0:
            raise LotusImportError(
                f"{result.repo.config_file}: [Proving] {name}: expected 0 or more, "
                f"got {k('Proving', name).value}"
            )
    pcl = k("Proving", "ParallelCheckLimit")
    if pcl.value > 0:
        result.set("chain", "recovery_check_parallelism", pcl.value, via(pcl))
    else:
        result.skip(
            pcl,
            f"{pcl.value} (unlimited) has no counterpart: recovery_check_parallelism must be "
            "a bound (1 or more); left at its default, 32",
        )
    sct = k("Proving", "SingleCheckTimeout")
    seconds = parse_go_duration(sct.value)
    if seconds > 0:
        result.set("chain", "recovery_check_timeout_s", seconds, via(sct))
    else:
        result.skip(
            sct,
            "no timeout has no counterpart: recovery_check_timeout_s must be above 0; left "
            "at its default, 600 s",
        )
    mpp = k("Proving", "MaxPartitionsPerPoStMessage")
    if mpp.value <= 0 or mpp.value > NETWORK_POST_PARTITIONS:
        why = "0: the network's limit" if mpp.value <= 0 else "above the network's limit"
        result.set(
            "chain",
            "max_partitions_per_message",
            NETWORK_POST_PARTITIONS,
            via(mpp) + f" ({why}, {NETWORK_POST_PARTITIONS})",
        )
    else:
        result.set("chain", "max_partitions_per_message", mpp.value, via(mpp))
    mpr = k("Proving", "MaxPartitionsPerRecoveryMessage")
    if mpr.value > DECLARATIONS_MAX:
        result.set(
            "chain",
            "max_partitions_per_recovery_message",
            0,
            via(mpr) + f" (more than the actor's {DECLARATIONS_MAX}: no limit, 0)",
        )
    else:
        result.set("chain", "max_partitions_per_recovery_message", mpr.value, via(mpr))
    srp = k("Proving", "SingleRecoveringPartitionPerPostMessage")
    result.set("chain", "single_recovering_partition_per_post_message", srp.value, via(srp))

    # [Fees]
    wpf = k("Fees", "MaxWindowPoStGasFee")
    amount = fil(parse_lotus_fil(wpf.value))
    result.set("chain", "max_window_post_gas_fee", amount, via(wpf))
    result.set(
        "chain",
        "max_recovery_gas_fee",
        amount,
        via(wpf) + " (Lotus caps DeclareFaultsRecovered with it too)",
    )
    mfc = k("Fees", "MaximizeWindowPoStFeeCap")
    result.set("chain", "maximize_window_post_fee_cap", mfc.value, via(mfc))
    if mfc.value:
        result.notes.append(
            "MaximizeWindowPoStFeeCap: Lotus raises the fee cap of recovery declarations too; "
            "here only PoSt messages' (a recovery's fee cap is the node's estimate)"
        )

    for (section, key), reason in NOT_OURS.items():
        result.skip(k(section, key), reason)


def map_senders(
    result: ImportResult,
    keys: dict[tuple[str, str], LotusKey],
    infos: dict[int, MinerInfo],
    lookup_id: Callable[[str], str] | None,
) -> None:
    """[Addresses] to who sends PoSt and recovery messages. Lotus sends them
    from the miner's control addresses on chain less those its
    PreCommitControl, CommitControl, TerminateControl and DealPublishControl
    give to other messages; then the worker (always, when no control address
    is left, unless DisableWorkerFallback) and the owner (unless
    DisableOwnerFallback)."""
    dof = keys[("Addresses", "DisableOwnerFallback")]
    dwf = keys[("Addresses", "DisableWorkerFallback")]
    sealing = [keys[("Addresses", n)] for n in SEALING_SENDERS]
    reserved = [a for s in sealing for a in s.value]
    for s in sealing:
        if not s.value:
            result.skip(
                s,
                "the senders of sealing or deal messages, which a prover does not send; "
                "none set, so no control address is kept from PoSt",
            )
    if reserved and infos and lookup_id is not None:
        ids = {}
        for address in reserved:
            try:
                ids[address] = address if address[1:2] == "0" else lookup_id(address)
            except LotusError as exc:
                result.notes.append(f"[Addresses] {address}: StateLookupID failed ({exc})")
        taken = {_id_number(a) for a in ids.values()}
        senders: list[str] = []
        for miner, info in sorted(infos.items()):
            ctl = [
                a
                for a in info.control_addresses
                if a not in (info.owner, info.worker) and _id_number(a) not in taken
            ]
            chosen = list(ctl)
            if not ctl or not dwf.value:
                chosen.append(info.worker)
            if not dof.value:
                chosen.append(info.owner)
            senders += [a for a in chosen if a not in senders]
            kept = [a for a in info.control_addresses if _id_number(a) in taken]
            result.notes.append(
                f"miner {miner}: PoSt and recoveries go from {', '.join(chosen)} as in Lotus; "
                f"control addresses kept for sealing by [Addresses]: {', '.join(kept) or 'none'}"
            )
        source = "Lotus " + "; ".join(str(s) for s in [*sealing, dwf, dof] if s.set or s.value)
        result.set("chain", "senders", senders, source + " with StateMinerInfo, at import")
        result.notes.append(
            "senders is fixed at import (Lotus leaves out the control addresses its [Addresses] "
            "lists give to sealing): after a change of control addresses on chain, edit it"
        )
        for s in sealing:
            if s.value:
                result.skip(s, "left out of senders (its addresses send sealing messages)")
        return
    if reserved:
        result.notes.append(
            "NOT MAPPED: [Addresses] "
            + ", ".join(str(s.key) for s in sealing if s.value)
            + " keep control addresses from PoSt in Lotus; without the miner's control "
            "addresses on chain (its actor, and the full node's StateMinerInfo and "
            "StateLookupID: --miner-api or --miner, --full-node-api) they cannot be left out "
            "here, so senders = [] lets every control address pay for PoSt: run the import "
            "again with the nodes, or set senders by hand"
        )
        for s in sealing:
            if s.value:
                result.skip(s, "not applied: no full node to resolve the control addresses")
    result.set("chain", "use_owner", not dof.value, f"Lotus {dof} (use_owner = not it)")
    use_worker = not dwf.value
    source = f"Lotus {dwf} (use_worker = not it)"
    if dwf.value:
        if infos and all(
            not [a for a in i.control_addresses if a not in (i.owner, i.worker)]
            for i in infos.values()
        ):
            use_worker = True
            source += "; the miner has no control address, and then Lotus uses the worker"
        elif not infos:
            result.notes.append(
                "DisableWorkerFallback: Lotus still uses the worker when the miner has no "
                "control address; here use_worker = false then leaves only the owner"
            )
    result.set("chain", "use_worker", use_worker, source)


def _id_number(address: str) -> str:
    return address[2:] if address[1:2] == "0" else address


def map_storages(result: ImportResult) -> None:
    """storage.json's paths to [[storage]], named by their sectorstore.json ID."""
    repo = result.repo
    if repo.storage_file is None:
        result.notes.append(
            f"no {repo.path / STORAGE_FILE}: no [[storage]] imported (give --storage-json)"
        )
        return
    seen: dict[str, Path] = {}
    for path in repo.storage_paths:
        try:
            meta = read_sectorstore(path)
        except SectorStoreError as exc:
            if not path.exists():
                result.skip(
                    f"{repo.storage_file}: {path}",
                    "not found on this machine (not mounted here?): no [[storage]] for it; "
                    "add it by hand, or import where it is mounted",
                )
                continue
            raise LotusImportError(str(exc)) from None
        if meta.id in seen:
            raise LotusImportError(
                f"{repo.storage_file}: {path} and {seen[meta.id]} have the same ID {meta.id} "
                "in their sectorstore.json (Lotus refuses to open the second)"
            )
        seen[meta.id] = path
        result.storages.append(meta)


def ask_miner(api_info: str, timeout: float = 10.0) -> str:
    """The miner's actor address from its node (``ActorAddress``, on the
    miner API's /rpc/v0), ``TOKEN:MULTIADDR`` or ``TOKEN:URL``."""
    url, token = miner_url(api_info)
    body = {"jsonrpc": "2.0", "id": 1, "method": "Filecoin.ActorAddress", "params": []}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = httpx.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise LotusError("ActorAddress", f"miner node unreachable at {url}: {exc}") from None
    if resp.status_code in (401, 403):
        raise LotusError("ActorAddress", f"the miner node at {url} refused the token")
    try:
        resp.raise_for_status()
        answer = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise LotusError("ActorAddress", f"bad answer from {url}: {exc}") from None
    if answer.get("error"):
        err = answer["error"]
        raise LotusError("ActorAddress", str(err.get("message", err)), err.get("code"))
    address = answer.get("result")
    if not isinstance(address, str) or not re.fullmatch(r"[ft]0\d+", address):
        raise LotusError("ActorAddress", f"not a miner's ID address: {address!r}")
    return address


def miner_url(api_info: str) -> tuple[str, str | None]:
    """(URL of the miner API, token): lotus-miner serves /rpc/v0 only."""
    value = api_info.strip()
    for v in ("/rpc/v0", "/rpc/v1"):
        if value.rstrip("/").endswith(v):
            value = value.rstrip("/")[: -len(v)]
    token, url = parse_api_info(value)
    return url[: -len("/rpc/v1")] + "/rpc/v0", token


def parse_miner(value: str) -> tuple[int, str | None]:
    """A miner as ``f01000``, ``t01000`` or ``1000``: (actor id, prefix)."""
    m = re.fullmatch(r"([ft])0(\d+)|(\d+)", value.strip())
    if not m:
        raise ValueError(f"not a miner actor: {value!r} (f01000, t01000 or 1000)")
    if m.group(3):
        return int(m.group(3)), None
    return int(m.group(2)), m.group(1)


@dataclass
class Nodes:
    miner_api: str | None = None
    full_node_api: str | None = None
    miners: list[str] = field(default_factory=list)
    timeout: float = 10.0


def import_repo(
    repo: Path,
    storage_json: Path | None = None,
    nodes: Nodes | None = None,
    env: Mapping[str, str] | None = None,
) -> ImportResult:
    """Everything the config is written from, and the report."""
    nodes = nodes or Nodes()
    env = os.environ if env is None else env
    result = ImportResult(read_repo(repo, storage_json))
    keys, others = lotus_keys(result.repo)
    map_keys(result, keys)
    miners, prefix, source = _miners(result, nodes, env)
    if miners:
        result.set("chain", "miners", miners, source)
        result.set("chain", "network", prefix or "f", f"the miners' address prefix ({source})")
    client = _full_node(result, nodes, env, prefix)
    try:
        infos = _miner_infos(result, client, miners) if client else {}
        map_senders(result, keys, infos, client.state_lookup_id if client else None)
    finally:
        if client:
            client.close()
    map_storages(result)
    result.unmapped += others
    _env_notes(result, env)
    subsystems = _section(result.repo.config, "Subsystems")
    if not (subsystems and subsystems[1].get("DisableWindowPoSt") is True):
        result.notes.append(
            "lotus-miner proves WindowPoSt itself until its [Subsystems] DisableWindowPoSt = "
            "true: switch it off once the prover proves, or both send (the second PoSt of a "
            "partition is refused and its gas lost)"
        )
    return result


def _miners(
    result: ImportResult, nodes: Nodes, env: Mapping[str, str]
) -> tuple[list[int], str | None, str]:
    """The miners: --miner, and the miner node's ActorAddress."""
    repo = result.repo
    miners: list[int] = []
    prefix: str | None = None
    for value in nodes.miners:
        number, p = parse_miner(value)
        miners.append(number)
        prefix = prefix or p
    given = "--miner" if miners else ""
    if nodes.miner_api:
        info, where = nodes.miner_api, "--miner-api"
    elif repo.api:
        info = f"{repo.token}:{repo.api}" if repo.token else repo.api
        where = f"{repo.path / API_FILE} and {TOKEN_FILE}"
    elif env.get(MINER_API_ENV):
        info, where = env[MINER_API_ENV], MINER_API_ENV
    else:
        if not miners:
            result.notes.append(
                f"no miner node: {repo.path / API_FILE} is absent (lotus-miner removes it when "
                "it stops) and no --miner-api or MINER_API_INFO: [chain] miners left empty; "
                "give --miner f0XXXX, or run the import while lotus-miner runs"
            )
        return miners, prefix, given
    try:
        address = ask_miner(info, nodes.timeout)
    except (LotusError, ValueError) as exc:
        result.notes.append(
            f"the miner node ({where}) did not answer ActorAddress: {exc}"
            + ("" if miners else "; [chain] miners left empty (give --miner f0XXXX)")
        )
        return miners, prefix, given
    number, p = parse_miner(address)
    if number not in miners:
        miners.append(number)
    result.notes.append(f"the miner node ({where}) is {address}")
    source = f"the miner node's ActorAddress ({where})" + (" and --miner" if given else "")
    return miners, prefix or p, source


def _full_node(
    result: ImportResult, nodes: Nodes, env: Mapping[str, str], prefix: str | None
) -> LotusClient | None:
    info = nodes.full_node_api or env.get(FULLNODE_API_ENV)
    where = "--full-node-api" if nodes.full_node_api else FULLNODE_API_ENV
    if not info:
        result.notes.append(
            "no full node (--full-node-api, or FULLNODE_API_INFO as lotus-miner runs with): "
            "[chain] api left empty, control addresses not read"
        )
        return None
    try:
        token, url = parse_api_info(info)
    except ValueError as exc:
        raise LotusImportError(f"{where}: {exc}") from None
    result.set("chain", "api", info, f"{where} (the node lotus-miner follows)")
    return LotusClient(url, token, timeout=nodes.timeout, retries=1, network=prefix or "f")


def _miner_infos(
    result: ImportResult, client: LotusClient, miners: list[int]
) -> dict[int, MinerInfo]:
    infos: dict[int, MinerInfo] = {}
    for miner in miners:
        try:
            mi = client.state_miner_info(miner)
        except LotusError as exc:
            result.notes.append(f"the full node did not answer StateMinerInfo for {miner}: {exc}")
            continue
        infos[miner] = mi
        held = _wallet_holds(client, [*mi.control_addresses, mi.worker, mi.owner])
        result.notes.append(
            f"miner {miner} on chain: owner {mi.owner}, worker {mi.worker}, control addresses "
            f"{', '.join(mi.control_addresses) or 'none'}; in the node's wallet: {held}"
        )
    return infos


def _wallet_holds(client: LotusClient, addresses: list[str]) -> str:
    out = []
    for address in dict.fromkeys(addresses):
        try:
            key = client.state_account_key(address) if address[1:2] == "0" else address
            out.append(f"{address} {'yes' if client.wallet_has(key) else 'no'}")
        except LotusError as exc:
            out.append(f"{address} unknown ({exc.method} failed)")
    return ", ".join(out)


def _env_notes(result: ImportResult, env: Mapping[str, str]) -> None:
    for name in sorted(env):
        if name in ENV_COUNTERPARTS or name.startswith(
            ("LOTUS_PROVING_", "LOTUS_FEES_", "LOTUS_ADDRESSES_")
        ):
            counterpart = ENV_COUNTERPARTS.get(name)
            result.notes.append(
                f"{name}={env[name]} is set in this environment: not read (lotus-miner's own "
                "environment overrides its config.toml; only the files are imported)"
                + (f"; its counterpart is {counterpart}" if counterpart else "")
            )


# ---- writing the config -----------------------------------------------------------


def render(result: ImportResult, default_text: str, header: str = "") -> str:
    """The default config text with each imported key set in place, a
    comment above it saying where it came from; the storages appended; the
    Lotus keys not carried over listed at the end."""
    pending = {(s.section, s.key): s for s in result.settings}
    section = ""
    out = [c for line in header.splitlines() for c in _comment(line, rest="# ") or ["#"]]
    out += [""] if out else []
    for line in default_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            section = stripped.strip("[]").strip()
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if m and (section, m.group(1)) in pending:
            s = pending.pop((section, m.group(1)))
            out += [*_comment(f"imported from {s.source}"), f"{s.key} = {toml_value(s.value)}"]
            continue
        out.append(line)
    if pending:
        raise LotusImportError(
            "the default config has no line for "
            + ", ".join(f"[{s}] {k}" for s, k in pending)
            + " (a bug: the import and configs/manager.toml disagree)"
        )
    for meta in result.storages:
        out += [
            "",
            *_comment(
                f"imported: the Lotus storage path {meta.path}, named by the ID in its "
                f"sectorstore.json (CanStore={'true' if meta.can_store else 'false'}, "
                f"CanSeal={'true' if meta.can_seal else 'false'}, Weight={meta.weight}; "
                "a prover only reads)"
            ),
            "[[storage]]",
            f"name = {toml_value(meta.id)}",
            f"path = {toml_value(str(meta.path))}",
        ]
    if result.unmapped:
        out += ["", "# lotus-miner settings not carried over, and why:"]
        for u in result.unmapped:
            out += _comment(str(u), first="#   - ", rest="#     ")
    return "\n".join(out) + "\n"


def _comment(text: str, first: str = "# ", rest: str = "#   ") -> list[str]:
    return textwrap.wrap(
        text, 98, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )
