"""What an import passes along and reports: our keys with where each came
from, the settings not carried over with the reason, and notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prover.storage.sectorstore import LotusPathMeta


class ConfigImportError(Exception):
    """The source cannot be imported; the message names what is wrong and
    where (a file, a database table, a layer)."""


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
class ImportReport:
    """The settings, storages, what is not carried over and notes. Its fields
    are keyword-only so that an import's own result can add positional ones
    (the lotus-miner import's repo)."""

    settings: list[Setting] = field(default_factory=list, kw_only=True)
    storages: list[LotusPathMeta] = field(default_factory=list, kw_only=True)
    unmapped: list[Unmapped] = field(default_factory=list, kw_only=True)
    notes: list[str] = field(default_factory=list, kw_only=True)

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
