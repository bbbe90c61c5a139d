"""Storage host configuration: the documented file names every key and
parses; mistakes name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from prover.config import ConfigError
from prover.storage.config import StorageHostConfig, load_storage_config

ROOT = Path(__file__).resolve().parents[2]


def test_documented_config_parses_and_names_every_key():
    text = (ROOT / "configs" / "storage.toml").read_text()
    tomllib.loads(text)
    assert load_storage_config(ROOT / "configs" / "storage.toml") == StorageHostConfig(
        name=load_storage_config(ROOT / "configs" / "storage.toml").name
    )
    for key in StorageHostConfig.model_fields:
        assert f"{key} =" in text or f"[[{key}]]" in text or f"\n[{key}]\n" in text, (
            f"{key} is not documented"
        )


def test_bad_config_names_the_key(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        'parallelism = 0\nlisten = "nowhere"\ncolour = "red"\n'
        '[[storage]]\nname = "a"\npath = "/x"\n[[storage]]\nname = "a"\npath = "/y"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_storage_config(cfg)
    msg = str(info.value)
    for key in ("parallelism", "listen", "colour", "storage names repeat"):
        assert key in msg, key


def test_the_announced_address():
    assert StorageHostConfig(listen="10.0.0.5:9702").address == "10.0.0.5:9702"
    assert StorageHostConfig(advertise="store1.lan:9702").address == "store1.lan:9702"
    wildcard = StorageHostConfig(listen="0.0.0.0:9702").address
    assert wildcard.endswith(":9702") and not wildcard.startswith("0.0.0.0")
