"""A GPU benchmark in one command: the CUDA build against the CPU build,
side by side in one run, on partitions of test sectors.

Per sector size, the same partition (same sectors, same challenges) proven
by each build in the worker's own persistent compute child
(``prover.worker.compute.ComputeSlot``), each build loaded in processes of
its own (an overlay of this repository's ``prover`` package with that
build's ``_native`` module first on ``sys.path``):

- SNARK seconds per partition, GPU against CPU: warm (the median of the
  child's later proofs) and cold (its first);
- the compute child's second proof against its first (parameters, and on a
  GPU the CUDA context and kernels, loaded at the first);
- GPU memory peak and utilisation, sampled from NVML on a thread here during
  the SNARKs (device-wide; above the memory in use before the run);
- concurrency 1 against 2: a stream of partitions whose vanilla proofs a
  real ``prover-storage`` host on loopback reads, one slot or two slots
  sharing the GPU lock, so one reads while the other's SNARK runs;
- the GPU's proofs verified again by the CPU build.

Everything goes into one JSON file (``--out``), written after every step,
and a table is printed. ``--budget-s`` stops the run cleanly before a
machine's limit, with what it has. ``--cpu-only`` runs the CPU side alone
(no GPU needed; the GPU side is marked skipped), as on a machine without one.

    python bench/gpu_post.py --ext CUDA.so|.so.gz|.whl --sizes 2KiB,8MiB --out FIGURES.json
    python bench/gpu_post.py --pack dist/gpu-bench --out FIGURES.json  # bench/gpu_pack.py's
    python bench/gpu_post.py --cpu-only --sizes 2KiB --out FIGURES.json

No network and no compiler are needed: with ``--pack`` the Python packages
come from the pack's wheels (unpacked into the work directory, first on the
path), and missing 2KiB/8MiB test parameters are generated in process.
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
TEST_PARAMETER_SIZES = ("2KiB", "8MiB")
WHAT_512MIB_TAKES = (
    "512MiB needs Groth16 parameters for its WindowPoSt circuit: the official files are not "
    "carried (no network on the GPU machine) and the native module generates test parameters "
    "for 2KiB and 8MiB only (native/src/params.rs refuses larger sizes); see docs/BENCHMARKS.md, "
    "'GPU: one command', for what generating them would take"
)


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
    """A prove step's rounds as figures, with NVML over its SNARK windows."""
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


def first_gpu_proof(size: str, spec: dict, side: Side, budget: Budget) -> dict:
    """The CUDA build's very first proof on this machine, before anything is
    measured: where the build has no machine code for this GPU (an H200 is
    sm_90), the driver compiles the kernels' PTX now and keeps them in
    CUDA_CACHE_PATH, so that the cold and warm figures after it are those of
    a compute child restarting on a machine that has proven before."""
    cache = Path(side.env["CUDA_CACHE_PATH"])
    before = cache_bytes(cache)
    result = side.run("prove", dict(spec, rounds=1), budget, f"first-gpu-{size}")
    rounds = [r for r in result.get("rounds", []) if r.get("kind") == "ok"]
    out: dict[str, Any] = {
        "size": size,
        "child_start_s": result.get("child_start_s"),
        "snark_s": rounds[0]["timings"]["snark"] if rounds else None,
        "total_s": rounds[0]["timings"]["total"] if rounds else None,
        "jit_cache_mib_before": before / fig.MIB,
        "jit_cache_mib_after": cache_bytes(cache) / fig.MIB,
    }
    for key in ("error", "stopped"):
        if key in result:
            out[key] = result[key]
    return out


def bench_size(
    size: str,
    args,
    sides: dict[str, Side],
    sampler: NvmlSampler | None,
    budget: Budget,
    report: dict,
    save,
) -> None:
    entry: dict[str, Any] = {"status": "running"}
    report["sizes"][size] = entry
    setup_side = sides["cpu"]
    root = setup_side.work / f"store-{size}"
    setup = setup_side.run("setup", {"size": size, "root": str(root)}, budget, f"setup-{size}")
    report["setup"][size] = {k: v for k, v in setup.items() if k != "log_tail"}
    if "params" not in setup or "sectors" not in setup:
        entry.update(status="skipped", reason=setup.get("error") or setup.get("stopped"))
        if size not in TEST_PARAMETER_SIZES and "ParametersMissing" in str(entry["reason"]):
            entry["reason"] = f"{entry['reason']}. {WHAT_512MIB_TAKES}"
        return
    replicas = setup["sectors"]["replicas"]
    entry["sectors"] = len(replicas)
    save()
    target = "cpu" if args.cpu_only else "gpu"
    concurrency_side = target if args.stream > 0 else None
    for name in ("cpu", "gpu"):
        if name == "gpu" and args.cpu_only:
            entry["gpu"] = {"skipped": "--cpu-only: the CUDA build is not run"}
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
        if name == "gpu" and "gpu_first_on_machine" not in report:
            report["gpu_first_on_machine"] = first_gpu_proof(size, spec, sides["gpu"], budget)
            save()
        started = time.monotonic()
        if name == concurrency_side:
            try:
                with storage_host(sides["cpu"], root, args.rtt_ms) as address:
                    spec["host"] = address
                    result = sides[name].run("prove", spec, budget, f"prove-{size}-{name}")
            except RuntimeError as exc:
                result = {"error": str(exc)}
            entry["concurrency"] = streams_figures(result, sampler, started)
            entry["concurrency"].update(
                side=name, host={"rtt_ms": args.rtt_ms, "address": spec.get("host")}
            )
        else:
            result = sides[name].run("prove", spec, budget, f"prove-{size}-{name}")
        entry[name] = side_figures(result, sampler, started)
        if name == "gpu":
            entry["gpu"]["proofs"] = [r["proof"] for r in result.get("rounds", []) if "proof" in r]
        save()
    if concurrency_side is None:
        entry["concurrency"] = {"skipped": "--stream 0"}
    gpu = entry.get("gpu") or {}
    proofs = gpu.pop("proofs", [])
    if proofs and budget.left() > 20:
        checked = sides["cpu"].run(
            "verify",
            {
                "size": size,
                "replicas": replicas,
                "proofs": [{"randomness": 0, "proof": p} for p in proofs],
            },
            budget,
            f"verify-{size}",
        )
        gpu["verified_by_cpu_build"] = checked.get("verified", checked.get("error"))
    entry["ratios"] = fig.size_ratios(entry.get("cpu"), entry.get("gpu"))
    parts = [entry.get(s) or {} for s in fig.SIDES] + [entry.get("concurrency") or {}]
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
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=Path, help="a directory made by bench/gpu_pack.py")
    parser.add_argument("--ext", type=Path, help="the CUDA build's module (.so, .so.gz, .whl)")
    parser.add_argument(
        "--cpu-ext", type=Path, help="the CPU build's module [default: this checkout's]"
    )
    parser.add_argument("--sizes", default="2KiB,8MiB")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file of figures")
    parser.add_argument("--budget-s", type=float, default=540.0)
    parser.add_argument("--cpu-only", action="store_true", help="no CUDA build, no GPU needed")
    parser.add_argument("--rounds", type=int, default=3, help="proofs per fresh compute child")
    parser.add_argument("--stream", type=int, default=8, help="partitions per concurrency row")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="delay to the storage host")
    parser.add_argument("--params-dir", type=Path, help="parameter cache [default: the suite's]")
    parser.add_argument("--work", type=Path, help="work directory [default: a temporary one]")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    budget = Budget(args.budget_s)
    t_start = time.monotonic()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (a cold proof and a warm one)")

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
    ext = args.ext or (pack["dir"] / pack["ext"] if pack and pack.get("ext") else None)
    cpu_ext = args.cpu_ext or (
        pack["dir"] / pack["cpu_ext"] if pack and pack.get("cpu_ext") else default_cpu_ext()
    )
    if cpu_ext is None:
        parser.error("no CPU build: give --cpu-ext (this checkout has no prover/_native*.so)")
    if ext is None and not args.cpu_only:
        parser.error("give --ext (the CUDA build), --pack, or --cpu-only")

    params = args.params_dir or Path(os.environ.get("FIL_PROOFS_PARAMETER_CACHE") or DEFAULT_PARAMS)
    if pack is not None and args.params_dir is None:
        # the carried parameters, and room to generate the others
        params = work / "params"
        params.mkdir(exist_ok=True)
        for f in (pack["dir"] / "params").glob("*"):
            (params / f.name).unlink(missing_ok=True)
            (params / f.name).symlink_to(f.resolve())
    params.mkdir(parents=True, exist_ok=True)

    nvml = load_nvml()
    machine = machine_facts(nvml)
    settings = {
        "sizes": [s.strip() for s in args.sizes.split(",") if s.strip()],
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
    report = fig.new_report("cpu-only" if args.cpu_only else "gpu", settings, machine)

    def save() -> None:
        report["wall_s"] = time.monotonic() - t_start
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=1))
        os.replace(tmp, args.out)

    sides = {"cpu": Side("cpu", work / "overlay-cpu", site, work, params)}
    report["builds"]["cpu"] = make_overlay(cpu_ext, work / "overlay-cpu")
    if args.cpu_only:
        report["builds"]["gpu"] = {"skipped": "--cpu-only"}
    else:
        report["builds"]["gpu"] = make_overlay(ext, work / "overlay-gpu")
        sides["gpu"] = Side("gpu", work / "overlay-gpu", site, work, params)
        archs = [g.get("arch") for g in machine["gpus"]]
        report["builds"]["gpu"]["kernels_note"] = fig.kernels_note(
            report["builds"]["gpu"]["kernels"], archs[0] if archs else None
        )
        if not report["builds"]["gpu"]["links_libcuda"]:
            report["builds"]["gpu"]["warning"] = "this module does not link libcuda: a CPU build?"
    save()

    sampler = None
    if nvml is not None and machine["gpus"]:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
        sampler = NvmlSampler(nvml, int(visible) if visible.isdigit() else 0).start()
    try:
        for size in settings["sizes"]:
            if budget.left() < 20:
                report["sizes"][size] = {"status": "skipped", "reason": "budget"}
                report["stopped"] = report["stopped"] or f"budget: {size} not started"
                continue
            try:
                bench_size(size, args, sides, sampler, budget, report, save)
            except OutOfBudget as exc:
                report["sizes"][size]["status"] = "partial"
                report["stopped"] = f"budget: {exc}"
            save()
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
    builds = report["builds"]
    gpu_build = builds.get("gpu", {})
    note = gpu_build.get("kernels_note") or gpu_build.get("skipped", "")
    return (
        f"machine: {platform.machine()}, {m['cpus']} cores, Python {m['python']}; GPU: {gpus}\n"
        f"CPU build: {builds['cpu']['path']}\nCUDA build: {gpu_build.get('path', '-')} ({note})"
    )


if __name__ == "__main__":
    sys.exit(main())
