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

SCHEMA = "prover-gpu-post/2"
# the builds a run compares, each in processes of its own: the CPU build (the
# baseline), bellperson's CUDA kernels, and SupraSeal's C2 kernels
SIDES = ("cpu", "cuda", "supraseal")
GPU_SIDES = ("cuda", "supraseal")
LABELS = {"cpu": "CPU", "cuda": "CUDA", "supraseal": "SupraSeal"}
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
    """A compute child's proofs: its first (the proofs library loads the
    parameters; on a GPU also the CUDA context and kernels) against the later
    ones (warm); bellperson's own split of the SNARK, synthesis (CPU) and
    prover time (FFTs and multiexps: the GPU's part on a GPU build), where
    the child reported it; and the SNARKs that fell back to the CPU."""
    snark = [r["timings"]["snark"] for r in rounds]
    total = [r["timings"]["total"] for r in rounds]
    gpu = [r.get("gpu") or {} for r in rounds]
    first = snark[0] if snark else None
    second = snark[1] if len(snark) > 1 else None
    fell_back = [g["fallback"] for g in gpu if g.get("fallback")]
    return {
        "rounds": len(rounds),
        "snark_first_s": first,
        "snark_second_s": second,
        "snark_warm_median_s": median(snark[1:]),
        "total_first_s": total[0] if total else None,
        "total_warm_median_s": median(total[1:]),
        "vanilla_warm_median_s": median(r["timings"]["vanilla"] for r in rounds[1:]),
        "synthesis_warm_median_s": median(g.get("synthesis_s") for g in gpu[1:]),
        "prover_warm_median_s": median(g.get("prover_s") for g in gpu[1:]),
        "second_over_first": ratio(second, first),
        "gpu_fallbacks": len(fell_back),
        "gpu_fallback_reason": fell_back[-1] if fell_back else None,
        "verified": bool(rounds) and all(r.get("verified") for r in rounds),
    }


def size_ratios(cpu: Mapping[str, Any] | None, other: Mapping[str, Any] | None) -> dict[str, Any]:
    """CPU over another build: how many times faster it is (same partition,
    same challenges)."""
    if not cpu or not other or "rounds" not in cpu or "rounds" not in other:
        return {}
    return {
        "snark_warm_cpu_over": ratio(cpu["snark_warm_median_s"], other["snark_warm_median_s"]),
        "snark_first_cpu_over": ratio(cpu["snark_first_s"], other["snark_first_s"]),
        "total_warm_cpu_over": ratio(cpu["total_warm_median_s"], other["total_warm_median_s"]),
    }


# -- estimates: beyond the sizes measured -------------------------------------


def linear_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares y = a + b x over the points; one point: through the
    origin (a = 0). None without a point, or with every x the same."""
    pts = [(float(x), float(y)) for x, y in points if x is not None and y is not None]
    if not pts:
        return None
    if len(pts) == 1:
        x, y = pts[0]
        return (0.0, y / x) if x else None
    mx = statistics.fmean(x for x, _ in pts)
    my = statistics.fmean(y for _, y in pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx
    return my - b * mx, b


def extrapolate(points: Sequence[tuple[float, float]], x: float) -> dict[str, Any] | None:
    """y at ``x`` from measured (x, y): the straight line through them (a
    fixed cost and a cost a unit), and the largest point scaled in proportion
    (no fixed cost: what the line gives when the small sizes' overhead is not
    there at scale); and how far beyond the data that is."""
    fit = linear_fit(points)
    if fit is None:
        return None
    a, b = fit
    largest = max(points, key=lambda p: p[0])
    return {
        "fit_s": a + b * x,
        "fixed_s": a,
        "per_unit_s": b,
        "proportional_s": largest[1] * x / largest[0] if largest[0] else None,
        "beyond_data": x / largest[0] if largest[0] else None,
        "basis": [list(p) for p in points],
    }


def snark_estimates(
    sizes: Mapping[str, Mapping[str, Any]],
    circuits: Mapping[str, Mapping[str, Any]],
    target: str = "32GiB",
) -> dict[str, Any]:
    """An ESTIMATE, per build, of the warm SNARK of a ``target`` partition
    (32GiB: 2349 sectors) from the sizes measured: seconds against the
    partition circuit's constraints. Constraints drive a Groth16 prover (the
    multiexps are linear in them, the FFTs n log n over the next power of
    two), so this is the first-order scaling and nothing more: a 32GiB
    partition has some 1500 times the constraints of a 512MiB one."""
    want = circuits.get(target)
    if not want:
        return {}
    out: dict[str, Any] = {
        "target": target,
        "constraints": want["partition"],
        "per_sector": want["per_sector"],
        "sectors": want["partition_sectors"],
        "note": "ESTIMATE: the warm SNARK extrapolated in the partition circuit's "
        "constraints from the sizes measured; not a measurement",
        "builds": {},
    }
    for side in SIDES:
        points = [
            (circuits[size]["partition"], entry[side]["snark_warm_median_s"])
            for size, entry in sizes.items()
            if size in circuits
            and isinstance(entry.get(side), Mapping)
            and entry[side].get("snark_warm_median_s") is not None
            and not entry[side].get("gpu_fallbacks")
        ]
        got = extrapolate(points, want["partition"]) if points else None
        if got is not None:
            out["builds"][side] = got
    return out


def setup_estimate(
    size: str,
    circuits: Mapping[str, Mapping[str, Any]],
    measured: Mapping[str, Mapping[str, Any]],
    cpus: int,
    reference: Mapping[str, Mapping[str, Any]],
    sector_bytes: Mapping[str, int],
) -> dict[str, Any] | None:
    """An ESTIMATE of what making ``size``'s test parameters and two
    sectors takes: parameters in CPU-seconds and peak memory against the
    partition circuit's constraints, fitted over the sizes whose parameters
    this run generated (``measured``: the setup results) or else over
    ``reference`` (measured on the 2-core machine the benchmark was written
    on); sectors in CPU-seconds a byte of sector. Wall time is CPU time over
    the cores, at half their count (the generators are parallel but not
    perfectly: the efficiency measured is beside it)."""
    if size not in circuits:
        return None

    def constraints(s: str, m: Mapping[str, Any]) -> int | None:
        return circuits[s]["partition"] if s in circuits else m.get("constraints")

    own = {
        s: m
        for s, m in measured.items()
        if constraints(s, m) and (m.get("params") or {}).get("generated")
    }
    basis, source = (own, "this run") if own else (reference, "reference")
    c = circuits[size]["partition"]
    params = [
        (constraints(s, m), m["params"]["cpu_seconds"])
        for s, m in basis.items()
        if constraints(s, m) and "params" in m
    ]
    rss = [
        (constraints(s, m), m["params"]["peak_rss_mib"])
        for s, m in basis.items()
        if constraints(s, m) and "params" in m
    ]
    # sectors: the largest size measured, whose trees dwarf the fixed costs
    made = [s for s in basis if "sectors" in basis[s] and s in sector_bytes]
    largest = max(made, key=lambda s: sector_bytes[s]) if made else None
    per_byte = (
        basis[largest]["sectors"]["cpu_seconds"] / (2 * sector_bytes[largest]) if largest else None
    )
    fit_t, fit_m = linear_fit(params), linear_fit(rss)
    if fit_t is None:
        return None
    cpu_params = max(0.0, fit_t[0] + fit_t[1] * c)
    cpu_sectors = per_byte * 2 * sector_bytes[size] if per_byte and size in sector_bytes else None
    usable = max(1.0, cpus / 2)
    return {
        "note": "ESTIMATE from the smaller sizes' parameters and sectors; not a measurement",
        "source": source,
        "basis": sorted(basis),
        "params_cpu_s": cpu_params,
        "params_wall_s": cpu_params / usable,
        "params_peak_rss_mib": None if fit_m is None else fit_m[0] + fit_m[1] * c,
        "sectors_cpu_s": cpu_sectors,
        "sectors_wall_s": None if cpu_sectors is None else cpu_sectors / usable,
        "wall_s": cpu_params / usable + (cpu_sectors or 0.0) / usable,
        "cpus": cpus,
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
        if report.get("mode") == "cpu-only":
            for side in GPU_SIDES:
                if "skipped" not in (entry.get(side) or {}):
                    problems.append(f"{size}: cpu-only run with a {side} side not marked skipped")
    return problems


def _f(value: float | None, fmt: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{unit}"


def format_table(report: Mapping[str, Any]) -> str:
    """The printed summary: per size, each build side by side (a build that
    is not there is a column of dashes, its reason said once), CPU over each
    GPU build, two jobs a GPU against one, then the 32GiB estimate."""
    lines = []
    for size, entry in report.get("sizes", {}).items():
        if entry.get("status") == "skipped":
            lines.append(f"\n{size}: skipped: {entry.get('reason')}")
            continue
        sides = {side: entry.get(side) or {} for side in SIDES}
        ratios = entry.get("ratios") or {}
        sectors = entry.get("sectors", "?")
        c = entry.get("constraints") or {}
        circuit = f", {c['partition']:,} constraints" if c.get("partition") else ""
        lines.append(
            f"\n{size} partition ({sectors} sectors{circuit}), status {entry.get('status')}"
        )
        head = "".join(f"{LABELS[s]:>12}" for s in SIDES)
        over = "".join(f"{'CPU/' + LABELS[s]:>15}" for s in GPU_SIDES)
        lines.append(f"  {'':34}{head}{over}")
        for side, got in sides.items():
            if "error" in got:
                lines.append(f"  {LABELS[side]} failed: {got['error']}")
            elif "skipped" in got:
                lines.append(f"  {LABELS[side]} skipped: {got['skipped']}")

        def row(label, key, fmt=".3f", unit=" s", ratio_key=None, sides=sides, ratios=ratios):
            cells = "".join(f"{_f(sides[s].get(key), fmt, unit):>12}" for s in SIDES)
            rs = ""
            if ratio_key:
                rs = "".join(
                    f"{_f((ratios.get(s) or {}).get(ratio_key), '.2f', 'x'):>15}" for s in GPU_SIDES
                )
            lines.append(f"  {label:34}{cells}{rs}")

        row("SNARK, cold (1st of the run)", "snark_cold_s")
        row("SNARK, 1st after a start", "snark_first_s", ratio_key="snark_first_cpu_over")
        row("SNARK, warm (median)", "snark_warm_median_s", ratio_key="snark_warm_cpu_over")
        row("  synthesis (bellperson), warm", "synthesis_warm_median_s")
        row("  prover: FFT+multiexp, warm", "prover_warm_median_s")
        row("partition total, warm", "total_warm_median_s", ratio_key="total_warm_cpu_over")
        row("vanilla (local disk), warm", "vanilla_warm_median_s")
        row("host memory peak (compute child)", "host_rss_peak_mib", ".0f", " MiB")
        for label, key, fmt, unit in (
            ("GPU memory peak over baseline", "memory_peak_above_baseline_mib", ".0f", " MiB"),
            ("GPU memory peak (device)", "memory_peak_mib", ".0f", " MiB"),
            ("GPU utilisation, mean", "util_mean_pct", ".0f", " %"),
            ("GPU utilisation, max", "util_max_pct", ".0f", " %"),
        ):
            cells = "".join(
                f"{_f((sides[s].get('nvml') or {}).get(key), fmt, unit):>12}" for s in SIDES
            )
            lines.append(f"  {label:34}{cells}")
        for side in GPU_SIDES:
            got = sides[side]
            if got.get("gpu_fallbacks"):
                lines.append(
                    f"  !! {got['gpu_fallbacks']} of the {LABELS[side]} build's SNARKs fell back "
                    f"to the CPU: {got.get('gpu_fallback_reason')}"
                )
            elif (got.get("nvml") or {}).get("gpu_used") is False:
                lines.append(
                    f"  !! the {LABELS[side]} build left the GPU idle: it proved on the CPU"
                )
        for side, conc in (entry.get("concurrency") or {}).items():
            lines.extend(_concurrency_lines(side, conc))
    lines.extend(_estimate_lines(report.get("estimates") or {}))
    if report.get("stopped"):
        lines.append(f"\nstopped early: {report['stopped']}")
    return "\n".join(lines).lstrip("\n")


def _concurrency_lines(side: str, conc: Mapping[str, Any]) -> list[str]:
    label = LABELS.get(side, side)
    if "skipped" in conc or "error" in conc:
        return [f"  two jobs a GPU ({label}): {conc.get('skipped') or conc.get('error')}"]
    host = conc.get("host", {})
    out = [
        f"  concurrency ({label}; vanilla from a prover-storage host, "
        f"{host.get('rtt_ms', 0):g} ms RTT):"
    ]
    for c in ("c1", "c2"):
        s = conc.get(c) or {}
        out.append(
            f"    {c}: {s.get('jobs', 0)} jobs {_f(s.get('wall_s'), '.2f', ' s')} wall, "
            f"{_f(s.get('jobs_per_min'), '.1f')} jobs/min; vanilla "
            f"{_f(s.get('vanilla_median_s'), '.3f', ' s')}, SNARK "
            f"{_f(s.get('snark_median_s'), '.3f', ' s')}; vanilla under another's "
            f"SNARK {_f(_pct(s.get('vanilla_under_snark_share')), '.0f', ' %')}, "
            f"SNARK busy {_f(_pct(s.get('snark_busy_share')), '.0f', ' %')}"
        )
    out.append(
        f"    concurrency 2 vs 1: {_f(conc.get('throughput_c2_over_c1'), '.2f', 'x')} throughput"
    )
    return out


def _estimate_lines(est: Mapping[str, Any]) -> list[str]:
    if not est.get("builds"):
        return []
    out = [
        f"\nESTIMATE, not measured: a {est['target']} partition ({est['sectors']} sectors, "
        f"{est['constraints']:,} constraints, {est['per_sector']:,} a sector), warm SNARK:"
    ]
    for side, e in est["builds"].items():
        basis = ", ".join(f"{int(c):,}: {t:.3f} s" for c, t in e["basis"])
        out.append(
            f"  {LABELS.get(side, side):10} {_f(e.get('fit_s'), ',.0f', ' s')} on the line "
            f"through the sizes measured ({_f(e.get('per_unit_s'), '.3g', ' s')} a constraint), "
            f"{_f(e.get('proportional_s'), ',.0f', ' s')} in proportion to the largest; "
            f"{_f(e.get('beyond_data'), ',.0f', 'x')} beyond the data ({basis})"
        )
    return out


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
