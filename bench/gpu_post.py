"""A GPU benchmark in one command: the CPU build, bellperson's CUDA build and
the SupraSeal build side by side in one run, on partitions of test sectors.

Per sector size, the same partition (same sectors, same challenges) proven
by each build in the worker's own persistent compute child
(``prover.worker.compute.ComputeSlot``), each build loaded in processes of
its own (an overlay of this repository's ``prover`` package with that
build's ``_native`` module first on ``sys.path``). A build that is not given
is skipped, and the report says why:

- SNARK seconds per partition: cold (the build's first proof of the size in
  the run: on a GPU the driver may compile the kernels' PTX then), the first
  after a start (a fresh compute child: a worker restarting) and warm (the
  median of that child's later proofs); bellperson's own split of the SNARK
  into synthesis (CPU) and prover time (FFTs and multiexps: the GPU's part),
  read from its log; SNARKs that fell back to the CPU, with the reason;
- the compute child's peak host memory (VmHWM), and GPU memory peak and
  utilisation, sampled from NVML on a thread here during the SNARKs;
- two jobs a GPU against one: a stream of partitions whose vanilla proofs a
  real ``prover-storage`` host on loopback reads, one slot or two sharing
  the GPU lock, so that one reads while the other's SNARK runs;
- each GPU build's proofs verified again by the CPU build;
- the partition circuit's constraints, and from the sizes measured an
  ESTIMATE of a 32GiB partition's warm SNARK per build.

Everything goes into one JSON file (``--out``), written after every step,
and a table is printed. ``--budget-s`` stops the run cleanly before a
machine's limit, with what it has; a size whose parameters and sectors
would not be made in the time left is skipped with the estimate that says
so (512MiB: test parameters generated into the run's own directory, never a
production cache). ``--cpu-only`` runs the CPU build alone (no GPU needed).

    python bench/gpu_post.py --cuda BUILD [--supraseal BUILD] --sizes 2KiB,8MiB --out F.json
    python bench/gpu_post.py --pack dist/gpu-bench --out FIGURES.json  # bench/gpu_pack.py's
    python bench/gpu_post.py --cpu-only --sizes 2KiB --out FIGURES.json

A BUILD is a ``.so`` (or ``.so.xz``, ``.so.gz``), a wheel, or a directory
holding one (``.ci/cuda-build``'s output: ``wheel/prover_cuda-*.whl``).

No network and no compiler are needed: with ``--pack`` the Python packages
come from the pack's wheels (unpacked into the work directory, first on the
path), and missing test parameters are generated in process.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import hashlib
import json
import lzma
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import gpu_figures as fig  # noqa: E402

TOKEN = "worker.gpu-bench-token"  # as gpu_child.TOKEN
DEFAULT_PARAMS = Path.home() / ".cache" / "prover" / "test-proof-parameters"
# test parameters the setup generates: 2KiB and 8MiB always, 512MiB when
# asked (into the run's own parameter directory; native/src/params.rs
# refuses a production cache)
GENERATED_SIZES = ("2KiB", "8MiB", "512MiB")
LARGE_SIZES = ("512MiB",)
SECTOR_BYTES = {"2KiB": 2 << 10, "8MiB": 8 << 20, "512MiB": 512 << 20, "32GiB": 32 << 30}
ESTIMATE_TARGET = "32GiB"
# The setup step as measured where this benchmark was written: 2 cores
# shared with other builds and tests (load average 9 to 12), nice 19,
# 2026-12-08 (docs/BENCHMARKS.md, "512MiB"): parameters generated and two
# fauxrep sectors made, CPU-seconds and the process's peak memory. A size's
# setup is estimated from these unless this run generated smaller sizes.
REFERENCE_SETUP = {
    "2KiB": {
        "constraints": 21866,
        "params": {"cpu_seconds": 13.6, "peak_rss_mib": 94.5, "generated": True},
        "sectors": {"cpu_seconds": 0.007},
    },
    "8MiB": {
        "constraints": 64266,
        "params": {"cpu_seconds": 36.2, "peak_rss_mib": 185.3, "generated": True},
        "sectors": {"cpu_seconds": 4.15},
    },
}
# what proving a size takes after its setup, at the least: the builds'
# children, cold and warm proofs (kept out of the setup's share of the budget)
PROVE_RESERVE_S = 60.0


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


class OutOfBudget(Exception):
    pass


# -- the Python packages and the two builds ----------------------------------------


def unpack_wheels(wheels: Path, site: Path) -> list[str]:
    """Unpacks the wheels that fit this interpreter into ``site`` (what
    ``pip install --target`` does, without pip or a network). One version of
    each project: the newest fitting file name wins."""
    version = sys.version_info[:2]
    chosen: dict[str, Path] = {}
    for whl in sorted(wheels.glob("*.whl")):
        if fig.wheel_fits(whl.name, version, platform.machine()):
            chosen[fig.wheel_name(whl.name) or whl.name] = whl
    site.mkdir(parents=True, exist_ok=True)
    for whl in chosen.values():
        with zipfile.ZipFile(whl) as z:
            z.extractall(site)
    for data in site.glob("*.data"):
        for kind in ("purelib", "platlib"):
            for item in (data / kind).glob("*") if (data / kind).is_dir() else []:
                shutil.move(str(item), site / item.name)
    for so in site.rglob("*.so"):
        so.chmod(0o755)
    return sorted(w.name for w in chosen.values())


def extension_bytes(path: Path) -> bytes:
    """The ``prover._native`` module in ``path``: a ``.so``, compressed
    (``.so.xz`` as the pack carries it, or ``.so.gz``), or a wheel of the
    package (``.whl``, as ``.ci/cuda-build`` makes it)."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.startswith("prover/_native") and ".so" in n]
            if len(names) != 1:
                raise SystemExit(f"{path}: expected one prover/_native*.so, found {names}")
            return z.read(names[0])
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes())
    if path.suffix == ".xz":
        return lzma.decompress(path.read_bytes())
    return path.read_bytes()


def make_overlay(ext: Path, where: Path) -> dict[str, Any]:
    """``where/prover``: this repository's package with ``ext`` as its
    ``_native`` module. Returns the build's facts."""
    data = extension_bytes(ext)
    pkg = where / "prover"
    pkg.mkdir(parents=True)
    for item in (ROOT / "prover").iterdir():
        if item.name.startswith("_native") and ".so" in item.name:
            continue
        if item.name == "__pycache__":
            continue
        (pkg / item.name).symlink_to(item)
    target = pkg / "_native.abi3.so"
    target.write_bytes(data)
    target.chmod(0o755)
    return {
        "path": str(ext),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "links_libcuda": b"libcuda.so" in data,
        "kernels": fig.fatbin_kernels(data),
    }


def default_cpu_ext() -> Path | None:
    found = sorted((ROOT / "prover").glob("_native*.so"))
    return found[0] if found else None


def find_build(path: Path, name: str) -> Path | None:
    """The module file a build path names: the path itself, or inside a
    directory (``.ci/cuda-build``'s output) its wheel (``wheel/prover_NAME-*``
    first), else a module (``_native*.so``, maybe compressed)."""
    if not path.is_dir():
        return path if path.exists() else None
    for pattern in (
        f"wheel/prover_{name}-*.whl",
        f"prover_{name}-*.whl",
        "wheel/*.whl",
        "*.whl",
        "*_native*.so*",
        "prover/_native*.so",
    ):
        found = sorted(path.glob(pattern))
        if found:
            return found[0]
    return None


def resolve_builds(args, pack: dict | None) -> tuple[dict[str, Path], dict[str, str]]:
    """Each build's module, from the options, else the pack; and for each
    build that is not there, why. The CPU build defaults to this checkout's."""
    given = {
        "cpu": args.cpu_ext,
        "cuda": args.cuda or args.ext,
        "supraseal": args.supraseal,
    }
    carried = dict((pack or {}).get("builds") or {})
    if pack and pack.get("ext") and "cuda" not in carried:
        carried["cuda"] = pack["ext"]  # a pack of schema 1
    if pack and pack.get("cpu_ext"):
        carried.setdefault("cpu", pack["cpu_ext"])
    builds: dict[str, Path] = {}
    absent: dict[str, str] = {}
    for name in fig.SIDES:
        if name != "cpu" and args.cpu_only:
            absent[name] = "--cpu-only"
            continue
        path = given[name] or (pack["dir"] / carried[name] if name in carried else None)
        if path is None and name == "cpu":
            path = default_cpu_ext()
        if path is None:
            flag = "--cpu-ext" if name == "cpu" else f"--{name}"
            absent[name] = f"not given ({flag} PATH, or a pack that carries it)"
            continue
        found = find_build(Path(path), name)
        if found is None:
            absent[name] = f"{path}: no module or wheel there"
        else:
            builds[name] = found
    return builds, absent


# -- NVML ------------------------------------------------------------------------


class NvmlSampler:
    """Polls one device's memory in use and utilisation on a thread, stamped
    with the monotonic clock that the children stamp their proofs with.
    ``nvml`` is the ``pynvml`` module (injected in tests); any NVML failure
    ends sampling with the reason, never the benchmark."""

    def __init__(self, nvml: Any, index: int = 0, interval: float = 0.05) -> None:
        self.nvml = nvml
        self.index = index
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.handle = None

    def start(self) -> NvmlSampler:
        try:
            self.nvml.nvmlInit()
            self.handle = self.nvml.nvmlDeviceGetHandleByIndex(self.index)
        except Exception as exc:
            self.error = f"NVML unavailable: {exc}"
            return self
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
        self._thread.start()
        return self

    def sample(self) -> dict[str, Any]:
        s: dict[str, Any] = {"t": time.monotonic()}
        s["used"] = int(self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used)
        s["util"] = int(self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu)
        return s

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.sample())
            except Exception as exc:
                self.error = f"NVML sampling stopped: {exc}"
                return
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(Exception):
            if self.handle is not None:
                self.nvml.nvmlShutdown()


def gpu_facts(nvml: Any) -> tuple[list[dict], str | None]:
    """Every device NVML sees, with its architecture (``sm_90`` for an
    H100/H200); and the reason when there are none."""
    if nvml is None:
        return [], "nvidia-ml-py is not installed"
    try:
        nvml.nvmlInit()
    except Exception as exc:
        return [], f"NVML unavailable (no NVIDIA driver?): {exc}"
    facts = []
    try:
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            name = nvml.nvmlDeviceGetName(h)
            mem = nvml.nvmlDeviceGetMemoryInfo(h)
            entry = {
                "index": i,
                "name": name.decode() if isinstance(name, bytes) else name,
                "memory_total_mib": int(mem.total) / fig.MIB,
                "memory_used_mib": int(mem.used) / fig.MIB,
            }
            with contextlib.suppress(Exception):
                major, minor = nvml.nvmlDeviceGetCudaComputeCapability(h)
                entry["arch"] = f"sm_{major}{minor}"
            with contextlib.suppress(Exception):
                d = nvml.nvmlSystemGetDriverVersion()
                entry["driver"] = d.decode() if isinstance(d, bytes) else d
            facts.append(entry)
    except Exception as exc:
        return facts, f"NVML: {exc}"
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return facts, None if facts else "NVML sees no device"


def load_nvml():
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


# -- children ----------------------------------------------------------------------


class Side:
    """One build's environment: its overlay first on the path, its own
    TMPDIR (bellperson's GPU lock files), the shared parameter cache."""

    def __init__(self, name: str, overlay: Path, site: Path | None, work: Path, params: Path):
        self.name = name
        self.work = work
        paths = [str(overlay)] + ([str(site)] if site else [])
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        tmp = work / f"tmp-{name}"
        tmp.mkdir(parents=True, exist_ok=True)
        env.update(
            PYTHONPATH=os.pathsep.join(paths),
            FIL_PROOFS_PARAMETER_CACHE=str(params),
            TMPDIR=str(tmp),
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
            # the driver's JIT cache of PTX kernels, kept for the whole run
            CUDA_CACHE_PATH=str(work / "cuda-cache"),
            CUDA_CACHE_MAXSIZE=str(1 << 30),
        )
        self.env = env

    def run(self, step: str, spec: dict, budget: Budget, tag: str, reserve: float = 5.0) -> dict:
        """``bench/gpu_child.py STEP`` with this side's build; its result
        (what it wrote, also when stopped at the budget)."""
        spec_file = self.work / f"{tag}.spec.json"
        out = self.work / f"{tag}.result.json"
        log = self.work / f"{tag}.log"
        spec_file.write_text(json.dumps(spec))
        out.unlink(missing_ok=True)
        timeout = budget.left() - reserve
        if timeout <= 1:
            raise OutOfBudget(f"no time left for {tag}")
        with log.open("w") as f:
            proc = subprocess.Popen(
                [sys.executable, str(HERE / "gpu_child.py"), step, str(spec_file), str(out)],
                env=self.env,
                cwd=self.work,
                stdout=f,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code = None
        result = json.loads(out.read_text()) if out.exists() else {}
        if code is None:
            result["stopped"] = f"budget: {tag} killed after {timeout:.0f} s"
        elif code != 0:
            tail = log.read_text()[-2000:]
            last = (tail.strip().splitlines() or ["no output"])[-1]
            result["error"] = f"{tag} exited with {code}: {last}"
            result["log_tail"] = tail
        return result


@contextlib.contextmanager
def storage_host(side: Side, root: Path, rtt_ms: float):
    """A real ``prover-storage`` (the CPU build) serving ``root`` on
    loopback, behind a delay of ``rtt_ms`` round trip when asked; its
    address while it runs."""
    cfg = side.work / "storage.toml"
    cfg.write_text("parallelism = 8\nsector_timeout_s = 600.0\n")
    env = dict(side.env, PROVER_API_INFO=f"{TOKEN}:127.0.0.1:9")
    log = side.work / f"storage-{root.name}.log"
    with log.open("w") as f:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prover.cli.storage_main",
                "--config",
                str(cfg),
                "--listen",
                "127.0.0.1:0",
                "--storage",
                f"store={root}",
                "--log-json",
            ],
            env=env,
            cwd=side.work,
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proxy = None
    try:
        address = None
        until = time.monotonic() + 60
        while address is None and time.monotonic() < until and proc.poll() is None:
            for line in log.read_text().splitlines():
                if '"storage_host_started"' in line:
                    address = json.loads(line)["listen"]
            time.sleep(0.1)
        if address is None:
            raise RuntimeError(f"prover-storage did not start: {log.read_text()[-1000:]}")
        if rtt_ms > 0:
            from netdelay import DelayProxy

            host, port = address.rsplit(":", 1)
            proxy = DelayProxy((host, int(port)), rtt_ms / 2e3)
            address = proxy.address
        yield address
    finally:
        if proxy is not None:
            proxy.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# -- one size ----------------------------------------------------------------------


def side_figures(result: dict, sampler: NvmlSampler | None, started: float) -> dict:
    """A prove step's rounds as figures, with NVML over its SNARK windows
    and the compute child's peak memory."""
    rounds = [r for r in result.get("rounds", []) if r.get("kind") == "ok"]
    out: dict[str, Any] = {}
    for key in ("error", "stopped", "log_tail"):
        if key in result:
            out[key] = result[key]
    failed = [r for r in result.get("rounds", []) if r.get("kind") != "ok"]
    if failed:
        out["error"] = f"a proof failed: {failed[0].get('error')}"
    if not rounds:
        out.setdefault("error", "no proof")
        return out
    if result.get("rounds_stopped"):
        out["stopped"] = f"budget: {len(rounds)} of the rounds asked for"
    out.update(fig.rounds_figures(rounds))
    out["child_start_s"] = result.get("child_start_s")
    out["native"] = result.get("native")
    out["round_timings"] = [r["timings"] for r in rounds]
    out["round_gpu"] = [r.get("gpu") or {} for r in rounds]
    peaks = (result.get("rss_peak_mib") or {}).values()
    out["host_rss_peak_mib"] = max(peaks) if peaks else None
    if sampler is not None and sampler.handle is not None:
        base = fig.baseline_used(sampler.samples, started)
        windows = [fig.job_intervals(r["received"], r["timings"])[1] for r in rounds]
        out["nvml"] = fig.gpu_figures(sampler.samples, windows, base)
        out["nvml"]["first"] = fig.gpu_figures(sampler.samples, windows[:1], base)
        if len(windows) > 1:
            out["nvml"]["warm"] = fig.gpu_figures(sampler.samples, windows[1:], base)
    return out


def streams_figures(result: dict, sampler: NvmlSampler | None, started: float) -> dict:
    streams = result.get("streams")
    if streams is None:
        return {"skipped": result.get("error") or result.get("stopped") or "not run"}
    if "skipped" in streams:
        return {"skipped": streams["skipped"]}
    got = {}
    for c in ("1", "2"):
        s = streams.get(c)
        if s is None:
            got[f"c{c}"] = {"skipped": result.get("stopped") or "not run"}
            continue
        jobs = [j for j in s["jobs"] if j.get("kind") == "ok"]
        figs = fig.stream_figures(jobs, s["wall"])
        figs["failed"] = [j.get("error") for j in s["jobs"] if j.get("kind") != "ok"]
        if sampler is not None and sampler.handle is not None:
            base = fig.baseline_used(sampler.samples, started)
            figs["nvml"] = fig.gpu_figures(
                sampler.samples, [(s["started"], s["started"] + s["wall"])], base, pad=0.0
            )
        got[f"c{c}"] = figs
    if "c1" in got and "c2" in got and "jobs_per_min" in got["c1"] and "jobs_per_min" in got["c2"]:
        return fig.concurrency_figures(got["c1"], got["c2"])
    return got


def cache_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def cold_proof(size: str, spec: dict, side: Side, budget: Budget) -> dict:
    """The build's first proof of this size in the run, in a child of its
    own, before anything else of it is measured: the parameters read from
    disk, and on a GPU the CUDA context and, where the build has no machine
    code for this GPU (an H100 or H200 is sm_90), the kernels' PTX compiled
    by the driver into CUDA_CACHE_PATH (at the build's first size). The
    figures after it are those of a worker restarting on a machine that has
    proven before."""
    cache = Path(side.env["CUDA_CACHE_PATH"])
    before = cache_bytes(cache)
    result = side.run("prove", dict(spec, rounds=1), budget, f"cold-{size}-{side.name}")
    rounds = [r for r in result.get("rounds", []) if r.get("kind") == "ok"]
    out: dict[str, Any] = {
        "child_start_s": result.get("child_start_s"),
        "snark_s": rounds[0]["timings"]["snark"] if rounds else None,
        "total_s": rounds[0]["timings"]["total"] if rounds else None,
        "gpu": (rounds[0].get("gpu") or {}) if rounds else {},
        "jit_cache_mib_before": before / fig.MIB,
        "jit_cache_mib_after": cache_bytes(cache) / fig.MIB,
    }
    for key in ("error", "stopped"):
        if key in result:
            out[key] = result[key]
    return out


def describe_setup_estimate(est: dict, carried: bool) -> str:
    if carried:
        params = "parameters there already"
    else:
        params = f"parameters {est['params_wall_s']:.0f} s ({est['params_cpu_s']:.0f} CPU-s"
        rss = est.get("params_peak_rss_mib")
        params += ")" if rss is None else f", {rss:.0f} MiB peak)"
    return (
        f"ESTIMATE from {est['source']} ({', '.join(est['basis'])}): {params}, two sectors "
        f"{est['sectors_wall_s'] or 0:.0f} s on {est['cpus']} cores"
    )


def setup_fits(size: str, args, report: dict, budget: Budget) -> str | None:
    """Why a size's setup (test parameters generated, two sectors made) will
    not fit the budget, by its ESTIMATE (printed and kept); None when it
    fits or nothing is to be made that is not already there."""
    circuits = report.get("circuits") or {}
    est = fig.setup_estimate(
        size,
        circuits,
        report["setup"],
        report["machine"]["cpus"] or 1,
        REFERENCE_SETUP,
        SECTOR_BYTES,
    )
    if est is None:
        return None
    carried = size in (report["settings"].get("pack_params") or {}) or bool(
        circuits.get(size, {}).get("params_present")
    )
    if carried:
        est["params_cpu_s"] = est["params_wall_s"] = 0.0
        est["wall_s"] = est["sectors_wall_s"] or 0.0
    report.setdefault("setup_estimates", {})[size] = est
    print(f"{size} setup: {describe_setup_estimate(est, carried)}; {budget.left():.0f} s left")
    need = est["wall_s"] + PROVE_RESERVE_S
    if need > budget.left():
        return (
            f"will not fit: making its parameters and sectors would take about "
            f"{est['wall_s']:.0f} s (ESTIMATE), and proving at least {PROVE_RESERVE_S:.0f} s "
            f"more, with {budget.left():.0f} s left of the budget"
        )
    return None


def bench_size(
    size: str,
    args,
    sides: dict[str, Side],
    absent: dict[str, str],
    sampler: NvmlSampler | None,
    budget: Budget,
    report: dict,
    save,
) -> None:
    entry: dict[str, Any] = {"status": "running"}
    report["sizes"][size] = entry
    if size in (report.get("circuits") or {}):
        entry["constraints"] = report["circuits"][size]
    why = setup_fits(size, args, report, budget)
    if why:
        entry.update(status="skipped", reason=why)
        return
    setup_side = sides["cpu"]
    root = setup_side.work / f"store-{size}"
    setup = setup_side.run(
        "setup",
        {"size": size, "root": str(root), "allow_large": size in LARGE_SIZES},
        budget,
        f"setup-{size}",
    )
    report["setup"][size] = {k: v for k, v in setup.items() if k != "log_tail"}
    if "params" not in setup or "sectors" not in setup:
        entry.update(status="skipped", reason=setup.get("error") or setup.get("stopped"))
        return
    replicas = setup["sectors"]["replicas"]
    entry["sectors"] = len(replicas)
    save()
    # two jobs a GPU against one: for each GPU build, or the CPU alone
    streamed = [n for n in fig.GPU_SIDES if n in sides] or ["cpu"]
    entry["concurrency"] = {}
    for name in fig.SIDES:
        if name not in sides:
            entry[name] = {"skipped": absent.get(name, "not given")}
            continue
        if budget.left() < 10:
            entry[name] = {"skipped": "budget"}
            continue
        spec = {
            "size": size,
            "replicas": replicas,
            "rounds": args.rounds,
            "stream": args.stream,
            "lock": str(sides[name].work / f"gpu-{name}.lock"),
            "deadline": budget.deadline - 15.0,
        }
        cold = cold_proof(size, spec, sides[name], budget)
        save()
        started = time.monotonic()
        if name in streamed and args.stream > 0:
            try:
                with storage_host(sides["cpu"], root, args.rtt_ms) as address:
                    spec["host"] = address
                    result = sides[name].run("prove", spec, budget, f"prove-{size}-{name}")
            except RuntimeError as exc:
                result = {"error": str(exc)}
            conc = streams_figures(result, sampler, started)
            conc.update(host={"rtt_ms": args.rtt_ms, "address": spec.get("host")})
            entry["concurrency"][name] = conc
        else:
            result = sides[name].run("prove", spec, budget, f"prove-{size}-{name}")
        entry[name] = side_figures(result, sampler, started)
        entry[name]["cold"] = cold
        entry[name]["snark_cold_s"] = cold.get("snark_s")
        if name != "cpu":
            entry[name]["proofs"] = [r["proof"] for r in result.get("rounds", []) if "proof" in r]
        save()
    if args.stream <= 0:
        entry["concurrency"] = {n: {"skipped": "--stream 0"} for n in streamed}
    entry["ratios"] = {}
    for name in fig.GPU_SIDES:
        got = entry.get(name) or {}
        proofs = got.pop("proofs", [])
        if proofs and budget.left() > 20:
            checked = sides["cpu"].run(
                "verify",
                {
                    "size": size,
                    "replicas": replicas,
                    "proofs": [{"randomness": 0, "proof": p} for p in proofs],
                },
                budget,
                f"verify-{size}-{name}",
            )
            got["verified_by_cpu_build"] = checked.get("verified", checked.get("error"))
        entry["ratios"][name] = fig.size_ratios(entry.get("cpu"), got)
    parts = [entry.get(s) or {} for s in fig.SIDES] + list(entry["concurrency"].values())
    stopped = [p["stopped"] for p in parts if "stopped" in p]
    stopped += [p["skipped"] for p in parts if str(p.get("skipped", "")).startswith("budget")]
    failed = [p["error"] for p in parts if "error" in p]
    entry["status"] = "partial" if stopped or failed else "done"
    if stopped:
        report["stopped"] = report["stopped"] or f"{size}: {stopped[0]}"


# -- the run -----------------------------------------------------------------------


def load_pack(pack: Path) -> dict:
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["dir"] = pack
    return manifest


def machine_facts(nvml) -> dict:
    gpus, why = gpu_facts(nvml)
    return {
        "hostname": socket.gethostname(),
        "cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
        "memory_mib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / fig.MIB,
        "gpus": gpus,
        "gpu_note": why,
    }


def git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=Path, help="a directory made by bench/gpu_pack.py")
    parser.add_argument("--cuda", type=Path, help="the CUDA build (.so, .so.xz, .whl, or a dir)")
    parser.add_argument("--ext", type=Path, help=argparse.SUPPRESS)  # --cuda, as it was named
    parser.add_argument("--supraseal", type=Path, help="the SupraSeal build (likewise)")
    parser.add_argument(
        "--cpu-ext", type=Path, help="the CPU build's module [default: this checkout's]"
    )
    parser.add_argument("--sizes", default="2KiB,8MiB", help="2KiB, 8MiB, 512MiB")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file of figures")
    parser.add_argument("--budget-s", type=float, default=540.0)
    parser.add_argument("--cpu-only", action="store_true", help="the CPU build alone, no GPU")
    parser.add_argument("--rounds", type=int, default=3, help="proofs per fresh compute child")
    parser.add_argument("--stream", type=int, default=8, help="partitions per concurrency row")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="delay to the storage host")
    parser.add_argument("--params-dir", type=Path, help="parameter cache [default: the suite's]")
    parser.add_argument("--work", type=Path, help="work directory [default: a temporary one]")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (a first proof after a start and a warm one)")
    return args


def prepare_params(args, pack: dict | None, work: Path) -> Path:
    """The parameter directory the children read: the carried files linked
    into the run's own directory (where the others are generated), else
    ``--params-dir`` or the suite's cache."""
    params = args.params_dir or Path(os.environ.get("FIL_PROOFS_PARAMETER_CACHE") or DEFAULT_PARAMS)
    if pack is not None and args.params_dir is None:
        params = work / "params"
        params.mkdir(exist_ok=True)
        for f in (pack["dir"] / "params").glob("*"):
            (params / f.name).unlink(missing_ok=True)
            (params / f.name).symlink_to(f.resolve())
    params.mkdir(parents=True, exist_ok=True)
    return params


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    budget = Budget(args.budget_s)
    t_start = time.monotonic()

    work = args.work or Path(tempfile.mkdtemp(prefix="prover-gpu-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    pack = load_pack(args.pack) if args.pack else None
    site = None
    wheels: list[str] = []
    pack_note = None
    if pack is not None:
        site = work / "site"
        wheels = unpack_wheels(pack["dir"] / "wheels", site)
        sys.path.insert(0, str(site))
        here = f"{sys.version_info[0]}.{sys.version_info[1]}"
        if pack.get("wheels") and here not in pack.get("python", []):
            pack_note = (
                f"the pack's wheels are for CPython {', '.join(pack['python'])}, this is {here}: "
                "its compiled packages (grpcio, pydantic-core) come from this interpreter if any"
            )
            print(f"warning: {pack_note}")
    builds, absent = resolve_builds(args, pack)
    if "cpu" not in builds:
        raise SystemExit(f"no CPU build: {absent['cpu']} (it is the baseline)")
    gpu_builds = [n for n in fig.GPU_SIDES if n in builds]
    for name, why in absent.items():
        print(f"{fig.LABELS[name]} build: skipped, {why}")
    params = prepare_params(args, pack, work)

    nvml = load_nvml()
    machine = machine_facts(nvml)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    settings = {
        "sizes": sizes,
        "rounds": args.rounds,
        "stream": args.stream,
        "rtt_ms": args.rtt_ms,
        "budget_s": args.budget_s,
        "params_dir": str(params),
        "work": str(work),
        "pack": str(args.pack) if args.pack else None,
        "wheels_unpacked": wheels,
        "pack_note": pack_note,
        "pack_params": (pack or {}).get("params"),
        "commit": git_commit() or (pack or {}).get("commit"),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    report = fig.new_report("gpu" if gpu_builds else "cpu-only", settings, machine)

    def save() -> None:
        report["wall_s"] = time.monotonic() - t_start
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=1))
        os.replace(tmp, args.out)

    sides: dict[str, Side] = {}
    archs = [g.get("arch") for g in machine["gpus"]]
    for name in fig.SIDES:
        if name not in builds:
            report["builds"][name] = {"skipped": absent[name]}
            continue
        overlay = work / f"overlay-{name}"
        report["builds"][name] = make_overlay(builds[name], overlay)
        sides[name] = Side(name, overlay, site, work, params)
        if name != "cpu":
            facts = report["builds"][name]
            facts["kernels_note"] = fig.kernels_note(facts["kernels"], archs[0] if archs else None)
            if not facts["links_libcuda"]:
                facts["warning"] = "this module does not link libcuda: a CPU build?"
    save()
    circuits = sides["cpu"].run(
        "circuits", {"sizes": [*sizes, ESTIMATE_TARGET]}, budget, "circuits"
    )
    report["circuits"] = circuits.get("circuits") or {}
    save()

    sampler = None
    if nvml is not None and machine["gpus"]:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
        sampler = NvmlSampler(nvml, int(visible) if visible.isdigit() else 0).start()
    try:
        for size in sizes:
            if budget.left() < 20:
                report["sizes"][size] = {"status": "skipped", "reason": "budget"}
                report["stopped"] = report["stopped"] or f"budget: {size} not started"
                continue
            try:
                bench_size(size, args, sides, absent, sampler, budget, report, save)
            except OutOfBudget as exc:
                report["sizes"][size]["status"] = "partial"
                report["stopped"] = f"budget: {exc}"
            save()
        done = {s: e for s, e in report["sizes"].items() if e.get("status") != "skipped"}
        report["estimates"] = fig.snark_estimates(done, report["circuits"], ESTIMATE_TARGET)
    finally:
        if sampler is not None:
            sampler.stop()
            report["nvml"] = {"samples": len(sampler.samples), "error": sampler.error}
        report["complete"] = report["stopped"] is None and all(
            e.get("status") in ("done", "skipped") for e in report["sizes"].values()
        )
        report["settings"]["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        save()
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(machine_line(report))
    print(fig.format_table(report))
    problems = fig.check_report(report)
    for p in problems:
        print(f"report: {p}")
    print(f"\nfigures: {args.out} ({report['wall_s']:.0f} s)")
    return 1 if problems else 0


def machine_line(report: dict) -> str:
    m = report["machine"]
    gpus = ", ".join(f"{g['name']} ({g.get('arch', '?')})" for g in m["gpus"]) or m["gpu_note"]
    lines = [f"machine: {platform.machine()}, {m['cpus']} cores, Python {m['python']}; GPU: {gpus}"]
    for name in fig.SIDES:
        b = report["builds"].get(name, {})
        note = b.get("kernels_note") or b.get("skipped", "")
        lines.append(
            f"{fig.LABELS[name]} build: {b.get('path', '-')}" + (f" ({note})" if note else "")
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
