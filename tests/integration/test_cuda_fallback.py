"""The CUDA build's fallback to the CPU is reported, never silent (issue 29).

The build (``PROVER_TEST_CUDA_BUILD``, made by ``.ci/cuda-build``; see
``test_cuda_build.py``, which checks what the build is) is loaded in a fresh
interpreter with the driver's user-space library but no GPU: bellperson
finds no device and proves on the CPU. Here that must show:

- in the partition's result (``PartitionProof.gpu``): a fallback, with
  bellperson's reason and rust-gpu-tools' word on the devices;
- in the structured log: bellperson's warnings as ``native_log`` events with
  their Rust targets (warnings only, by default);
- in the worker: its compute child's outcome, a ``gpu_fallback`` warning,
  ``prover_worker_gpu_fallback_total`` and what its heartbeat tells the
  manager (which raises ``ProverGpuFallback`` from it);
- in ``prover doctor``: the GPU proof check fails with the reason.

With CI=true a missing build fails the test instead of skipping it.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import KIB2, MINER
from prover.proofs import verify_window_post

ENV = "PROVER_TEST_CUDA_BUILD"


@pytest.fixture(scope="module")
def cuda_site(tmp_path_factory) -> tuple[Path, Path]:
    """(the CUDA wheel unpacked, the cuda/lib64 holding the libcuda.so.1 it
    was linked against)."""
    build = os.environ.get(ENV)
    if not build:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{ENV} is not set: CI must build and test the CUDA build (.ci/wheels)")
        pytest.skip(f"{ENV} is not set (.ci/cuda-build makes the CUDA build; CI runs this test)")
    (wheel,) = Path(build, "wheel").glob("prover_cuda-*.whl")
    site = tmp_path_factory.mktemp("cuda-fallback")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    for so in (site / "prover").glob("_native*.so"):
        so.chmod(0o755)
    return site, Path(build, "cuda", "lib64")


def driver_installed() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def no_gpu_env(lib64: Path, tmp_path: Path) -> dict[str, str]:
    """The driver's library without its kernel module or a GPU (a GPU that
    is there is hidden), bellperson's lock files in ``tmp_path``, the
    structured log as JSON lines on stderr."""
    env = dict(os.environ)
    if not driver_installed():
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (str(lib64), env.get("LD_LIBRARY_PATH", "")) if p
        )
    env.pop("PROVER_NATIVE_LOG", None)
    env.update(TMPDIR=str(tmp_path), CUDA_VISIBLE_DEVICES="", PROVER_LOG_FORMAT="json:info")
    return env


def run_cuda(site: Path, code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """``code`` where ``prover`` is the CUDA build's (``-I``: no PYTHONPATH,
    not the working directory), logging as a daemon does."""
    script = (
        f"import sys\nsys.path.insert(0, {str(site)!r})\n"
        "from prover.logs import inherit_logging\ninherit_logging()\n" + textwrap.dedent(code)
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def last_json(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def events(stderr: str, name: str) -> list[dict]:
    out = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            e = json.loads(line)
            if e.get("event") == name:
                out.append(e)
    return out


def assert_bellpersons_reason(reason: str) -> None:
    assert reason.startswith("no GPU kernel ran: Cannot instantiate GPU"), reason
    assert "No working GPUs found!" in reason, reason
    # rust-gpu-tools' look for devices, logged once per process
    assert "Unable to retrieve CUDA devices" in reason, reason


def test_the_partition_says_it_fell_back_and_the_log_says_why(
    cuda_site, tmp_path, make_sectors, randomness, pid
):
    site, lib64 = cuda_site
    replicas = make_sectors([1, 2])
    out = last_json(
        run_cuda(
            site,
            f"""
            import json
            from prover.proofs import PoStProofType, load_test_sectors, prove_partition
            pt = PoStProofType.WINDOW_2KIB
            replicas = load_test_sectors({str(make_sectors.root)!r}, {MINER}, pt)
            result = prove_partition(pt, bytes.fromhex({randomness.hex()!r}),
                                     bytes.fromhex({pid.hex()!r}), replicas, 0)
            print(json.dumps({{"proof": result.proof.hex(), "gpu": result.gpu.as_dict()}}))
            """,
            no_gpu_env(lib64, tmp_path),
            tmp_path,
        )
    )
    proof = bytes.fromhex(out["proof"])
    assert verify_window_post(KIB2, randomness, pid, [r.public for r in replicas], proof)
    gpu = out["gpu"]
    assert gpu["build"] == "cuda" and gpu["expected"] and gpu["observed"], gpu
    assert gpu["fft_kernels"] == gpu["multiexp_kernels"] == 0 and not gpu["partial"], gpu
    assert_bellpersons_reason(gpu["fallback"])
    # bellperson's own timings, read from its info lines (not forwarded)
    assert gpu["prover_s"] > 0 and gpu["synthesis_s"] >= 0, gpu


def test_bellpersons_warnings_reach_the_structured_log(cuda_site, tmp_path, make_sectors):
    site, lib64 = cuda_site
    make_sectors([1, 2])
    done = run_cuda(
        site,
        f"""
        import json
        from prover.proofs import PoStProofType, load_test_sectors, mask_randomness
        from prover.proofs import prove_partition, prover_id
        pt = PoStProofType.WINDOW_2KIB
        replicas = load_test_sectors({str(make_sectors.root)!r}, {MINER}, pt)
        prove_partition(pt, mask_randomness(bytes(32)), prover_id({MINER}), replicas, 0)
        print("{{}}")
        """,
        no_gpu_env(lib64, tmp_path),
        tmp_path,
    )
    last_json(done)
    native = events(done.stderr, "native_log")
    gpu = [e for e in native if e["target"].startswith("bellperson::gpu")]
    assert gpu and all(e["level"] == "warning" for e in gpu), native
    assert any(e["message"].startswith("Cannot instantiate GPU") for e in gpu), native
    assert any(e["target"].startswith("rust_gpu_tools") for e in native), native
    # warnings only by default: bellperson's info lines (several a proof) stay out
    assert not [e for e in native if e["level"] == "info"], native


def test_the_worker_reports_the_fallback(cuda_site, tmp_path, make_sectors, randomness):
    """The worker's own compute slot (a spawned child, as a worker runs it):
    the outcome carries the fallback, the slot logs ``gpu_fallback``, the
    counter moves and the heartbeat tells the manager."""
    site, lib64 = cuda_site
    make_sectors([1, 2])
    out = last_json(
        run_cuda(
            site,
            f"""
            import json
            from pathlib import Path
            from prometheus_client import generate_latest
            from prover.proofs import PoStProofType, load_test_sectors
            from prover.worker.compute import ComputeSettings, ComputeSlot, Task
            from prover.worker.metrics import WorkerMetrics
            pt = PoStProofType.WINDOW_2KIB
            replicas = load_test_sectors({str(make_sectors.root)!r}, {MINER}, pt)
            slot = ComputeSlot(0, ComputeSettings(Path({str(tmp_path / "gpu.lock")!r}), None, None))
            task = Task(pt.chain_id, bytes.fromhex({randomness.hex()!r}), {MINER}, 0, replicas)
            outcome = slot.prove(task, lambda: None)
            slot.kill()
            metrics = WorkerMetrics("w1", lambda: [])
            metrics.proved(outcome.kind, outcome.timings, len(outcome.faulty), outcome.gpu)
            report = metrics.gpu_fallback_report()
            print(json.dumps({{
                "kind": str(outcome.kind), "fallback": outcome.gpu_fallback,
                "scrape": generate_latest(metrics.registry).decode(),
                "report": {{"count": report.count, "current": report.current,
                           "reason": report.reason}},
            }}))
            """,
            no_gpu_env(lib64, tmp_path),
            tmp_path,
        )
    )
    assert out["kind"] == "ok", out
    assert_bellpersons_reason(out["fallback"])
    assert 'prover_worker_gpu_fallback_total{worker="w1"} 1.0' in out["scrape"]
    assert out["report"]["count"] == 1 and out["report"]["current"] is True
    assert out["report"]["reason"] == out["fallback"]


def test_the_doctor_fails_a_cuda_build_that_falls_back(cuda_site, tmp_path):
    """``prover doctor``'s GPU proof check: one tiny proof in a fresh process
    of the same installation (the CUDA build's), with the worker's GPUs
    (none here): the check fails with bellperson's reason."""
    site, lib64 = cuda_site
    check = last_json(
        run_cuda(
            site,
            """
            import json
            from prover.doctor.gpu import gpu_proof_check
            from prover.doctor.probe import run_gpu_probe
            print(json.dumps(gpu_proof_check("cuda", lambda: run_gpu_probe("")).as_dict()))
            """,
            no_gpu_env(lib64, tmp_path),
            tmp_path,
        )
    )
    assert check["status"] == "fail", check
    assert "ran on the CPU" in check["detail"], check
    assert_bellpersons_reason(check["detail"].split("ran on the CPU: ", 1)[1])
