"""What the steps of a Curio import pass along: the database's layers and
machines as read, and the report."""

from __future__ import annotations

from dataclasses import dataclass, field

from prover.configimport.report import ConfigImportError, ImportReport

SCHEMA = "curio"  # Curio keeps every table in this schema, never in public


class CurioImportError(ConfigImportError):
    """Curio's database or a layer in it cannot be imported; the message
    names the database, table or layer and what is wrong."""


@dataclass(frozen=True)
class Machine:
    """A Curio node as harmony_machine_details records it: the layers it runs
    with (base first), its task types and the miners it serves."""

    host: str
    layers: tuple[str, ...]
    tasks: tuple[str, ...]
    miners: tuple[str, ...]

    @property
    def proves_window_post(self) -> bool:
        return "WdPost" in self.tasks


@dataclass
class CurioDatabase:
    """Curio's config layers (title -> TOML text) and machines, read from
    ``where`` (the database's URL without its password)."""

    where: str
    layers: dict[str, str]
    machines: list[Machine] = field(default_factory=list)


@dataclass
class CurioImportResult(ImportReport):
    """The report of one import: the layers stacked, in order, and where."""

    where: str
    layers: list[str]
