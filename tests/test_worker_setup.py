"""Worker configuration and pinning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from prover.config import ConfigError
from prover.worker.config import WorkerConfig, load_worker_config
from prover.worker.gpu import gpu_facts
from prover.worker.pinning import parse_cpuset

ROOT = Path(__file__).resolve().parent.parent


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


def _pin_in_child(gpu, cpuset, tmp_path):
    script = (
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from prover.worker.pinning import apply_pinning\n"
        f"p = apply_pinning({gpu!r}, {cpuset!r}, Path({str(tmp_path)!r}))\n"
        "print(json.dumps({'affinity': sorted(os.sched_getaffinity(0)),"
        " 'cuda': os.environ.get('CUDA_VISIBLE_DEVICES'), 'tmp': os.environ['TMPDIR']}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )


def test_pinning_sets_gpu_cpus_and_own_tmpdir(tmp_path):
    first = min(os.sched_getaffinity(0))
    out = _pin_in_child(3, str(first), tmp_path)
    facts = json.loads(out.stdout)
    assert facts["affinity"] == [first]
    assert facts["cuda"] == "3"
    assert facts["tmp"] == str(tmp_path / "prover-gpu3")
    assert (tmp_path / "prover-gpu3").is_dir()


def test_pinning_refuses_cpus_outside_the_allowed_set(tmp_path):
    out = _pin_in_child(None, "4000-4001", tmp_path)
    assert out.returncode != 0 and "no CPU this process may use" in out.stderr


def test_no_gpu_driver_means_no_gpu_not_a_crash():
    assert gpu_facts() == [] or all("name" in g for g in gpu_facts())


def test_worker_refuses_a_bad_cpuset_clearly(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "prover.cli.worker_main",
            "--cpuset",
            "9-1",
            "--api",
            "worker.x:127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "runs backwards" in proc.stderr
