"""Lotus storage paths as they are: a directory with its ``sectorstore.json``
(written by ``lotus-miner storage attach --init`` or ``lotus-miner init``),
whose ``ID`` is the storage's name here, so that nothing is renamed.

The file is Lotus' ``LocalStorageMeta`` as Go's ``encoding/json`` writes it:
``ID`` (a UUID string), ``Weight``, ``CanSeal``, ``CanStore``,
``MaxStorage``, ``Groups``, ``AllowTo``, ``AllowTypes``, ``DenyTypes``,
``AllowMiners``, ``DenyMiners``. Go matches JSON keys to fields without
regard to case, and so does this reader. Everything but the ID says where
Lotus may *write* sector files; a prover only reads them, so those settings
are reported as ignored, never acted on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

META_FILE = "sectorstore.json"

_BOOLS = ("CanSeal", "CanStore")
_INTS = ("Weight", "MaxStorage")
_LISTS = ("Groups", "AllowTo", "AllowTypes", "DenyTypes", "AllowMiners", "DenyMiners")


class SectorStoreError(ValueError):
    """A Lotus storage path whose sectorstore.json is missing or invalid;
    the message names the file and what is wrong."""


@dataclass(frozen=True)
class LotusPathMeta:
    path: Path
    id: str
    weight: int = 0
    can_seal: bool = False
    can_store: bool = False
    max_storage: int = 0
    groups: tuple[str, ...] = ()
    allow_to: tuple[str, ...] = ()
    allow_types: tuple[str, ...] = ()
    deny_types: tuple[str, ...] = ()
    allow_miners: tuple[str, ...] = ()
    deny_miners: tuple[str, ...] = ()

    @property
    def file(self) -> Path:
        return self.path / META_FILE

    def ignored(self) -> list[str]:
        """What Lotus does with this path that a prover does not (it only
        reads sectors, wherever they lie), one phrase each."""
        out = [
            f"CanStore={_go(self.can_store)}, CanSeal={_go(self.can_seal)}: where Lotus "
            "puts new sector files; sectors found here are read all the same",
            f"Weight={self.weight}: Lotus' preference when placing sectors",
        ]
        if self.max_storage:
            out.append(f"MaxStorage={self.max_storage}: a limit on what Lotus writes here")
        for name, values in (
            ("Groups", self.groups),
            ("AllowTo", self.allow_to),
            ("AllowTypes", self.allow_types),
            ("DenyTypes", self.deny_types),
            ("AllowMiners", self.allow_miners),
            ("DenyMiners", self.deny_miners),
        ):
            if values:
                out.append(f"{name}={list(values)}: rules for what Lotus writes or moves here")
        return out


def _go(value: bool) -> str:
    return "true" if value else "false"


def _field(obj: dict[str, Any], name: str) -> Any:
    """A field as Go's decoder finds it: the exact key, else any key that
    matches without regard to case."""
    if name in obj:
        return obj[name]
    for key, value in obj.items():
        if key.lower() == name.lower():
            return value
    return None


def read_sectorstore(path: Path | str) -> LotusPathMeta:
    """The ``sectorstore.json`` of the Lotus storage path ``path``;
    ``SectorStoreError`` naming the file for a missing or invalid one."""
    root = Path(path).expanduser()
    file = root / META_FILE
    try:
        text = file.read_text()
    except FileNotFoundError:
        if not root.exists():
            what = "no such directory"
        elif not root.is_dir():
            what = "not a directory"
        else:
            what = f"no {META_FILE} in it"
        raise SectorStoreError(
            f"{file}: not found ({root}: {what}); a Lotus storage path has one "
            "(lotus-miner storage attach --init writes it)"
        ) from None
    except OSError as exc:
        raise SectorStoreError(f"{file}: cannot be read: {exc.strerror or exc}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SectorStoreError(f"{file}: not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise SectorStoreError(f"{file}: expected a JSON object, got {type(obj).__name__}")
    sid = _field(obj, "ID")
    if not isinstance(sid, str) or not sid.strip():
        raise SectorStoreError(f"{file}: no storage ID (the ID field must be a non-empty string)")
    if sid != sid.strip() or any(c in sid for c in "\n\r\t\"'"):
        raise SectorStoreError(f"{file}: ID {sid!r} is not usable as a storage name")
    values: dict[str, Any] = {}
    for name in _BOOLS:
        v = _field(obj, name)
        if v is not None and not isinstance(v, bool):
            raise SectorStoreError(f"{file}: {name} must be true or false, got {v!r}")
        values[name] = bool(v)
    for name in _INTS:
        v = _field(obj, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise SectorStoreError(f"{file}: {name} must be a whole number >= 0, got {v!r}")
        values[name] = v or 0
    for name in _LISTS:
        v = _field(obj, name)
        if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            raise SectorStoreError(f"{file}: {name} must be a list of strings or null, got {v!r}")
        values[name] = tuple(v or ())
    return LotusPathMeta(
        path=root,
        id=sid,
        weight=values["Weight"],
        can_seal=values["CanSeal"],
        can_store=values["CanStore"],
        max_storage=values["MaxStorage"],
        groups=values["Groups"],
        allow_to=values["AllowTo"],
        allow_types=values["AllowTypes"],
        deny_types=values["DenyTypes"],
        allow_miners=values["AllowMiners"],
        deny_miners=values["DenyMiners"],
    )


def storage_option(item: str) -> tuple[str, Path]:
    """``prover-storage --storage``: ``NAME=PATH``, or the ``PATH`` of a
    Lotus storage path, named by its sectorstore.json ID. (name, path)."""
    label, sep, path = item.partition("=")
    if sep and "/" not in label:
        if not label or not path:
            raise ValueError(f"expected NAME=PATH or a Lotus storage PATH, got {item!r}")
        return label, Path(path)
    if not item:
        raise ValueError("expected NAME=PATH or a Lotus storage PATH, got ''")
    meta = read_sectorstore(item)
    return meta.id, meta.path


def name_lotus_paths(data: Any) -> Any:
    """A storage host's config before validation: each ``[[storage]]``
    given only a ``path`` is a Lotus storage path and takes its
    sectorstore.json ID as its name."""
    if not isinstance(data, dict) or not isinstance(data.get("storage"), list):
        return data
    storages = []
    for entry in data["storage"]:
        if isinstance(entry, dict) and "name" not in entry and "path" in entry:
            meta = read_sectorstore(entry["path"])
            entry = {**entry, "name": meta.id}
        storages.append(entry)
    return {**data, "storage": storages}


def lotus_path_notes(storages: dict[str, Path]) -> list[dict[str, Any]]:
    """For each storage (name -> path) that is a Lotus storage path: what is
    to be logged at start, its ID and the Lotus settings ignored here."""
    out = []
    for name, path in storages.items():
        if not (Path(path) / META_FILE).is_file():
            continue
        try:
            meta = read_sectorstore(path)
        except SectorStoreError as exc:
            out.append({"storage": name, "path": str(path), "problem": str(exc)})
            continue
        note: dict[str, Any] = {
            "storage": name,
            "path": str(path),
            "lotus_id": meta.id,
            "ignored": meta.ignored(),
        }
        if meta.id != name:
            note["renamed"] = f"named {name} here while Lotus knows it as {meta.id}"
        out.append(note)
    return out
