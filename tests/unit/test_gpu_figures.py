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


def rounds(*snarks, gpu=None):
    return [
        {
            "timings": {"challenges": 0, "vanilla": 0.1, "snark": x, "total": x + 0.1},
            "gpu": dict(gpu or {}, synthesis_s=x / 4, prover_s=x / 2),
            "verified": True,
        }
        for x in snarks
    ]


def test_cold_against_warm_and_cpu_over_a_gpu_build():
    cpu = fig.rounds_figures(rounds(2.0, 1.0, 1.2, 1.1))
    gpu = fig.rounds_figures(rounds(20.0, 0.1, 0.12))
    assert cpu["snark_first_s"] == 2.0
    assert cpu["snark_second_s"] == 1.0
    assert cpu["snark_warm_median_s"] == pytest.approx(1.1)
    assert cpu["second_over_first"] == pytest.approx(0.5)
    # bellperson's own split, from the warm rounds
    assert cpu["synthesis_warm_median_s"] == pytest.approx(1.1 / 4)
    assert cpu["prover_warm_median_s"] == pytest.approx(1.1 / 2)
    assert gpu["snark_warm_median_s"] == pytest.approx(0.11)
    assert gpu["gpu_fallbacks"] == 0 and gpu["gpu_fallback_reason"] is None
    r = fig.size_ratios(cpu, gpu)
    assert r["snark_warm_cpu_over"] == pytest.approx(10.0)
    assert r["snark_first_cpu_over"] == pytest.approx(0.1)
    assert fig.size_ratios(cpu, {"skipped": "--cpu-only"}) == {}
    assert fig.ratio(1.0, 0.0) is None and fig.ratio(None, 1.0) is None


def test_snarks_that_fell_back_are_counted_with_the_reason():
    why = "no GPU kernel ran: Cannot instantiate GPU FFT kernel! Error: No working GPUs found!"
    got = fig.rounds_figures(rounds(5.0, 4.0, gpu={"fallback": why}))
    assert got["gpu_fallbacks"] == 2 and got["gpu_fallback_reason"] == why


CIRCUITS = {
    "2KiB": {"partition_sectors": 2, "per_sector": 10933, "partition": 21866},
    "8MiB": {"partition_sectors": 2, "per_sector": 32133, "partition": 64266},
    "512MiB": {"partition_sectors": 2, "per_sector": 42733, "partition": 85466},
    "32GiB": {"partition_sectors": 2349, "per_sector": 53333, "partition": 125279217},
}


def test_a_line_through_the_sizes_measured():
    assert fig.linear_fit([(1, 3), (3, 7)]) == pytest.approx((1.0, 2.0))
    assert fig.linear_fit([(2, 4)]) == (0.0, 2.0)  # one point: through the origin
    assert fig.linear_fit([(2, 4), (2, 5)]) is None and fig.linear_fit([]) is None
    e = fig.extrapolate([(10, 2.0), (30, 4.0)], 300)
    assert e["fit_s"] == pytest.approx(31.0) and e["fixed_s"] == pytest.approx(1.0)
    assert e["proportional_s"] == pytest.approx(40.0) and e["beyond_data"] == pytest.approx(10)


def test_the_32gib_estimate_per_build_leaves_out_fallbacks_and_absent_builds():
    sizes = {
        "2KiB": {
            "cpu": {"snark_warm_median_s": 1.0},
            "cuda": {"snark_warm_median_s": 0.5, "gpu_fallbacks": 2},
            "supraseal": {"skipped": "not given"},
        },
        "8MiB": {"cpu": {"snark_warm_median_s": 3.0}, "cuda": {"error": "a proof failed"}},
    }
    est = fig.snark_estimates(sizes, CIRCUITS)
    assert est["target"] == "32GiB" and est["constraints"] == 125279217
    assert "ESTIMATE" in est["note"]
    assert list(est["builds"]) == ["cpu"]
    cpu = est["builds"]["cpu"]
    per = 2.0 / (64266 - 21866)
    assert cpu["per_unit_s"] == pytest.approx(per)
    assert cpu["fit_s"] == pytest.approx(1.0 + per * (125279217 - 21866))
    assert fig.snark_estimates(sizes, {}) == {}


def test_a_setup_estimate_from_this_run_else_the_reference():
    reference = {
        "2KiB": {
            "params": {"cpu_seconds": 10.0, "peak_rss_mib": 100.0, "generated": True},
            "sectors": {"cpu_seconds": 0.01},
        },
        "8MiB": {
            "params": {"cpu_seconds": 30.0, "peak_rss_mib": 300.0, "generated": True},
            "sectors": {"cpu_seconds": 4.0},
        },
    }
    sector_bytes = {"2KiB": 2 << 10, "8MiB": 8 << 20, "512MiB": 512 << 20}
    # the reference carries its own sizes' constraints: a run asking for
    # 512MiB alone counts no other circuit
    reference["2KiB"]["constraints"], reference["8MiB"]["constraints"] = 21866, 64266
    est = fig.setup_estimate(
        "512MiB", {"512MiB": CIRCUITS["512MiB"]}, {}, 16, reference, sector_bytes
    )
    assert est["source"] == "reference" and est["basis"] == ["2KiB", "8MiB"]
    slope = 20.0 / (64266 - 21866)
    assert est["params_cpu_s"] == pytest.approx(10.0 + slope * (85466 - 21866))
    assert est["params_wall_s"] == pytest.approx(est["params_cpu_s"] / 8)  # half of 16 cores
    assert est["sectors_cpu_s"] == pytest.approx(4.0 / (16 << 20) * (1 << 30))
    assert est["wall_s"] == pytest.approx((est["params_cpu_s"] + est["sectors_cpu_s"]) / 8)
    # sizes this run generated itself come first
    own = {"8MiB": reference["8MiB"], "2KiB": {"params": {"generated": False}}}
    assert fig.setup_estimate("512MiB", CIRCUITS, own, 2, reference, sector_bytes)["source"] == (
        "this run"
    )
    assert fig.setup_estimate("64GiB", CIRCUITS, {}, 2, reference, sector_bytes) is None


def full_report(mode="gpu"):
    report = fig.new_report(mode, {"sizes": ["2KiB", "512MiB"]}, {"cpus": 16})
    cpu = fig.rounds_figures(rounds(2.0, 1.0, 1.2))
    cpu["host_rss_peak_mib"] = 512.0
    if mode == "cpu-only":
        cuda = {"skipped": "--cpu-only"}
    else:
        cuda = dict(fig.rounds_figures(rounds(9.0, 0.1, 0.1)), nvml={"memory_peak_mib": 3000})
        cuda["snark_cold_s"] = 41.5
    conc = fig.concurrency_figures(
        fig.stream_figures([job(3.0), job(6.0)], 6.0),
        fig.stream_figures([job(3.0), job(5.0, total=4.0)], 5.0),
    )
    conc.update(host={"rtt_ms": 0})
    report["sizes"]["2KiB"] = {
        "status": "done",
        "sectors": 2,
        "constraints": CIRCUITS["2KiB"],
        "cpu": cpu,
        "cuda": cuda,
        "supraseal": {"skipped": "not given (--supraseal PATH, or a pack that carries it)"},
        "ratios": {"cuda": fig.size_ratios(cpu, cuda), "supraseal": {}},
        "concurrency": {"cpu" if mode == "cpu-only" else "cuda": conc},
    }
    report["sizes"]["512MiB"] = {"status": "skipped", "reason": "will not fit: ..."}
    report["estimates"] = fig.snark_estimates(
        {"2KiB": report["sizes"]["2KiB"]}, {"2KiB": CIRCUITS["2KiB"], "32GiB": CIRCUITS["32GiB"]}
    )
    report["complete"] = True
    return report


@pytest.mark.parametrize("mode", ["gpu", "cpu-only"])
def test_the_report_is_one_json_object_of_the_known_shape(mode):
    report = json.loads(json.dumps(full_report(mode)))
    assert fig.check_report(report) == []
    assert report["schema"] == fig.SCHEMA
    table = fig.format_table(report)
    assert "2KiB partition (2 sectors, 21,866 constraints)" in table
    assert "512MiB: skipped: will not fit" in table
    assert "concurrency 2 vs 1:" in table
    assert "SupraSeal skipped: not given (--supraseal PATH" in table
    assert "512 MiB" in table  # the compute child's peak host memory
    assert "ESTIMATE, not measured: a 32GiB partition (2349 sectors, 125,279,217 constraints" in (
        table
    )
    if mode == "gpu":
        assert "11.00x" in table  # warm SNARK, CPU over CUDA: 1.1 s against 0.1 s
        assert "3000 MiB" in table
        assert "41.500 s" in table  # the CUDA build's cold proof
    else:
        assert "CUDA skipped: --cpu-only" in table


def test_a_fallback_is_said_in_the_table():
    report = full_report("gpu")
    why = "no GPU kernel ran: Cannot instantiate GPU FFT kernel! Error: No working GPUs found!"
    report["sizes"]["2KiB"]["cuda"].update(gpu_fallbacks=3, gpu_fallback_reason=why)
    assert f"!! 3 of the CUDA build's SNARKs fell back to the CPU: {why}" in fig.format_table(
        report
    )


def test_a_malformed_report_is_caught():
    report = full_report("cpu-only")
    report["sizes"]["2KiB"]["cuda"] = {"rounds": 3}
    report["sizes"]["512MiB"] = {"status": "skipped"}
    del report["builds"]
    problems = fig.check_report(report)
    assert "missing builds" in problems
    assert "512MiB: skipped without a reason" in problems
    assert "2KiB: cpu-only run with a cuda side not marked skipped" in problems
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
