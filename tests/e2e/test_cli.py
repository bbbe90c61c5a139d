"""The ``prover`` command as an operator runs it: real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def prover(*args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "prover.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"prover {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_params_generate_into_a_directory(tmp_path):
    out = prover("params", "generate", "--size", "2KiB", "--dir", str(tmp_path)).stdout
    assert "generated (TEST parameters" in out
    assert len(list(tmp_path.glob("*.params"))) == 1
    assert len(list(tmp_path.glob("*.vk"))) == 1
    again = prover("params", "generate", "--size", "2KiB", "--dir", str(tmp_path)).stdout
    assert "already present" in again


def test_params_generate_refuses_production_sizes(tmp_path):
    proc = prover("params", "generate", "--size", "32GiB", "--dir", str(tmp_path), check=False)
    assert proc.returncode == 2
    assert "official parameter files" in proc.stderr


def test_params_generate_512mib_only_with_large_and_a_directory(tmp_path):
    proc = prover("params", "generate", "--size", "512MiB", "--dir", str(tmp_path), check=False)
    assert proc.returncode == 2 and "--large" in proc.stderr
    proc = prover("params", "generate", "--size", "512MiB", "--large", check=False)
    assert proc.returncode == 2 and "a --dir of their own" in proc.stderr
    proc = prover(
        "params",
        "generate",
        "--size",
        "512MiB",
        "--large",
        "--dir",
        "/var/tmp/filecoin-proof-parameters",
        check=False,
    )
    assert proc.returncode == 1 and "default parameter cache" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_sectors_create_test_in_lotus_layout(tmp_path):
    out = prover(
        "sectors",
        "create-test",
        "--miner",
        "1000",
        "--size",
        "2KiB",
        "--count",
        "3",
        "--root",
        str(tmp_path),
    ).stdout
    assert sorted(p.name for p in (tmp_path / "sealed").iterdir()) == [
        "s-t01000-0",
        "s-t01000-1",
        "s-t01000-2",
    ]
    assert (tmp_path / "cache" / "s-t01000-2" / "p_aux").is_file()
    assert len(out.strip().splitlines()) == 4


def test_sectors_create_test_upgrade_makes_update_files_with_a_new_comm_r(tmp_path):
    args = ["sectors", "create-test", "--miner", "1000", "--size", "2KiB", "--count", "2"]
    out = prover(*args, "--upgrade", "--root", str(tmp_path)).stdout
    rows = [line.split() for line in out.strip().splitlines()[1:]]
    assert [r[2] for r in rows] == [str(tmp_path / "update" / f"s-t01000-{n}") for n in (0, 1)]
    assert (tmp_path / "update-cache" / "s-t01000-1" / "p_aux").is_file()
    assert (tmp_path / "sealed" / "s-t01000-1").is_file()  # the sector key stays
    manifest = json.loads((tmp_path / "sectors.json").read_text())["sectors"]["s-t01000-1"]
    assert manifest["upgraded"] and manifest["comm_r"] == rows[1][1] != manifest["sector_key"]
    refused = prover(*args, "--upgrade", "--size", "32GiB", "--root", str(tmp_path), check=False)
    assert refused.returncode == 1 and "upgrading test sectors is supported for 2KiB" in (
        refused.stderr
    )


def test_bench_post_json_proves_and_verifies(tmp_path):
    proc = prover(
        "bench", "post", "--size", "2KiB", "--sectors", "2", "--json", "--root", str(tmp_path)
    )
    result = json.loads(proc.stdout)
    assert result["verified"] is True
    assert result["sectors"] == 2
    assert set(result["timings"]) == {"challenges", "vanilla", "snark", "verify", "total"}
    assert all(v >= 0 for v in result["timings"].values())
    # what the SNARK did with the GPU: this build is the CPU's, nothing fell back
    assert result["gpu"]["build"] == "cpu" and result["gpu"]["observed"] is True
    assert result["gpu"]["fallback"] == "" and result["gpu"]["prover_s"] > 0
    # Sectors are reused on the next run, not made again.
    before = (tmp_path / "sealed" / "s-t01000-0").stat().st_mtime_ns
    prover("bench", "post", "--json", "--root", str(tmp_path))
    assert (tmp_path / "sealed" / "s-t01000-0").stat().st_mtime_ns == before


def test_bench_post_table(tmp_path):
    out = prover("bench", "post", "--root", str(tmp_path)).stdout
    for step in ("challenges", "vanilla", "snark", "verify", "total"):
        assert step in out
    assert "verified: yes" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "post", "--size", "3KiB"], "no WindowPoSt proof type for sector size '3KiB'"),
        (["bench", "post", "--sectors", "3"], "holds at most 2 sectors"),
        (["sectors", "create-test", "--size", "2KiB", "--root", "x"], "Missing option '--miner'"),
    ],
)
def test_bad_arguments_are_named(args, message):
    proc = prover(*args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
