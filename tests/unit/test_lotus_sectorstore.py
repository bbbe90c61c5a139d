"""A Lotus storage path given to prover-storage as it is: its
sectorstore.json (tests/data/lotus, as `lotus-miner init` and `lotus-miner
storage attach --init --store` write it) names it by its ID; an invalid
one is refused naming the file; the Lotus settings about where to write,
which a prover ignores, are listed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from prover.cli.storage_main import cli as storage_cli
from prover.config import ConfigError
from prover.storage.config import StorageHostConfig, load_storage_config
from prover.storage.sectorstore import (
    SectorStoreError,
    lotus_path_notes,
    read_sectorstore,
    storage_option,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "lotus"
REPO_ID = "3f1a6e0c-7d2b-4c39-9a51-2b8e4d6f0a17"
STORE_ID = "b7c2d915-48e0-4f6a-8c3d-91e5a0f27b64"


@pytest.fixture
def store(tmp_path) -> Path:
    path = tmp_path / "store-1"
    shutil.copytree(DATA / "store-path", path)
    return path


def test_sectorstore_json_as_lotus_writes_it():
    init = read_sectorstore(DATA / "miner-repo")
    assert (init.id, init.weight, init.can_seal, init.can_store) == (REPO_ID, 10, True, True)
    assert init.groups == () and init.max_storage == 0  # Go writes nil lists as null
    attached = read_sectorstore(DATA / "store-path")
    assert (attached.id, attached.can_seal, attached.can_store) == (STORE_ID, False, True)
    assert attached.max_storage == 2 << 40 and attached.groups == ("cold",)


def test_keys_match_without_regard_to_case_as_gos_decoder_does(tmp_path):
    (tmp_path / "sectorstore.json").write_text('{"id": "abc", "canstore": true}')
    meta = read_sectorstore(tmp_path)
    assert (meta.id, meta.can_store, meta.can_seal) == ("abc", True, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"Weight": 10}', "no storage ID"),
        ('{"ID": 7}', "no storage ID"),
        ('{"ID": "a", "CanStore": "yes"}', "CanStore must be true or false"),
        ('{"ID": "a", "MaxStorage": -1}', "MaxStorage must be a whole number"),
        ('{"ID": "a", "Groups": "cold"}', "Groups must be a list of strings"),
    ],
)
def test_an_invalid_sectorstore_json_is_named(tmp_path, text, message):
    (tmp_path / "sectorstore.json").write_text(text)
    with pytest.raises(SectorStoreError, match=message) as info:
        read_sectorstore(tmp_path)
    assert str(tmp_path / "sectorstore.json") in str(info.value)


def test_a_path_without_one_is_named(tmp_path):
    with pytest.raises(SectorStoreError, match=r"sectorstore.json: not found .*no such directory"):
        read_sectorstore(tmp_path / "gone")
    with pytest.raises(SectorStoreError, match=r"no sectorstore.json in it"):
        read_sectorstore(tmp_path)


def test_the_storage_option_takes_name_equals_path_or_a_lotus_path(store):
    assert storage_option("store-a=/mnt/a") == ("store-a", Path("/mnt/a"))
    assert storage_option(str(store)) == (STORE_ID, store)
    for bad in ("=/mnt/a", "store-a=", ""):
        with pytest.raises(ValueError, match="NAME=PATH"):
            storage_option(bad)


def test_a_storage_in_the_config_with_a_path_alone_is_named_by_its_id(store, tmp_path):
    config = StorageHostConfig.model_validate(
        {"storage": [{"path": str(store)}, {"name": "mine", "path": "/mnt/x"}]}
    )
    assert config.storages == {STORE_ID: store, "mine": Path("/mnt/x")}
    file = tmp_path / "storage.toml"
    file.write_text(f'[[storage]]\npath = "{tmp_path / "nothing-here"}"\n')
    with pytest.raises(ConfigError, match=r"nothing-here/sectorstore.json: not found") as info:
        load_storage_config(file)
    assert str(file) in str(info.value)


def test_the_lotus_settings_a_prover_ignores_are_listed(store, tmp_path):
    (tmp_path / "plain").mkdir()
    notes = lotus_path_notes({STORE_ID: store, "other": store, "plain": tmp_path / "plain"})
    assert [n["storage"] for n in notes] == [STORE_ID, "other"]  # a plain directory: nothing
    first = notes[0]
    assert first["lotus_id"] == STORE_ID and "renamed" not in first
    ignored = "\n".join(first["ignored"])
    assert "CanStore=true, CanSeal=false" in ignored and "read all the same" in ignored
    assert "MaxStorage=2199023255552" in ignored and "Groups=['cold']" in ignored
    assert notes[1]["renamed"] == f"named other here while Lotus knows it as {STORE_ID}"


def test_prover_storage_refuses_a_lotus_path_with_a_bad_sectorstore_json(store):
    (store / "sectorstore.json").write_text(json.dumps({"ID": ""}))
    run = CliRunner().invoke(storage_cli, ["--storage", str(store)])
    assert run.exit_code == 2
    assert "--storage" in run.output and "sectorstore.json: no storage ID" in run.output
