"""Worker pinning (in child processes, as a worker pins itself) and the
refusals a worker gives before it starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from prover.worker.gpu import gpu_facts


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


def test_a_cpu_workers_own_tmpdir_goes_when_it_stops_a_gpus_stays(tmp_path):
    """A CPU worker's TMPDIR is named by its pid: kept, every restart would
    leave one behind. A GPU's is taken over by the next process on it."""
    script = (
        "from pathlib import Path\n"
        "from prover.worker.pinning import apply_pinning\n"
        f"cpu = apply_pinning(None, '', Path({str(tmp_path)!r}))\n"
        "(cpu.tmpdir / 'left-by-a-proof').write_text('x')\n"
        "cpu.release()\n"
        f"gpu = apply_pinning(2, '', Path({str(tmp_path)!r}))\n"
        "gpu.release()\n"
        "print(cpu.tmpdir.name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("prover-cpu-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prover-gpu2"]
