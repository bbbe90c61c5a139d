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
    assert report["builds"]["cuda"] == report["builds"]["supraseal"] == {"skipped": "--cpu-only"}
    assert report["builds"]["cpu"]["links_libcuda"] is False
    entry = report["sizes"]["2KiB"]
    assert entry["status"] == "done" and entry["sectors"] == 2
    assert entry["constraints"]["partition"] == 21866  # 2 sectors of 10933
    cpu = entry["cpu"]
    assert cpu["rounds"] == 2 and cpu["verified"] is True
    assert cpu["snark_cold_s"] > 0 and cpu["snark_first_s"] > 0 and cpu["snark_second_s"] > 0
    assert cpu["second_over_first"] == pytest.approx(cpu["snark_second_s"] / cpu["snark_first_s"])
    # bellperson's own split, read from its log by the compute child
    assert 0 < cpu["prover_warm_median_s"] < cpu["snark_second_s"]
    assert cpu["synthesis_warm_median_s"] is not None and cpu["gpu_fallbacks"] == 0
    assert cpu["host_rss_peak_mib"] > 50  # the compute child: Python, the module, parameters
    assert "skipped" in entry["cuda"] and entry["ratios"] == {"cuda": {}, "supraseal": {}}
    conc = entry["concurrency"]["cpu"]
    for c in ("c1", "c2"):
        assert conc[c]["jobs"] == 2 and conc[c]["verified"] is True, conc[c]
        assert conc[c]["failed"] == []
    assert conc["throughput_c2_over_c1"] > 0
    est = report["estimates"]
    assert est["target"] == "32GiB" and est["constraints"] == 125279217
    assert est["builds"]["cpu"]["proportional_s"] > 1000 * cpu["snark_warm_median_s"]
    assert "2KiB partition (2 sectors, 21,866 constraints), status done" in done.stdout
    assert "concurrency 2 vs 1:" in done.stdout
    assert "ESTIMATE, not measured: a 32GiB partition (2349 sectors" in done.stdout


def test_absent_builds_are_skipped_and_a_size_that_will_not_fit_says_so(tmp_path):
    """No GPU build given: each is skipped, saying how to give it; 512MiB,
    whose parameters and sectors the estimate says take minutes here, is
    skipped within a one-minute budget with that estimate, before anything
    is made."""
    out = tmp_path / "figures.json"
    done = run(
        [
            str(BENCH / "gpu_post.py"),
            "--sizes",
            "512MiB",
            "--budget-s",
            "60",
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["mode"] == "cpu-only"
    assert report["builds"]["cuda"]["skipped"].startswith("not given (--cuda PATH")
    assert report["builds"]["supraseal"]["skipped"].startswith("not given (--supraseal PATH")
    assert "CUDA build: skipped, not given" in done.stdout
    entry = report["sizes"]["512MiB"]
    assert entry["status"] == "skipped" and entry["reason"].startswith("will not fit"), entry
    est = report["setup_estimates"]["512MiB"]
    assert est["source"] == "reference" and est["params_cpu_s"] > 0 and est["sectors_cpu_s"] > 0
    assert "512MiB setup: ESTIMATE from reference (2KiB, 8MiB)" in done.stdout
    assert "512MiB" not in report["setup"]  # nothing was made
    assert report["circuits"]["512MiB"]["partition"] == 85466


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
    assert "not a GPU build" in done.stdout
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["builds"] == {"cpu": "ext/cpu_native.so.xz", "cuda": "ext/cuda_native.so.xz"}
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
