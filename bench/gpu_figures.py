"""The figures of ``bench/gpu_post.py``, as pure functions: no process, no
proof, no GPU. The benchmark's children report what they timed (monotonic
clock stamps, the compute child's step timings); NVML samples come from the
orchestrator's thread; everything below turns those into the figures and the
one JSON report, and prints the table. ``tests/unit/test_gpu_figures.py``
checks them on made-up inputs.

Also here, because the pack step and the benchmark both need them without
loading any extension: which wheels fit this interpreter, and which GPU
architectures a CUDA build's embedded kernels (nvcc fatbins) were compiled for.
"""

from __future__ import annotations

import re
import statistics
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

SCHEMA = "prover-gpu-post/1"
SIDES = ("cpu", "gpu")
MIB = 1 << 20

Interval = tuple[float, float]


# -- numbers ---------------------------------------------------------------


def median(values: Iterable[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the
    denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


# -- intervals: what ran under what ------------------------------------------


def job_intervals(received: float, timings: Mapping[str, float]) -> tuple[Interval, Interval]:
    """A job's (vanilla, SNARK) intervals on the monotonic clock, from the
    moment its outcome came back and the compute child's step timings.

    The child runs challenges, vanilla, waits for the GPU lock, then the
    SNARK, and answers at once: the SNARK ends when the outcome arrives, and
    the job started ``total`` seconds before that (the wait for the lock is
    inside ``total``, between the two)."""
    start = received - timings["total"]
    vanilla_start = start + timings.get("challenges", 0.0)
    vanilla = (vanilla_start, vanilla_start + timings["vanilla"])
    snark = (received - timings["snark"], received)
    return vanilla, snark


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of intervals, as sorted disjoint intervals."""
    out: list[list[float]] = []
    for a, b in sorted((a, b) for a, b in intervals if b > a):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def union_length(intervals: Iterable[Interval]) -> float:
    return sum(b - a for a, b in merge(intervals))


def overlap_length(interval: Interval, others: Iterable[Interval]) -> float:
    """How much of ``interval`` lies under the union of ``others``."""
    a, b = interval
    return sum(max(0.0, min(b, d) - max(a, c)) for c, d in merge(others))


def stream_figures(jobs: Sequence[Mapping[str, Any]], wall: float) -> dict[str, Any]:
    """A stream of jobs at one concurrency: throughput, per-job medians, the
    share of vanilla time that ran under another job's SNARK (what a second
    slot is for), and how busy the SNARK (the GPU) was over the wall time.

    Each job: ``received`` (monotonic), ``timings`` (the child's), ``verified``.
    """
    spans = [job_intervals(j["received"], j["timings"]) for j in jobs]
    vanilla_total = sum(v[1] - v[0] for v, _ in spans)
    under = 0.0
    for i, (v, _) in enumerate(spans):
        under += overlap_length(v, [s for k, (_, s) in enumerate(spans) if k != i])
    n = len(jobs)
    return {
        "jobs": n,
        "wall_s": wall,
        "jobs_per_min": 60.0 * n / wall if wall > 0 else None,
        "vanilla_median_s": median(j["timings"]["vanilla"] for j in jobs),
        "snark_median_s": median(j["timings"]["snark"] for j in jobs),
        "total_median_s": median(j["timings"]["total"] for j in jobs),
        "vanilla_under_snark_share": ratio(under, vanilla_total),
        "snark_busy_share": ratio(union_length(s for _, s in spans), wall),
        "verified": bool(jobs) and all(j.get("verified") for j in jobs),
    }


def concurrency_figures(c1: Mapping[str, Any], c2: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "c1": dict(c1),
        "c2": dict(c2),
        "throughput_c2_over_c1": ratio(c2.get("jobs_per_min"), c1.get("jobs_per_min")),
    }


# -- NVML samples ------------------------------------------------------------


def samples_in(samples: Sequence[Mapping[str, Any]], windows: Iterable[Interval], pad: float = 0.0):
    """The samples whose time ``t`` falls in any window (widened by ``pad``)."""
    spans = merge((a - pad, b + pad) for a, b in windows)
    return [s for s in samples if any(a <= s["t"] <= b for a, b in spans)]


def gpu_figures(
    samples: Sequence[Mapping[str, Any]],
    windows: Sequence[Interval],
    baseline_used: int | None,
    *,
    pad: float = 0.1,
) -> dict[str, Any]:
    """Memory peak and utilisation over the SNARK windows, from polled NVML
    samples (``t`` monotonic, ``used`` bytes, ``util`` percent).

    ``pad`` widens each window: NVML's utilisation is an average over its own
    sample period, so a short SNARK shows in the sample just after it.
    ``gpu_used`` says whether the GPU did anything at all during them (a CUDA
    build whose kernels the driver cannot load proves on the CPU, silently)."""
    inside = samples_in(samples, windows, pad)
    used = [s["used"] for s in inside if s.get("used") is not None]
    util = [s["util"] for s in inside if s.get("util") is not None]
    peak = max(used) if used else None
    above = peak - baseline_used if peak is not None and baseline_used is not None else None
    return {
        "samples": len(inside),
        "memory_baseline_mib": None if baseline_used is None else baseline_used / MIB,
        "memory_peak_mib": None if peak is None else peak / MIB,
        "memory_peak_above_baseline_mib": None if above is None else above / MIB,
        "util_mean_pct": statistics.fmean(util) if util else None,
        "util_max_pct": max(util) if util else None,
        "gpu_used": None if not inside else bool((above or 0) > 16 * MIB or any(util)),
    }


def baseline_used(samples: Sequence[Mapping[str, Any]], before: float) -> int | None:
    """Device memory in use before ``before``: the least seen (other work on
    the device, the driver's own), which a SNARK's peak is measured above."""
    got = [s["used"] for s in samples if s["t"] < before and s.get("used") is not None]
    return min(got) if got else None


# -- one side, one size --------------------------------------------------------


def rounds_figures(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """First proof of a fresh compute child (cold: the proofs library loads
    the parameters; on a GPU also the CUDA context and kernels) against the
    later ones (warm)."""
    snark = [r["timings"]["snark"] for r in rounds]
    total = [r["timings"]["total"] for r in rounds]
    first = snark[0] if snark else None
    second = snark[1] if len(snark) > 1 else None
    return {
        "rounds": len(rounds),
        "snark_first_s": first,
        "snark_second_s": second,
        "snark_warm_median_s": median(snark[1:]),
        "total_first_s": total[0] if total else None,
        "total_warm_median_s": median(total[1:]),
        "vanilla_warm_median_s": median(r["timings"]["vanilla"] for r in rounds[1:]),
        "second_over_first": ratio(second, first),
        "verified": bool(rounds) and all(r.get("verified") for r in rounds),
    }


def size_ratios(cpu: Mapping[str, Any] | None, gpu: Mapping[str, Any] | None) -> dict[str, Any]:
    """CPU over GPU: how many times faster the GPU side is (same partition,
    same challenges)."""
    if not cpu or not gpu or "rounds" not in cpu or "rounds" not in gpu:
        return {}
    return {
        "snark_warm_cpu_over_gpu": ratio(cpu["snark_warm_median_s"], gpu["snark_warm_median_s"]),
        "snark_first_cpu_over_gpu": ratio(cpu["snark_first_s"], gpu["snark_first_s"]),
        "total_warm_cpu_over_gpu": ratio(cpu["total_warm_median_s"], gpu["total_warm_median_s"]),
    }


# -- the report --------------------------------------------------------------


def new_report(mode: str, settings: Mapping[str, Any], machine: Mapping[str, Any]) -> dict:
    return {
        "schema": SCHEMA,
        "mode": mode,
        "complete": False,
        "stopped": None,
        "settings": dict(settings),
        "machine": dict(machine),
        "builds": {},
        "setup": {},
        "sizes": {},
    }


def check_report(report: Mapping[str, Any]) -> list[str]:
    """What is wrong with a report's shape (empty when nothing)."""
    problems = []
    for key in ("schema", "mode", "complete", "settings", "machine", "builds", "setup", "sizes"):
        if key not in report:
            problems.append(f"missing {key}")
    if report.get("schema") != SCHEMA:
        problems.append(f"schema is {report.get('schema')!r}, not {SCHEMA!r}")
    if report.get("mode") not in ("gpu", "cpu-only"):
        problems.append(f"mode {report.get('mode')!r}")
    for size, entry in (report.get("sizes") or {}).items():
        if "status" not in entry:
            problems.append(f"{size}: no status")
            continue
        if entry["status"] == "skipped":
            if not entry.get("reason"):
                problems.append(f"{size}: skipped without a reason")
            continue
        for side in SIDES:
            got = entry.get(side)
            if got is None:
                problems.append(f"{size}: no {side} side")
            elif "skipped" not in got and "error" not in got and "rounds" not in got:
                problems.append(f"{size}: {side} side has neither figures nor a reason")
        if report.get("mode") == "cpu-only" and "skipped" not in (entry.get("gpu") or {}):
            problems.append(f"{size}: cpu-only run with a GPU side not marked skipped")
    return problems


def _f(value: float | None, fmt: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{unit}"


def format_table(report: Mapping[str, Any]) -> str:
    """The printed summary: per size, CPU and GPU side by side, and ratios."""
    lines = []
    gpu_label = "GPU" if report.get("mode") == "gpu" else "GPU (skipped)"
    for size, entry in report.get("sizes", {}).items():
        if entry.get("status") == "skipped":
            lines.append(f"\n{size}: skipped: {entry.get('reason')}")
            continue
        cpu, gpu = entry.get("cpu") or {}, entry.get("gpu") or {}
        r = entry.get("ratios") or {}
        sectors = entry.get("sectors", "?")
        lines.append(f"\n{size} partition ({sectors} sectors), status {entry.get('status')}")
        lines.append(f"  {'':34}{'CPU':>11}{gpu_label:>15}{'CPU/GPU':>10}")

        def row(label, key, fmt=".3f", unit=" s", ratio_key=None, cpu=cpu, gpu=gpu, r=r):
            cv, gv = cpu.get(key), gpu.get(key)
            rv = r.get(ratio_key) if ratio_key else None
            lines.append(
                f"  {label:34}{_f(cv, fmt, unit):>11}{_f(gv, fmt, unit):>15}"
                f"{_f(rv, '.2f', 'x'):>10}"
            )

        for side_name, side in (("CPU", cpu), ("GPU", gpu)):
            if "error" in side:
                lines.append(f"  {side_name} side failed: {side['error']}")
            elif "skipped" in side:
                lines.append(f"  {side_name} side skipped: {side['skipped']}")
        row("SNARK, warm (median)", "snark_warm_median_s", ratio_key="snark_warm_cpu_over_gpu")
        row("SNARK, 1st in a fresh child", "snark_first_s", ratio_key="snark_first_cpu_over_gpu")
        row("SNARK, 2nd in that child", "snark_second_s")
        row("  2nd / 1st", "second_over_first", ".3f", "")
        row("partition total, warm", "total_warm_median_s", ratio_key="total_warm_cpu_over_gpu")
        row("vanilla (local disk), warm", "vanilla_warm_median_s")
        gm = gpu.get("nvml") or {}
        cm = cpu.get("nvml") or {}
        for label, key, fmt, unit in (
            ("GPU memory peak over baseline", "memory_peak_above_baseline_mib", ".0f", " MiB"),
            ("GPU memory peak (device)", "memory_peak_mib", ".0f", " MiB"),
            ("GPU utilisation, mean", "util_mean_pct", ".0f", " %"),
            ("GPU utilisation, max", "util_max_pct", ".0f", " %"),
        ):
            lines.append(
                f"  {label:34}{_f(cm.get(key), fmt, unit):>11}{_f(gm.get(key), fmt, unit):>15}"
            )
        if gm.get("gpu_used") is False:
            lines.append("  !! the GPU side left the GPU idle: the CUDA build proved on the CPU")
        conc = entry.get("concurrency") or {}
        if "skipped" in conc or "error" in conc:
            lines.append(f"  concurrency: {conc.get('skipped') or conc.get('error')}")
        elif conc:
            host = conc.get("host", {})
            lines.append(
                f"  concurrency ({conc.get('side')} side; vanilla from a prover-storage host, "
                f"{host.get('rtt_ms', 0):g} ms RTT):"
            )
            for c in ("c1", "c2"):
                s = conc.get(c) or {}
                lines.append(
                    f"    {c}: {s.get('jobs', 0)} jobs {_f(s.get('wall_s'), '.2f', ' s')} wall, "
                    f"{_f(s.get('jobs_per_min'), '.1f')} jobs/min; vanilla "
                    f"{_f(s.get('vanilla_median_s'), '.3f', ' s')}, SNARK "
                    f"{_f(s.get('snark_median_s'), '.3f', ' s')}; vanilla under another's "
                    f"SNARK {_f(_pct(s.get('vanilla_under_snark_share')), '.0f', ' %')}, "
                    f"SNARK busy {_f(_pct(s.get('snark_busy_share')), '.0f', ' %')}"
                )
            lines.append(
                f"    concurrency 2 vs 1: {_f(conc.get('throughput_c2_over_c1'), '.2f', 'x')}"
                " throughput"
            )
    first = report.get("gpu_first_on_machine")
    if first:
        lines.append(
            f"\nCUDA build's first proof on this machine ({first.get('size')}, before the "
            f"figures above): SNARK {_f(first.get('snark_s'), '.3f', ' s')}, kernel cache "
            f"{_f(first.get('jit_cache_mib_before'), '.1f')} -> "
            f"{_f(first.get('jit_cache_mib_after'), '.1f', ' MiB')}"
            + (f"; {first['error']}" if first.get("error") else "")
        )
    if report.get("stopped"):
        lines.append(f"\nstopped early: {report['stopped']}")
    return "\n".join(lines).lstrip("\n")


def _pct(share: float | None) -> float | None:
    return None if share is None else 100.0 * share


# -- wheels: which fit this interpreter ------------------------------------------

_WHEEL = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$"
)


def wheel_fits(filename: str, version: tuple[int, int], machine: str = "x86_64") -> bool:
    """Whether a wheel installs on CPython ``version`` on Linux ``machine``
    (pure wheels, abi3 wheels of this or an older minor, or this exact
    CPython; manylinux/linux platforms of this machine)."""
    m = _WHEEL.match(filename)
    if not m:
        return False
    plats = m["plat"].split(".")
    if not any(p == "any" or (p.endswith("_" + machine) and "linux" in p) for p in plats):
        return False
    major, minor = version
    for py in m["py"].split("."):
        for abi in m["abi"].split("."):
            if abi == "none" and py in ("py3", f"py{major}{minor}", f"cp{major}{minor}"):
                return True
            if abi == "abi3" and py.startswith("cp3") and int(py[3:] or 0) <= minor:
                return True
            if abi in (f"cp{major}{minor}", f"cp{major}{minor}m") and py == f"cp{major}{minor}":
                return True
    return False


def wheel_name(filename: str) -> str | None:
    m = _WHEEL.match(filename)
    return m["name"].lower().replace("_", "-") if m else None


# -- CUDA kernels embedded in a build --------------------------------------------

FATBIN_MAGIC = 0xBA55ED50
_KINDS = {1: "ptx", 2: "sass"}


def fatbin_kernels(data: bytes) -> list[dict[str, Any]]:
    """The kernels in every nvcc fatbin embedded in ``data`` (ec-gpu-gen puts
    bellperson's and neptune's in the module): kind ``sass`` (machine code
    for exactly one architecture) or ``ptx`` (which the driver compiles for
    a newer GPU at first use), and ``sm_NN``. Deduplicated, sorted."""
    found: set[tuple[str, int]] = set()
    magic = struct.pack("<I", FATBIN_MAGIC)
    i = data.find(magic)
    while i >= 0:
        if i + 16 <= len(data):
            version, header, size = struct.unpack_from("<HHQ", data, i + 4)
            if version == 1 and header == 16 and i + 16 + size <= len(data):
                p, end = i + 16, i + 16 + size
                while p + 32 <= end:
                    kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, p)
                    (arch,) = struct.unpack_from("<I", data, p + 28)
                    if entry_header < 32 or kind not in _KINDS:
                        break
                    found.add((_KINDS[kind], arch))
                    p += entry_header + payload
        i = data.find(magic, i + 4)
    return [
        {"kind": k, "arch": f"{'compute' if k == 'ptx' else 'sm'}_{a}"}
        for k, a in sorted(found, key=lambda x: (x[1], x[0]))
    ]


def kernels_note(kernels: Sequence[Mapping[str, str]], gpu_arch: str | None) -> str:
    """What a GPU of ``gpu_arch`` (``sm_90`` for H100/H200) makes of a
    build's kernels: machine code it runs, PTX it compiles at first use
    (which the first proof pays), or nothing it can load (CPU fallback)."""
    if not kernels:
        return "no CUDA kernels embedded (a CPU build)"
    sass = sorted({k["arch"] for k in kernels if k["kind"] == "sass"})
    ptx = sorted({k["arch"] for k in kernels if k["kind"] == "ptx"})
    have = f"machine code for {', '.join(sass) or 'none'}; PTX for {', '.join(ptx) or 'none'}"
    if gpu_arch is None:
        return have
    n = _arch_number(gpu_arch)
    if any(_arch_number(a) == n for a in sass):
        return f"{have}: runs on {gpu_arch} as built"
    if any(_arch_number(p) <= n for p in ptx):
        return (
            f"{have}: no machine code for {gpu_arch}, so the driver compiles the PTX at first use "
            "(the first proof pays it; cached in CUDA_CACHE_PATH afterwards)"
        )
    return f"{have}: nothing {gpu_arch} can load, so bellperson proves on the CPU"


def _arch_number(arch: str) -> int:
    try:
        return int(arch.rsplit("_", 1)[-1])
    except ValueError:
        return 0
