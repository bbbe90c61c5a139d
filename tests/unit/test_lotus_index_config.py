"""[lotus_index] of a storage host: the miner API info it reads, the
storage IDs it gives Lotus, the sector files it declares, its config's
checks."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError

from prover.config import StorageConfig
from prover.storage.config import StorageHostConfig
from prover.storage.lotus_index import (
    STORAGE_ID_NAMESPACE,
    LotusIndexConfig,
    default_url,
    fs_stat,
    parse_miner_api,
    resolve_storages,
    scan_sectors,
)

API = "tok.en:/ip4/10.0.0.2/tcp/2345/http"


def test_miner_api_info_in_lotus_forms():
    assert parse_miner_api(API) == ("tok.en", "http://10.0.0.2:2345/rpc/v0")
    assert parse_miner_api("t:/dns/miner/tcp/2345/https") == ("t", "https://miner:2345/rpc/v0")
    assert parse_miner_api("t:/ip6/::1/tcp/2345/http") == ("t", "http://[::1]:2345/rpc/v0")
    assert parse_miner_api("t:http://m:2345") == ("t", "http://m:2345/rpc/v0")
    assert parse_miner_api("t:ws://m:2345/rpc/v0") == ("t", "http://m:2345/rpc/v0")
    for bad in ("/ip4/10.0.0.2/tcp/2345/http", "http://m:2345", "t:/ip4/x/udp/1", "t:m:2345"):
        with pytest.raises(ValueError):
            parse_miner_api(bad)
    with pytest.raises(ValueError, match="/rpc/v0"):
        parse_miner_api("t:http://m:2345/rpc/v1")


def test_the_config_takes_an_index_only_with_a_lotus_listener(tmp_path):
    store = [StorageConfig(name="s", path=tmp_path)]
    with pytest.raises(ValidationError, match="lotus_listen is not"):
        StorageHostConfig(storage=store, lotus_index={"api": API})
    # the miner vouches for Lotus' tokens: no lotus_token needed then
    cfg = StorageHostConfig(storage=store, lotus_listen="0.0.0.0:8080", lotus_index={"api": API})
    assert cfg.lotus_index.enabled and not cfg.lotus_index.can_store
    with pytest.raises(ValidationError, match="lotus_token"):
        StorageHostConfig(storage=store, lotus_listen="0.0.0.0:8080")
    with pytest.raises(ValidationError, match="ends in /remote"):
        LotusIndexConfig(api=API, url="http://h:8080/")
    with pytest.raises(ValidationError, match="not UUIDs"):
        LotusIndexConfig(api=API, ids={"s": "store-1"})
    with pytest.raises(ValidationError):
        LotusIndexConfig(api="no-token")
    assert LotusIndexConfig(url="http://h:8080/remote/").url == "http://h:8080/remote"


def test_storage_ids_come_from_ids_sectorstore_name_or_the_name_derived(tmp_path):
    given, lotus, named, plain = (tmp_path / n for n in ("given", "lotus", "named", "plain"))
    for d in (given, lotus, named, plain):
        d.mkdir()
    lotus_id, given_id, name_id = (str(uuid.uuid4()) for _ in range(3))
    (lotus / "sectorstore.json").write_text(
        json.dumps({"ID": lotus_id, "Weight": 10, "CanStore": True, "Groups": None})
    )
    cfg = LotusIndexConfig(api=API, weight=3, ids={"given": given_id})
    got = resolve_storages({"given": given, "lotus": lotus, name_id: named, "plain": plain}, cfg)
    assert [(s.id, s.source, s.primary) for s in got] == [
        (given_id, "ids", False),
        (lotus_id, "sectorstore.json", True),
        (name_id, "name", False),
        (str(uuid.uuid5(STORAGE_ID_NAMESPACE, "plain")), "derived", False),
    ]
    assert got[1].info["Weight"] == 10 and got[1].info["Groups"] == []
    assert got[3].info["Weight"] == 3 and got[3].info["CanSeal"] is False
    # derived IDs are the same on every host and at every start
    again = resolve_storages({"plain": plain}, LotusIndexConfig(api=API))
    assert again[0].id == got[3].id
    with pytest.raises(ValueError, match="says"):
        resolve_storages({"lotus": lotus}, LotusIndexConfig(api=API, ids={"lotus": given_id}))
    with pytest.raises(ValueError, match="does not serve"):
        resolve_storages({"plain": plain}, LotusIndexConfig(api=API, ids={"other": given_id}))


def test_a_scan_finds_sectors_whose_replica_and_cache_are_both_there(tmp_path):
    for folder in ("sealed", "cache", "update", "update-cache", "unsealed"):
        (tmp_path / folder).mkdir()
    (tmp_path / "sealed" / "s-t01000-1").write_bytes(b"")
    (tmp_path / "cache" / "s-t01000-1").mkdir()
    (tmp_path / "sealed" / "s-t01000-2").write_bytes(b"")  # no cache: not provable here
    (tmp_path / "cache" / "s-t01000-3").mkdir()  # no replica
    (tmp_path / "update" / "s-t01000-4").write_bytes(b"")
    (tmp_path / "update-cache" / "s-t01000-4").mkdir()
    (tmp_path / "unsealed" / "s-t01000-1").write_bytes(b"")  # not read by a PoSt
    (tmp_path / "sealed" / "fetching").mkdir()
    (tmp_path / "sealed" / "s-t01000-9.tmp").write_bytes(b"")
    assert scan_sectors(tmp_path) == {(1000, 1, 2), (1000, 1, 4), (1000, 4, 8), (1000, 4, 16)}
    assert scan_sectors(tmp_path / "missing") == set()


def test_fs_stat_has_lotus_fields_and_honours_max_storage(tmp_path):
    stat = fs_stat(tmp_path)
    assert list(stat) == ["Capacity", "Available", "FSAvailable", "Reserved", "Max", "Used"]
    assert stat["Capacity"] > 0 and stat["Available"] == stat["FSAvailable"]
    limited = fs_stat(tmp_path, max_storage=1000, used=400)
    assert limited["Max"] == 1000 and limited["Used"] == 400 and limited["Available"] <= 600


def test_the_default_url_is_the_lotus_listener_as_the_miner_reaches_it():
    miner = "http://127.0.0.1:2345/rpc/v0"
    assert default_url("10.1.2.3", 8080, "", miner) == "http://10.1.2.3:8080/remote"
    assert default_url("0.0.0.0", 8080, "store-1.lan", miner) == "http://store-1.lan:8080/remote"
    assert default_url("0.0.0.0", 8080, "", miner) == "http://127.0.0.1:8080/remote"
    assert default_url("[::]", 8080, "", "http://[::1]:2345/rpc/v0") == "http://[::1]:8080/remote"


def test_every_lotus_index_key_is_in_the_documented_config():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "configs" / "storage.toml").read_text()
    section = text[text.index("\n[lotus_index]\n") :]
    for key in LotusIndexConfig.model_fields:
        assert f"\n{key} =" in section or f"[lotus_index.{key}]" in section, key
