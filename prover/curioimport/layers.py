"""Stacking Curio's layers as Curio does: ``base`` first, then the layers
named in their order (a repeat is dropped), each decoded over what the
earlier ones left, starting from Curio's defaults.

Decoding over a filled-in config is what gives the rules: a key a layer
does not name keeps its value; keys match case-insensitively; a list of
values is replaced whole; ``[[Addresses]]`` entries merge by position (the
layer's i-th entry over the i-th so far, or over a default entry) and the
list takes the layer's length, so earlier entries past it are dropped; a
layer without ``[[Addresses]]`` leaves them as they were. A line
``[addresses]`` (any case, the old single-table form) reads as
``[[addresses]]``. Curio ignores a layer it cannot find; an import refuses
it, since a layer named and missing is a mistake."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prover.configimport import toml_value
from prover.curioimport.defaults import defaults, entry_default
from prover.curioimport.model import SCHEMA, CurioImportError

Path = tuple[str | int, ...]

_OLD_ADDRESSES = re.compile(r"^\[addresses\]$", re.IGNORECASE | re.MULTILINE)


def layer_order(requested: Sequence[str]) -> list[str]:
    """``base``, then the layers named, each once, in the order first named."""
    out: list[str] = []
    for title in ["base", *requested]:
        if title and title not in out:
            out.append(title)
    return out


def parse_layer(title: str, text: str) -> dict[str, Any]:
    """One layer's TOML, with the old ``[addresses]`` table read as
    ``[[addresses]]``; invalid TOML is refused naming the layer."""
    try:
        return tomllib.loads(_OLD_ADDRESSES.sub("[[addresses]]", text))
    except tomllib.TOMLDecodeError as exc:
        raise CurioImportError(
            f"the layer {title!r} in {SCHEMA}.harmony_config is not valid TOML: {exc}"
        ) from None


@dataclass
class Stacked:
    """The config the layers give, and which layer set each value (a value
    no layer set is Curio's default)."""

    values: dict[str, Any]
    layers: list[str]
    origin: dict[Path, str] = field(default_factory=dict)

    def get(self, *path: str | int) -> Any:
        node: Any = self.values
        for part in path:
            node = node[part]
        return node

    def source(self, *path: str | int) -> str | None:
        """The layer that set the value at ``path``, or None (the default)."""
        return self.origin.get(tuple(path))

    def describe(self, *path: str | int) -> str:
        """``[Fees] MaxWindowPoStGasFee = "3 FIL" (layer 'post')`` for reports."""
        value = self.get(*path)
        where = self.source(*path)
        shown = _shown(_redacted(path[-1], value))
        head = f"[{path[0]}]" if len(path) > 1 else ""
        if path[0] == "Addresses" and len(path) > 2:
            head = f"[[Addresses]] #{int(path[1]) + 1}"
            path = path[1:]
        name = ".".join(str(p) for p in path[1:]) or str(path[0])
        suffix = f" (layer {where!r})" if where else " (Curio's default)"
        return f"{head} {name} = {shown}{suffix}".strip()

    def set_by_layers(self) -> list[Path]:
        """Every value some layer set, in the order of the config."""
        return list(self.origin)


def _redacted(key: str | int, value: Any) -> Any:
    """Secrets as reports show them: the storage secret not at all, the
    nodes' tokens (``TOKEN:MULTIADDR``) cut off."""
    if key == "StorageRPCSecret" and value:
        return "<secret>"
    if key == "ChainApiInfo" and isinstance(value, list):
        return [
            "<token>:" + v.partition(":")[2]
            if isinstance(v, str) and ":" in v and not v.partition(":")[2].startswith("//")
            else v
            for v in value
        ]
    return value


def _shown(value: Any) -> str:
    try:
        return toml_value(value)
    except TypeError:
        return repr(value)


def stack(layers: Sequence[tuple[str, dict[str, Any]]]) -> Stacked:
    """The layers, parsed and in order (base first), decoded one over the
    other from Curio's defaults."""
    out = Stacked(defaults(), [title for title, _ in layers])
    for title, tree in layers:
        _merge(out, out.values, tree, (), title)
    return out


def _match(table: dict[str, Any], key: str) -> str:
    """The key already in ``table`` that ``key`` names: the same, else one
    equal but for case (as Curio's decoder matches), else ``key``."""
    if key in table:
        return key
    folded = key.casefold()
    return next((k for k in table if k.casefold() == folded), key)


def _merge(out: Stacked, into: dict[str, Any], tree: dict[str, Any], path: Path, title: str):
    for key, value in tree.items():
        name = _match(into, key)
        here = (*path, name)
        old = into.get(name)
        if isinstance(value, dict):
            if old is not None and not isinstance(old, dict):
                raise CurioImportError(
                    f"the layer {title!r}: {'.'.join(map(str, here))} is a table here, "
                    f"a value in Curio ({_shown(old)})"
                )
            if old is None:
                into[name] = old = {}
            _merge(out, old, value, here, title)
        elif value and isinstance(value, list) and all(isinstance(v, dict) for v in value):
            olds = old if isinstance(old, list) else []
            merged = []
            for i, entry in enumerate(value):
                base = olds[i] if i < len(olds) and isinstance(olds[i], dict) else None
                base = base if base is not None else entry_default(name)
                _merge(out, base, entry, (*here, i), title)
                merged.append(base)
            into[name] = merged
            _forget(out, here, keep=len(value))
        else:
            if isinstance(old, dict) or (name == "Addresses" and not isinstance(value, list)):
                raise CurioImportError(
                    f"the layer {title!r}: {'.'.join(map(str, here))} = {_shown(value)} where "
                    "Curio has a table" + (" ([[Addresses]])" if name == "Addresses" else "")
                )
            into[name] = value
            _forget(out, here, keep=0)
            out.origin[here] = title


def _forget(out: Stacked, path: Path, keep: int) -> None:
    """Drops the origins under ``path`` past entry ``keep`` (entries a layer
    cut off), or all of them (a value replaced whole)."""
    n = len(path)
    for p in [p for p in out.origin if len(p) > n and p[:n] == path]:
        if isinstance(p[n], int) and p[n] < keep:
            continue
        del out.origin[p]
