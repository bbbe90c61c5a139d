"""What a process says it is (prover.buildinfo): the release, the commit and
the build, from a wheel's record or from the checkout, and the refusal of a
client whose API is older than a manager serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

import prover
from prover import __version__, buildinfo
from prover.buildinfo import API_VERSION, MIN_CLIENT_API, BuildInfo
from prover.manager.requests import ClientTooOld
from prover.manager.servicers import client_api, status_mapping


def test_a_cuda_build_names_the_driver_its_toolkit_needs():
    info = BuildInfo(version="0.2.0", commit="abc1234", build="cuda", cuda="13.0")
    assert info.driver_required == "580.65.06"
    assert info.describe() == "0.2.0 (abc1234, cuda, CUDA 13.0: driver >= 580.65.06)"
    assert info.short() == "0.2.0+abc1234"
    cpu = BuildInfo(version="0.2.0", commit="", build="cpu")
    assert cpu.driver_required == "" and cpu.describe() == "0.2.0 (commit unknown, cpu)"
    assert cpu.short() == "0.2.0"


def test_the_supraseal_build_is_a_gpu_build_that_names_its_driver():
    """``prover --version``, the worker's start line and ``prover workers
    list`` (build, driver_required) all read these."""
    info = BuildInfo(version="0.2.0", commit="abc1234", build="supraseal", cuda="13.0")
    assert info.gpu and info.driver_required == "580.65.06"
    assert info.describe() == "0.2.0 (abc1234, supraseal, CUDA 13.0: driver >= 580.65.06)"
    assert info.as_dict()["build"] == "supraseal"
    assert BuildInfo(version="0.2.0", commit="", build="cuda").gpu
    assert not BuildInfo(version="0.2.0", commit="", build="cpu").gpu


def test_the_wheel_record_decides_without_loading_the_native_module(tmp_path, monkeypatch):
    """A cuda wheel on a host without the driver cannot load its module:
    its record must be enough to say what it is."""
    record = {"commit": "1234567", "build": "cuda", "cuda": "13.0"}
    monkeypatch.setattr(buildinfo, "_record", lambda: record)
    monkeypatch.setattr(buildinfo, "_native_build", lambda: pytest.fail("loaded the native module"))
    buildinfo.build_info.cache_clear()
    try:
        info = buildinfo.build_info()
    finally:
        buildinfo.build_info.cache_clear()
    assert (info.build, info.commit, info.source) == ("cuda", "1234567", "wheel")
    assert info.as_dict()["driver_required"] == "580.65.06"


def test_a_checkout_reports_its_git_commit_and_native_build():
    out = subprocess.run(
        [sys.executable, "-m", "prover.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    head = subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out.startswith(f"prover {__version__} ({head}"), out
    assert ", cpu)" in out or ", cuda" in out, out


def test_the_record_written_by_the_wheel_script_is_what_buildinfo_reads(tmp_path):
    """.ci/wheel-src writes prover/_build.json; its keys are the ones read."""
    dest = tmp_path / "src"
    subprocess.run(["bash", ".ci/wheel-src", str(dest), "prover-cuda", "cuda", "13.0"], check=True)
    record = json.loads((dest / "prover" / "_build.json").read_text())
    assert record["build"] == "cuda" and record["cuda"] == "13.0" and record["commit"]
    assert 'name = "prover-cuda"' in (dest / "pyproject.toml").read_text()
    assert (dest / "native" / "Cargo.toml").exists()


def test_the_wheel_script_names_the_supraseal_distribution(tmp_path):
    dest = tmp_path / "src"
    subprocess.run(
        ["bash", ".ci/wheel-src", str(dest), "prover-supraseal", "supraseal", "13.0"], check=True
    )
    record = json.loads((dest / "prover" / "_build.json").read_text())
    assert record["build"] == "supraseal" and record["cuda"] == "13.0"
    assert 'name = "prover-supraseal"' in (dest / "pyproject.toml").read_text()


def test_a_client_older_than_served_is_refused_naming_both_versions(monkeypatch):
    assert client_api("worker", "w1", "0.1.0", 0) == 1  # 0.1.0 sent none: API 1
    assert client_api("worker", "w1", "0.2.0+abc", API_VERSION) == API_VERSION
    monkeypatch.setattr("prover.manager.servicers.MIN_CLIENT_API", API_VERSION + 1)
    with pytest.raises(ClientTooOld) as info:
        client_api("worker", "w1", "0.1.0", 0)
    text = str(info.value)
    assert "worker w1 runs prover 0.1.0 (API 1)" in text
    assert f"serves API {MIN_CLIENT_API} to {API_VERSION}" in text
    assert "upgrade the worker" in text


class _Context:
    """Enough of grpc.ServicerContext to see what status_mapping sends."""

    def __init__(self) -> None:
        self.trailing = ()
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def set_trailing_metadata(self, md) -> None:
        self.trailing = md

    def abort(self, code, details):
        self.aborted = (code, details)
        raise RuntimeError("aborted")


def test_the_refusal_is_machine_readable():
    ctx = _Context()
    with pytest.raises(RuntimeError), status_mapping(ctx):
        raise ClientTooOld("storage host", "s1", "0.1.0", 1)
    assert ctx.aborted[0] == grpc.StatusCode.FAILED_PRECONDITION
    assert ("prover-refusal", "client-too-old") in ctx.trailing
    assert "storage host s1 runs prover 0.1.0" in ctx.aborted[1]


def test_the_proof_length_literal_is_the_native_modules():
    from prover.proofs.native import load
    from prover.proofs.steps import PARTITION_PROOF_LEN

    assert load().PARTITION_PROOF_LEN == PARTITION_PROOF_LEN


def test_the_commands_answer_without_loading_the_native_module(tmp_path):
    """A GPU host whose driver is missing cannot load a cuda build's module:
    --version and --help must still answer there."""
    code = (
        "import sys; sys.modules['prover._native'] = None\n"
        "from prover.cli.main import cli\n"
        "cli(['--version'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(prover.__file__).parent.parent)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"prover {__version__} (")
