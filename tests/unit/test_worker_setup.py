"""Worker configuration and cpuset parsing."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from prover.config import ConfigError
from prover.worker.config import WorkerConfig, load_worker_config
from prover.worker.pinning import parse_cpuset

ROOT = Path(__file__).resolve().parents[2]


def test_documented_config_parses_and_names_every_key():
    text = (ROOT / "configs" / "worker.toml").read_text()
    assert load_worker_config(ROOT / "configs" / "worker.toml") is not None
    tomllib.loads(text)
    for key in WorkerConfig.model_fields:
        assert f"{key} =" in text or f"[[{key}]]" in text, f"{key} is not documented"


def test_bad_config_names_the_key(tmp_path):
    cfg = tmp_path / "w.toml"
    cfg.write_text('concurrency = 0\nallowed_sizes = ["3KiB"]\ncolour = "red"\n')
    with pytest.raises(ConfigError) as info:
        load_worker_config(cfg)
    msg = str(info.value)
    assert "concurrency" in msg and "allowed_sizes" in msg and "colour" in msg


def test_sizes_become_proof_type_ids():
    c = WorkerConfig(allowed_sizes=["32GiB", "2KiB"], storage=[{"name": "a", "path": "/x"}])
    assert c.allowed_proof_types == [10, 13]
    assert c.storages == {"a": Path("/x")}


@pytest.mark.parametrize(
    ("spec", "cpus"), [("0", {0}), ("0-3", {0, 1, 2, 3}), ("0-1,4,6-7", {0, 1, 4, 6, 7})]
)
def test_cpusets(spec, cpus):
    assert parse_cpuset(spec) == cpus


@pytest.mark.parametrize("spec", ["", "a", "3-1", "1-", ","])
def test_bad_cpusets(spec):
    with pytest.raises(ValueError, match="cpuset"):
        parse_cpuset(spec)
