"""What the steps of an import pass along: the repo as read, lotus-miner's
keys, our settings with where each came from, and what is not carried over."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.configimport.report import ConfigImportError, ImportReport, Setting, Unmapped
from prover.lotusimport.values import lotus_text

__all__ = ["ImportResult", "LotusImportError", "LotusKey", "LotusRepo", "Setting", "Unmapped"]


class LotusImportError(ConfigImportError):
    """The repo or a file in it cannot be imported; the message names the
    file and what is wrong."""


@dataclass(frozen=True)
class LotusKey:
    """One lotus-miner setting: its value in the file, else Lotus' default."""

    section: str
    key: str
    value: Any
    set: bool

    def __str__(self) -> str:
        where = "" if self.set else " (Lotus' default)"
        return f"[{self.section}] {self.key} = {lotus_text(self.value)}{where}"


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
class ImportResult(ImportReport):
    """The report (settings, storages, what is not carried over, notes) of
    one lotus-miner repo."""

    repo: LotusRepo
