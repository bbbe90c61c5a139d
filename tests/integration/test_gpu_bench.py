"""bench/gpu_post.py end to end on this machine's CPU (``--cpu-only``): real
proofs in the worker's compute children, a real prover-storage on loopback,
one JSON file of figures; and bench/gpu_pack.py's directory, as a GPU
machine would be given it, read back by the benchmark."""

from __future__ import annotations

import json
import lzma
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import gpu_figures as fig  # noqa: E402


def run(args: list[str], tmp_path: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        timeout=timeout,
    )


@pytest.mark.slow  # about 20 s on 2 idle cores: ten 2KiB proofs, five processes
def test_cpu_only_run_writes_one_json_of_figures(tmp_path, params_2kib):
    out = tmp_path / "figures.json"
    done = run(
        [
            str(BENCH / "gpu_post.py"),
            "--cpu-only",
            "--sizes",
            "2KiB",
            "--rounds",
            "2",
            "--stream",
            "2",
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert fig.check_report(report) == []
    assert report["mode"] == "cpu-only" and report["complete"] is True
    assert report["builds"]["gpu"] == {"skipped": "--cpu-only"}
    assert report["builds"]["cpu"]["links_libcuda"] is False
    entry = report["sizes"]["2KiB"]
    assert entry["status"] == "done" and entry["sectors"] == 2
    cpu = entry["cpu"]
    assert cpu["rounds"] == 2 and cpu["verified"] is True
    assert cpu["snark_first_s"] > 0 and cpu["snark_second_s"] > 0
    assert cpu["second_over_first"] == pytest.approx(cpu["snark_second_s"] / cpu["snark_first_s"])
    assert "skipped" in entry["gpu"] and entry["ratios"] == {}
    conc = entry["concurrency"]
    assert conc["side"] == "cpu"
    for c in ("c1", "c2"):
        assert conc[c]["jobs"] == 2 and conc[c]["verified"] is True, conc[c]
        assert conc[c]["failed"] == []
    assert conc["throughput_c2_over_c1"] > 0
    assert "2KiB partition (2 sectors), status done" in done.stdout
    assert "concurrency 2 vs 1:" in done.stdout


def test_the_pack_carries_both_builds_and_the_parameters_that_fit(tmp_path, params_2kib):
    pack = tmp_path / "pack"
    native = next((ROOT / "prover").glob("_native*.so"))
    done = run(
        [
            str(BENCH / "gpu_pack.py"),
            "--ext",
            str(native),  # the CPU build standing in for the CUDA one
            "--no-wheels",
            "--sizes",
            "2KiB",
            "--out",
            str(pack),
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "not a CUDA build" in done.stdout
    manifest = json.loads((pack / "manifest.json").read_text())
    assert lzma.decompress((pack / manifest["ext"]).read_bytes()) == native.read_bytes()
    assert lzma.decompress((pack / manifest["cpu_ext"]).read_bytes()) == native.read_bytes()
    assert manifest["ext_facts"]["kernels"] == []
    assert list(manifest["params"]) == ["2KiB"]
    carried = {p.name for p in (pack / "params").iterdir()}
    assert params_2kib.params.name in carried and params_2kib.verifying_key.name in carried
    assert manifest["total_bytes"] <= manifest["limit_bytes"]

    # a limit the parameters do not fit in: they are left to be generated there
    small = tmp_path / "small"
    args = ["--ext", str(native), "--no-wheels", "--sizes", "2KiB", "--limit-mib", "10"]
    done = run([str(BENCH / "gpu_pack.py"), *args, "--out", str(small)], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    manifest = json.loads((small / "manifest.json").read_text())
    assert manifest["params"] == {} and manifest["params_generated_there"] == ["2KiB"]
