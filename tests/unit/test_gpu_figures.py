"""bench/gpu_post.py's figures (bench/gpu_figures.py) on made-up inputs: the
intervals that say what ran under what, NVML samples over SNARK windows,
cold against warm, CPU over GPU, the report's shape and its table; which
wheels fit an interpreter; the kernels embedded in a CUDA build. No process,
no proof, no GPU."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import gpu_figures as fig
from gpu_post import NvmlSampler

MIB = 1 << 20


def job(received, *, challenges=0.0, vanilla=1.0, snark=2.0, total=None, verified=True):
    total = challenges + vanilla + snark if total is None else total
    return {
        "received": received,
        "timings": {"challenges": challenges, "vanilla": vanilla, "snark": snark, "total": total},
        "verified": verified,
    }


def test_a_jobs_intervals_end_with_its_snark_and_keep_the_lock_wait_between():
    # 0.5 s waited for the GPU lock between vanilla and SNARK
    vanilla, snark = fig.job_intervals(
        10.0, job(10.0, vanilla=1.0, snark=2.0, total=3.5)["timings"]
    )
    assert snark == (8.0, 10.0)
    assert vanilla == (6.5, 7.5)


def test_union_and_overlap():
    assert fig.merge([(3, 4), (0, 1), (0.5, 2)]) == [(0, 2), (3, 4)]
    assert fig.union_length([(0, 1), (0.5, 2), (3, 4), (5, 5)]) == 3
    assert fig.overlap_length((0.5, 3.5), [(0, 1), (0.8, 2), (3, 10)]) == pytest.approx(2.0)
    assert fig.overlap_length((0, 1), []) == 0


def test_one_slot_never_reads_under_its_own_snark():
    jobs = [job(3.0), job(6.0), job(9.0)]  # back to back: vanilla 1 s then SNARK 2 s
    s = fig.stream_figures(jobs, 9.0)
    assert s["jobs"] == 3
    assert s["jobs_per_min"] == pytest.approx(20.0)
    assert s["vanilla_under_snark_share"] == 0.0
    assert s["snark_busy_share"] == pytest.approx(6 / 9)
    assert s["verified"] is True


def test_two_slots_read_under_each_others_snark():
    # slot B's vanilla (1..2) runs under slot A's SNARK (1..3), and so on
    jobs = [job(3.0), job(5.0, total=4.0), job(7.0, total=4.0), job(9.0, total=4.0)]
    s = fig.stream_figures(jobs, 9.0)
    assert s["snark_busy_share"] == pytest.approx(8 / 9)
    assert s["vanilla_under_snark_share"] == pytest.approx(0.75)
    assert s["total_median_s"] == 4.0
    c = fig.concurrency_figures({"jobs_per_min": 10.0}, {"jobs_per_min": 15.0})
    assert c["throughput_c2_over_c1"] == pytest.approx(1.5)


def test_a_failed_proof_is_not_verified():
    assert fig.stream_figures([job(3.0), job(6.0, verified=False)], 6.0)["verified"] is False
    assert fig.stream_figures([], 1.0)["verified"] is False


def samples(points):
    return [{"t": t, "used": used * MIB, "util": util} for t, used, util in points]


def test_gpu_figures_over_the_snark_windows_only():
    s = samples([(0.0, 500, 0), (1.0, 500, 0), (2.0, 2500, 90), (2.5, 4500, 100), (5.0, 9000, 50)])
    base = fig.baseline_used(s, before=1.5)
    assert base == 500 * MIB
    g = fig.gpu_figures(s, [(1.9, 2.6)], base, pad=0.0)
    assert g["samples"] == 2
    assert g["memory_peak_mib"] == 4500
    assert g["memory_peak_above_baseline_mib"] == 4000
    assert g["util_mean_pct"] == 95
    assert g["util_max_pct"] == 100
    assert g["gpu_used"] is True


def test_an_idle_gpu_during_the_snark_is_said_so():
    s = samples([(0.0, 500, 0), (2.0, 501, 0), (2.5, 502, 0)])
    g = fig.gpu_figures(s, [(1.9, 2.6)], fig.baseline_used(s, 1.0), pad=0.0)
    assert g["gpu_used"] is False
    # no sample in the window: nothing to say, not "idle"
    assert fig.gpu_figures(s, [(10, 11)], 0)["gpu_used"] is None
    assert fig.baseline_used(s, before=-1) is None


def rounds(*snarks):
    return [
        {
            "timings": {"challenges": 0, "vanilla": 0.1, "snark": x, "total": x + 0.1},
            "verified": True,
        }
        for x in snarks
    ]


def test_cold_against_warm_and_cpu_over_gpu():
    cpu = fig.rounds_figures(rounds(2.0, 1.0, 1.2, 1.1))
    gpu = fig.rounds_figures(rounds(20.0, 0.1, 0.12))
    assert cpu["snark_first_s"] == 2.0
    assert cpu["snark_second_s"] == 1.0
    assert cpu["snark_warm_median_s"] == pytest.approx(1.1)
    assert cpu["second_over_first"] == pytest.approx(0.5)
    assert gpu["snark_warm_median_s"] == pytest.approx(0.11)
    r = fig.size_ratios(cpu, gpu)
    assert r["snark_warm_cpu_over_gpu"] == pytest.approx(10.0)
    assert r["snark_first_cpu_over_gpu"] == pytest.approx(0.1)
    assert fig.size_ratios(cpu, {"skipped": "--cpu-only"}) == {}
    assert fig.ratio(1.0, 0.0) is None and fig.ratio(None, 1.0) is None


def full_report(mode="gpu"):
    report = fig.new_report(mode, {"sizes": ["2KiB", "512MiB"]}, {"cpus": 16})
    cpu = fig.rounds_figures(rounds(2.0, 1.0, 1.2))
    gpu = (
        {"skipped": "--cpu-only"}
        if mode == "cpu-only"
        else dict(fig.rounds_figures(rounds(9.0, 0.1, 0.1)), nvml={"memory_peak_mib": 3000})
    )
    conc = fig.concurrency_figures(
        fig.stream_figures([job(3.0), job(6.0)], 6.0),
        fig.stream_figures([job(3.0), job(5.0, total=4.0)], 5.0),
    )
    conc.update(side="cpu" if mode == "cpu-only" else "gpu", host={"rtt_ms": 0})
    report["sizes"]["2KiB"] = {
        "status": "done",
        "sectors": 2,
        "cpu": cpu,
        "gpu": gpu,
        "ratios": fig.size_ratios(cpu, gpu),
        "concurrency": conc,
    }
    report["sizes"]["512MiB"] = {"status": "skipped", "reason": "ParametersMissing: ..."}
    if mode == "gpu":
        report["gpu_first_on_machine"] = {
            "size": "2KiB",
            "snark_s": 41.5,
            "jit_cache_mib_before": 0.0,
            "jit_cache_mib_after": 2.1,
        }
    report["complete"] = True
    return report


@pytest.mark.parametrize("mode", ["gpu", "cpu-only"])
def test_the_report_is_one_json_object_of_the_known_shape(mode):
    report = json.loads(json.dumps(full_report(mode)))
    assert fig.check_report(report) == []
    assert report["schema"] == fig.SCHEMA
    table = fig.format_table(report)
    assert "2KiB partition (2 sectors)" in table
    assert "512MiB: skipped: ParametersMissing" in table
    assert "concurrency 2 vs 1:" in table
    if mode == "gpu":
        assert "11.00x" in table  # warm SNARK, CPU over GPU: 1.1 s against 0.1 s
        assert "3000 MiB" in table
        assert "first proof on this machine (2KiB" in table and "0.0 -> 2.1 MiB" in table
    else:
        assert "GPU side skipped: --cpu-only" in table


def test_a_malformed_report_is_caught():
    report = full_report("cpu-only")
    report["sizes"]["2KiB"]["gpu"] = {"rounds": 3}
    report["sizes"]["512MiB"] = {"status": "skipped"}
    del report["builds"]
    problems = fig.check_report(report)
    assert "missing builds" in problems
    assert "512MiB: skipped without a reason" in problems
    assert "2KiB: cpu-only run with a GPU side not marked skipped" in problems
    report["sizes"]["2KiB"]["cpu"] = {}
    assert "2KiB: cpu side has neither figures nor a reason" in fig.check_report(report)


@pytest.mark.parametrize(
    ("name", "version", "fits"),
    [
        ("grpcio-1.85.3-cp312-cp312-manylinux_2_17_x86_64.whl", (3, 12), True),
        ("grpcio-1.85.3-cp312-cp312-manylinux_2_17_x86_64.whl", (3, 11), False),
        ("protobuf-7.36.2-cp310-abi3-manylinux2014_x86_64.whl", (3, 12), True),
        ("protobuf-7.36.2-cp313-abi3-manylinux2014_x86_64.whl", (3, 12), False),
        ("structlog-26.1.0-py3-none-any.whl", (3, 11), True),
        ("grpcio-1.85.3-cp312-cp312-manylinux2014_aarch64.whl", (3, 12), False),
        ("grpcio-1.85.3-cp312-cp312-macosx_11_0_x86_64.whl", (3, 12), False),
        ("not-a-wheel.tar.gz", (3, 12), False),
    ],
)
def test_which_wheels_fit_an_interpreter(name, version, fits):
    assert fig.wheel_fits(name, version) is fits


def test_wheel_names_are_normalised():
    assert fig.wheel_name("pydantic_core-2.50.5-cp311-cp311-manylinux2014_x86_64.whl") == (
        "pydantic-core"
    )


def fatbin(entries):
    """An nvcc fatbin: its header, then (kind, arch, payload) entries."""
    body = b""
    for kind, arch, payload in entries:
        header = struct.pack("<HHIQ", kind, 0x101, 64, len(payload))
        header += struct.pack("<IIHHI", 0, 0, 0, 0, arch).ljust(64 - 16, b"\0")[: 64 - 16]
        body += header + payload
    return struct.pack("<IHHQ", fig.FATBIN_MAGIC, 1, 16, len(body)) + body


def test_the_kernels_a_cuda_build_embeds_and_what_an_h200_makes_of_them():
    module = b"\x7fELF" + b"\0" * 100
    module += fatbin([(2, 86, b"x" * 40), (1, 86, b"ptx"), (2, 80, b"y" * 8)])
    module += b"\0" * 7 + fatbin([(2, 75, b"z")]) + b"junk" + struct.pack("<I", fig.FATBIN_MAGIC)
    kernels = fig.fatbin_kernels(module)
    assert kernels == [
        {"kind": "sass", "arch": "sm_75"},
        {"kind": "sass", "arch": "sm_80"},
        {"kind": "ptx", "arch": "compute_86"},
        {"kind": "sass", "arch": "sm_86"},
    ]
    assert "compiles the PTX at first use" in fig.kernels_note(kernels, "sm_90")
    assert "runs on sm_80 as built" in fig.kernels_note(kernels, "sm_80")
    sass_only = [k for k in kernels if k["kind"] == "sass"]
    assert "proves on the CPU" in fig.kernels_note(sass_only, "sm_90")
    assert fig.fatbin_kernels(b"\0" * 64) == []
    assert fig.kernels_note([], "sm_90").startswith("no CUDA kernels")


class FakeNvml:
    """What NvmlSampler asks of pynvml."""

    def __init__(self, used=(1 * MIB, 3 * MIB), fail_after=None):
        self.used, self.calls, self.fail_after, self.shut = list(used), 0, fail_after, False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shut = True

    def nvmlDeviceGetHandleByIndex(self, i):
        return ("handle", i)

    def nvmlDeviceGetMemoryInfo(self, h):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("GPU is lost")
        return SimpleNamespace(used=self.used[min(self.calls, len(self.used)) - 1])

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=40)


def test_the_sampler_polls_and_stops():
    nvml = FakeNvml()
    sampler = NvmlSampler(nvml, index=0, interval=0.001).start()
    first = sampler.sample()
    assert first["util"] == 40 and first["used"] > 0
    sampler.stop()
    assert nvml.shut and sampler.error is None and sampler.samples


def test_a_sampler_whose_gpu_fails_says_why_and_stops():
    sampler = NvmlSampler(FakeNvml(fail_after=2), interval=0.001).start()
    sampler._thread.join(5)
    sampler.stop()
    assert sampler.error == "NVML sampling stopped: GPU is lost"

    class NoDriver(FakeNvml):
        def nvmlInit(self):
            raise RuntimeError("NVML Shared Library Not Found")

    dead = NvmlSampler(NoDriver()).start()
    assert dead.error.startswith("NVML unavailable") and dead.handle is None
    dead.stop()
