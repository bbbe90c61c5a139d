"""What the steps of an import pass along: the repo as read, lotus-miner's
keys, our settings with where each came from, and what is not carried over."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.lotusimport.values import lotus_text
from prover.storage.sectorstore import LotusPathMeta


class LotusImportError(Exception):
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
