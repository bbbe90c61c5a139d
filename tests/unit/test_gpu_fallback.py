"""A GPU build's SNARK that went to the CPU, as the pure rules see it: what
bellperson's log counters say about one SNARK (``prover.proofs.gpuuse``),
the alert raised from what a worker reports, and the doctor's GPU proof
check. No GPU, no process: made-up counter readings (the CUDA build on a
machine without a GPU is tests/integration/test_cuda_build.py)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from prover.alerts import rules
from prover.doctor import gpu
from prover.doctor.checks import FAIL, OK, SKIP
from prover.proofs.gpuuse import NO_KERNEL, judge

T0 = datetime(2026, 12, 8, tzinfo=UTC)
ZERO = {
    "snarks": 0,
    "fft_kernels": 0,
    "multiexp_kernels": 0,
    "gpu_failures": 0,
    "last_failure": "",
    "device_error": "",
    "synthesis_s": 0.0,
    "prover_s": 0.0,
    "timed_proofs": 0,
}
NO_DEVICE = "Unable to retrieve CUDA devices: Cuda(CUDA_ERROR_NO_DEVICE)"
CANNOT = "Cannot instantiate GPU Multiexp kernel! Error: No working GPUs found!"


def after(**grown) -> dict:
    return {**ZERO, "snarks": 1, "timed_proofs": 1, "synthesis_s": 1.5, "prover_s": 0.5, **grown}


def test_a_cuda_snark_that_instantiated_its_kernels_ran_on_the_gpu():
    used = judge(ZERO, after(fft_kernels=1, multiexp_kernels=1), "cuda")
    assert used.expected and used.observed and not used.fell_back
    assert (used.synthesis_s, used.prover_s) == (1.5, 0.5)


def test_no_kernel_is_a_fallback_with_bellpersons_reason_and_the_device_error():
    used = judge(
        ZERO, after(gpu_failures=3, last_failure=CANNOT, device_error=NO_DEVICE), "cuda", {}
    )
    assert used.fell_back and not used.partial
    assert used.fallback == f"no GPU kernel ran: {CANNOT}; {NO_DEVICE}"


def test_the_device_error_of_an_earlier_snark_still_explains_a_later_one():
    # rust-gpu-tools looks for devices once per process: the second SNARK
    # sees bellperson's warning again, and the device error from before
    first = after(gpu_failures=2, last_failure=CANNOT, device_error=NO_DEVICE)
    second = {**first, "snarks": 2, "gpu_failures": 4, "timed_proofs": 2}
    assert NO_DEVICE in judge(first, second, "cuda", {}).fallback


def test_a_silent_fallback_is_still_one():
    used = judge(ZERO, after(), "cuda", {})
    assert used.fallback == f"no GPU kernel ran: {NO_KERNEL}"


def test_bellman_no_gpu_is_named():
    used = judge(ZERO, after(), "cuda", {"BELLMAN_NO_GPU": "1"})
    assert "BELLMAN_NO_GPU=1" in used.fallback


def test_a_kernel_that_failed_mid_proof_is_a_partial_fallback():
    failed = "GPU Multiexp failed! Falling back to CPU... Error: out of memory"
    used = judge(
        ZERO, after(fft_kernels=1, multiexp_kernels=1, gpu_failures=1, last_failure=failed), "cuda"
    )
    assert used.partial and failed in used.fallback


@pytest.mark.parametrize("build", ["cpu", "supraseal"])
def test_other_builds_never_fall_back(build):
    used = judge(ZERO, after(), build, {})
    assert not used.fell_back and used.expected == (build == "supraseal")


def test_nothing_seen_claims_nothing():
    # another logger took bellperson's records: no SNARK seen, no verdict
    used = judge(ZERO, ZERO, "cuda", {})
    assert not used.observed and not used.fell_back and used.synthesis_s is None


# ---- the alert ----------------------------------------------------------------


def worker(name="box1-gpu0", seen=T0, fallback=None) -> rules.WorkerFact:
    return rules.WorkerFact(name, seen, False, (), (), gpu_fallback=fallback)


def test_a_live_worker_whose_latest_snark_fell_back_pages():
    fb = {"count": 3, "gpu_snarks": 10, "current": True, "reason": f"no GPU kernel ran: {CANNOT}"}
    (alert,) = rules.gpu_fallbacks([worker(fallback=fb)], T0 + timedelta(seconds=5), 15.0)
    assert alert.name == rules.GPU_FALLBACK and alert.labels == {"worker": "box1-gpu0"}
    assert alert.severity == "critical"
    assert CANNOT in alert.summary and "3 since it started, 10 on the GPU" in alert.summary
    assert alert.details["count"] == "3"
    assert rules.GPU_FALLBACK in rules.ALERT_NAMES


def test_the_alert_resolves_on_a_gpu_snark_and_ignores_silent_and_cpu_workers():
    now = T0 + timedelta(seconds=5)
    back_on_gpu = {"count": 3, "gpu_snarks": 11, "current": False, "reason": "earlier"}
    gone = {"count": 1, "current": True, "reason": "x"}
    workers = [
        worker("a", fallback=back_on_gpu),
        worker("b", seen=T0 - timedelta(minutes=5), fallback=gone),
        worker("c", fallback=None),  # a cpu build reports nothing
    ]
    assert rules.gpu_fallbacks(workers, now, 15.0) == []


# ---- the doctor's GPU proof ---------------------------------------------------


def probe_result(**grown) -> dict:
    return {**after(**grown), "seconds": 0.02}


def test_a_cuda_build_whose_tiny_proof_falls_back_fails():
    check = gpu.gpu_proof_check(
        "cuda", lambda: probe_result(gpu_failures=2, last_failure=CANNOT, device_error=NO_DEVICE)
    )
    assert check.status == FAIL and CANNOT in check.detail and NO_DEVICE in check.detail
    assert "CUDA_VISIBLE_DEVICES" in check.fix


def test_a_cuda_build_whose_tiny_proof_runs_on_the_gpu_is_ok():
    check = gpu.gpu_proof_check("cuda", lambda: probe_result(fft_kernels=2, multiexp_kernels=1))
    assert check.status == OK and "2 FFT and 1 multiexp kernels" in check.detail


def test_the_gpu_proof_is_not_asked_of_a_cpu_build_and_skipped_without_a_module():
    assert gpu.gpu_proof_check("cpu", lambda: pytest.fail("probed")) is None
    check = gpu.gpu_proof_check("cuda", lambda: {"error": "libcuda.so.1: cannot open"})
    assert check.status == SKIP and "libcuda" in check.detail


def test_a_probe_that_hangs_or_dies_fails():
    def hangs():
        raise subprocess.TimeoutExpired("python", 300)

    assert gpu.gpu_proof_check("cuda", hangs).status == FAIL

    def dies():
        raise RuntimeError("the probe exited with -11: Segmentation fault")

    check = gpu.gpu_proof_check("cuda", dies)
    assert check.status == FAIL and "-11" in check.detail


# ---- the worker: counter, report, heartbeat ----------------------------------


def verdict(fallback: str = "", observed: bool = True) -> dict:
    return {"build": "cuda", "expected": True, "observed": observed, "fallback": fallback}


def test_the_worker_counts_fallbacks_and_its_heartbeat_carries_them(monkeypatch):
    from prometheus_client import generate_latest

    import prover.worker.metrics as wm
    from prover.worker.heartbeats import Heartbeats
    from prover.worker.holdings import Holdings
    from prover.worker.outcome import OutcomeKind

    monkeypatch.setattr(wm, "build_info", lambda: type("B", (), {"build": "cuda"})())
    metrics = wm.WorkerMetrics("w1", lambda: [])
    beats = Heartbeats(
        "w1", None, Holdings(), lambda: [], lambda: None, gpu_fallback=metrics.gpu_fallback_report
    )
    # a cuda build reports from the start: zeros, which clear a past life's
    req = beats.request()
    assert req.HasField("gpu_fallback") and req.gpu_fallback.count == 0
    assert not req.gpu_fallback.current and not req.gpu_fallback.HasField("last_at")
    metrics.proved(OutcomeKind.OK, {}, 0, verdict())
    metrics.proved(OutcomeKind.OK, {}, 0, verdict(f"no GPU kernel ran: {CANNOT}"))
    metrics.proved(OutcomeKind.OK, {}, 0, verdict(observed=False))  # nothing seen, nothing said
    req = beats.request()
    assert (req.gpu_fallback.count, req.gpu_fallback.gpu_snarks) == (1, 1)
    assert req.gpu_fallback.current and CANNOT in req.gpu_fallback.reason
    assert req.gpu_fallback.HasField("last_at")
    scrape = generate_latest(metrics.registry).decode()
    assert 'prover_worker_gpu_fallback_total{worker="w1"} 1.0' in scrape
    metrics.proved(OutcomeKind.OK, {}, 0, verdict())  # back on the GPU
    assert not beats.request().gpu_fallback.current


def test_a_cpu_builds_heartbeat_says_nothing_of_fallbacks():
    from prometheus_client import generate_latest

    from prover.worker.heartbeats import Heartbeats
    from prover.worker.holdings import Holdings
    from prover.worker.metrics import WorkerMetrics
    from prover.worker.outcome import OutcomeKind

    metrics = WorkerMetrics("w1", lambda: [])  # this checkout's build: cpu
    metrics.proved(OutcomeKind.OK, {}, 0, {"build": "cpu", "expected": False, "observed": True})
    beats = Heartbeats(
        "w1", None, Holdings(), lambda: [], lambda: None, gpu_fallback=metrics.gpu_fallback_report
    )
    assert not beats.request().HasField("gpu_fallback")
    # the counter is there at 0, as the others
    assert (
        'prover_worker_gpu_fallback_total{worker="w1"} 0.0'
        in generate_latest(metrics.registry).decode()
    )
