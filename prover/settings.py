"""A daemon's settings: its TOML file with its command line on top,
validated once, as one.

The configs say "command-line flags override the file", so what a daemon
runs with is the merge, and that is what is checked. Checking the file
alone first refused settings that were only split between the two (a
``[lotus_index] api`` in the file with ``--lotus-listen`` on the command
line: "lotus_listen is not set"), and refused a file value the command
line replaced; checking the flags after a ``model_copy`` skipped the
model's validators for them. Every error names the setting and where it
came from (the file, or the option), since with two sources "lotus_listen
is not set" does not say where to set it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, ValidationInfo

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A daemon's settings refused: names the setting and where it came from."""


# the validation context's key: setting (dotted for a table's key) -> where it came from
ORIGINS = "origins"


@dataclass(frozen=True)
class Override:
    """One command-line option given: the setting it sets (a table's key
    dotted: ``lotus_index.api``), its value, and whether it adds to the
    file's list rather than replacing it (``--storage``)."""

    option: str
    key: str
    value: Any
    extend: bool = False


def read_toml(path: Path, missing_hint: str = "") -> dict[str, Any]:
    """The file's settings, unvalidated; errors name the file."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: not found{missing_hint}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _file_origins(data: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        out[prefix + key] = where
        if isinstance(value, dict):
            out |= _file_origins(value, where, f"{prefix}{key}.")
        elif isinstance(value, list):
            out |= {f"{prefix}{key}.{i}": where for i in range(len(value))}
    return out


def _apply(data: dict[str, Any], origins: dict[str, str], o: Override) -> None:
    """Sets ``o`` in ``data`` (tables copied, not changed in place) and
    records where each setting it touched came from."""
    *tables, last = o.key.split(".")
    node = data
    for table in tables:
        inner = node.get(table)
        node[table] = dict(inner) if isinstance(inner, dict) else {}
        node = node[table]
    if o.extend:
        before = list(node.get(last) or [])
        node[last] = [*before, *o.value]
        origins |= {f"{o.key}.{i}": o.option for i in range(len(before), len(node[last]))}
        origins[o.key] = f"{origins[o.key]} and {o.option}" if o.key in origins else o.option
    else:
        node[last] = o.value
        for k in [k for k in origins if k == o.key or k.startswith(o.key + ".")]:
            del origins[k]  # what the file had there is replaced
        origins |= _file_origins({last: o.value}, o.option, "".join(t + "." for t in tables))


def origin_of(origins: Mapping[str, str], loc: Iterable[Any]) -> str | None:
    """Where the setting at ``loc`` (an error's location) came from: its
    own entry, else its table's; None for a default."""
    parts = [str(p) for p in loc]
    while parts:
        found = origins.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None


def set_by(info: ValidationInfo, key: str) -> str:
    """`` (from ORIGIN)`` for a model validator's message about ``key``
    when the settings were merged from a file and a command line; "" when
    validated from one source (its errors are already prefixed with it)
    or when ``key`` has its default."""
    origins = (info.context or {}).get(ORIGINS)
    found = origin_of(origins, key.split(".")) if origins else None
    return f" (from {found})" if found else ""


def _describe(exc: ValidationError, origins: Mapping[str, str] | None) -> list[str]:
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        key = ".".join(str(p) for p in err["loc"])
        found = origin_of(origins, err["loc"]) if origins and key else None
        if found:
            lines.append(f"{key} (from {found}): {msg}")
        else:
            lines.append(f"{key}: {msg}" if key else msg)
    return lines


def load_settings(
    path: Path | None,
    model: type[M],
    overrides: Iterable[Override] = (),
    *,
    missing_hint: str = "",
) -> M:
    """``model`` from the file at ``path`` (None: no file) with the
    ``overrides`` on top, validated once. Without overrides the errors
    read as before (``FILE: key: message``); with them each names where
    its setting came from (``lotus_listen (from --lotus-listen): ...``)."""
    data = read_toml(path, missing_hint) if path is not None else {}
    given = list(overrides)
    origins = _file_origins(data, str(path)) if path is not None else {}
    for o in given:
        _apply(data, origins, o)
    context = {ORIGINS: origins} if given else None
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        lines = _describe(exc, origins if given else None)
        prefix = f"{path}: " if path is not None and not given else ""
        raise ConfigError(prefix + "; ".join(lines)) from exc
