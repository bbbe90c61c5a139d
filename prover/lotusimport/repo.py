"""Reading a lotus-miner repo: config.toml, storage.json and the miner
node's api and token files, each refused with its file's name when it is
missing or invalid."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prover.lotusimport.model import LotusImportError, LotusRepo

CONFIG_FILE = "config.toml"
STORAGE_FILE = "storage.json"
API_FILE = "api"
TOKEN_FILE = "token"


def find_table(config: Mapping[str, Any], name: str) -> tuple[str, dict[str, Any]] | None:
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
    if not any(find_table(config, t) for t in miner_tables) and any(
        find_table(config, t) for t in ("Chainstore", "Libp2p", "Wallet", "Fevm")
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
