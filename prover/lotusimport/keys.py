"""lotus-miner's keys: the ones this import maps, with their kinds and
Lotus' defaults; the ones with no counterpart here and why; the sections
that are not ours. ``lotus_keys`` reads them from a repo, type-checked as
lotus-miner loads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prover.lotusimport.model import LotusImportError, LotusKey, LotusRepo, Unmapped
from prover.lotusimport.repo import find_table
from prover.lotusimport.values import lotus_text, parse_go_duration, parse_lotus_fil

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


def lotus_keys(repo: LotusRepo) -> tuple[dict[tuple[str, str], LotusKey], list[Unmapped]]:
    """Every key of [Proving], [Fees] and [Addresses] (the file's value, else
    Lotus' default), type-checked as Lotus loads them; and the file's other
    keys, each with why it is not ours."""
    keys: dict[tuple[str, str], LotusKey] = {}
    others: list[Unmapped] = []
    for section, known in KNOWN.items():
        found = find_table(repo.config, section)
        table = found[1] if found else {}
        lower = {k.lower(): k for k in known}
        for name, value in table.items():
            key = lower.get(name.lower())
            if key is None:
                others.append(
                    Unmapped(
                        f"[{section}] {name} = {lotus_text(value)}",
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
            others.append(Unmapped(f"{where} = {lotus_text(value)}", reason))
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
