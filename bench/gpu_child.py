"""The side of ``bench/gpu_post.py`` that loads an extension.

Run by the orchestrator in a fresh interpreter whose ``prover`` package is an
overlay: the repository's Python files with one build of ``prover._native``
(the CPU build, the CUDA build or the SupraSeal build), so that every build
runs in the same benchmark without replacing the others. Every step writes
its result file (JSON) atomically, after each proof, so a step stopped at
the budget leaves what it finished.

    python bench/gpu_child.py setup SPEC.json RESULT.json
    python bench/gpu_child.py circuits SPEC.json RESULT.json
    python bench/gpu_child.py prove SPEC.json RESULT.json
    python bench/gpu_child.py verify SPEC.json RESULT.json
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import resource
import sys
import threading
import time
from pathlib import Path

MINER = 1000
TOKEN = "worker.gpu-bench-token"
STORAGE = "store"


def write_result(path: Path, result: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True))
    os.replace(tmp, path)


def randomness(i: int) -> bytes:
    """The i-th randomness of a run (0: the one both builds prove with)."""
    return hashlib.sha256(f"prover gpu bench {i}".encode()).digest()


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(spec: dict, out: Path) -> None:
    """Parameters (test parameters generated where absent: 2KiB and 8MiB,
    and 512MiB into the benchmark's own directory) and the partition's
    sectors (fauxrep replicas with real trees); wall and CPU seconds and the
    peak memory of each, which the next size's estimate scales."""
    from prover.proofs import PoStProofType, ProofError, create_test_sectors, ensure_test_params
    from prover.proofs.native import _native

    pt = PoStProofType.from_sector_size(spec["size"])
    result: dict = {
        "native": _native.__file__,
        "partition_sectors": pt.partition_sectors,
        "python": sys.executable,
        "cpus": len(os.sched_getaffinity(0)),
        "packages": package_versions(),
    }
    t0, c0 = time.perf_counter(), cpu_seconds()
    try:
        files = ensure_test_params(pt, allow_large=bool(spec.get("allow_large")))
    except ProofError as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        write_result(out, result)
        return
    result["params"] = {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": cpu_seconds() - c0,
        "peak_rss_mib": peak_rss_mib(),
        "generated": files.generated,
        "file": str(files.params),
        "bytes": files.params.stat().st_size,
    }
    write_result(out, result)
    t0, c0 = time.perf_counter(), cpu_seconds()
    ids = list(range(1, pt.partition_sectors + 1))
    replicas = create_test_sectors(spec["root"], MINER, ids, pt)
    result["sectors"] = {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": cpu_seconds() - c0,
        "peak_rss_mib": peak_rss_mib(),
        "sector_bytes": pt.sector_size,
        "replicas": [
            {
                "id": r.sector_id,
                "comm_r": r.comm_r.hex(),
                "sealed": str(r.sealed_path),
                "cache": str(r.cache_dir),
            }
            for r in replicas
        ],
        "bytes": sum(f.stat().st_size for f in Path(spec["root"]).rglob("*") if f.is_file()),
    }
    write_result(out, result)


def circuits(spec: dict, out: Path) -> None:
    """Constraints of each size's WindowPoSt partition circuit, counted on
    its blank circuit: one sector and two (the circuit repeats one gadget a
    sector, so they give the cost a sector and what is shared), and the
    whole partition from them (a 32GiB partition's 2349 sectors would take
    minutes to count outright)."""
    from prover.proofs import PoStProofType
    from prover.proofs.native import _native

    got = {}
    for size in spec["sizes"]:
        pt = PoStProofType.from_sector_size(size)
        one, inputs_one = _native.circuit_size(pt.api_name, 1)
        two, inputs_two = _native.circuit_size(pt.api_name, 2)
        per, shared = two - one, 2 * one - two
        n = pt.partition_sectors
        params, vk = _native.parameter_files(pt.api_name)  # in this run's directory
        got[size] = {
            "partition_sectors": n,
            "per_sector": per,
            "shared": shared,
            "partition": shared + per * n,
            "inputs": (2 * inputs_one - inputs_two) + (inputs_two - inputs_one) * n,
            "params_present": Path(params).is_file() and Path(vk).is_file(),
        }
        write_result(out, {"circuits": got})


def package_versions() -> dict[str, str]:
    """What this interpreter loaded for the packages that must match the
    generated code (grpcio, protobuf) and the rest: from the pack's wheels,
    or the machine's own where the pack has none that fits."""
    import importlib.metadata as md

    got = {}
    for name in ("grpcio", "protobuf", "pydantic", "structlog", "nvidia-ml-py"):
        try:
            got[name] = md.version(name)
        except md.PackageNotFoundError:
            got[name] = "missing"
    import google.protobuf
    import grpc

    got["grpc_from"] = str(Path(grpc.__file__).parent.parent)
    got["protobuf_from"] = str(Path(google.protobuf.__file__).parent.parent.parent)
    return got


class Prover:
    """The worker's own compute child machinery (``ComputeSlot``), its slots
    sharing one GPU lock as a worker with ``concurrency = 2`` does."""

    def __init__(self, spec: dict) -> None:
        from prover.proofs import PoStProofType, SectorRef, SectorReplica
        from prover.storage.remote import HostAddress
        from prover.worker.compute import ComputeSettings

        self.pt = PoStProofType.from_sector_size(spec["size"])
        self.replicas = [
            SectorReplica(r["id"], bytes.fromhex(r["comm_r"]), r["sealed"], r["cache"])
            for r in spec["replicas"]
        ]
        self.refs = [SectorRef(r.sector_id, r.comm_r, STORAGE, STORAGE) for r in self.replicas]
        self.hosts = (
            [HostAddress("bench-host", spec["host"], frozenset({STORAGE}))]
            if spec.get("host")
            else []
        )
        self.settings = ComputeSettings(Path(spec["lock"]), None, None)
        self.slots: list = []

    def slot(self, index: int):
        from prover.worker.compute import ComputeSlot

        while len(self.slots) <= index:
            self.slots.append(ComputeSlot(len(self.slots), self.settings))
        return self.slots[index]

    def task(self, i: int, *, remote: bool):
        from prover.worker.compute import Task

        return Task(
            proof_type=self.pt.chain_id,
            randomness=randomness(i),
            miner=MINER,
            partition=0,
            replicas=[] if remote else self.replicas,
            remote=self.refs if remote else [],
            hosts=self.hosts if remote else [],
            token=TOKEN if remote else "",
        )

    def prove(self, slot: int, i: int, *, remote: bool = False) -> dict:
        from prover.proofs import mask_randomness, prover_id, verify_window_post

        sent = time.monotonic()
        outcome = self.slot(slot).prove(self.task(i, remote=remote), lambda: None)
        received = time.monotonic()
        job = {
            "slot": slot,
            "randomness": i,
            "remote": remote,
            "sent": sent,
            "received": received,
            "kind": outcome.kind,
        }
        if outcome.kind != "ok":
            job.update(verified=False, error=outcome.reason)
            return job
        public = [
            (r.sector_id, r.comm_r) for r in self.replicas if r.sector_id not in outcome.faulty
        ]
        job.update(
            timings=outcome.timings,
            # what the SNARK did with the GPU, and bellperson's synthesis
            # and prover times (prover.proofs.gpuuse), where the worker
            # reports them
            gpu=dict(getattr(outcome, "gpu", None) or {}),
            faulty={str(k): v for k, v in outcome.faulty.items()},
            proof=outcome.proof.hex(),
            verified=bool(public)
            and verify_window_post(
                self.pt, mask_randomness(randomness(i)), prover_id(MINER), public, outcome.proof
            ),
        )
        return job

    def stream(self, concurrency: int, jobs: int, first: int) -> dict:
        """``jobs`` partitions read from the storage host, on ``concurrency``
        slots taking them from one queue, as a worker's slots take claims."""
        todo: queue.Queue = queue.Queue()
        for i in range(first, first + jobs):
            todo.put(i)
        done: list[dict] = []
        lock = threading.Lock()

        def run(slot: int) -> None:
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                job = self.prove(slot, i, remote=True)
                with lock:
                    done.append(job)

        threads = [threading.Thread(target=run, args=(s,)) for s in range(concurrency)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        return {"concurrency": concurrency, "wall": wall, "started": t0, "jobs": done}

    def close(self) -> dict[str, float]:
        """Kills the compute children; their peak resident memory (VmHWM)
        by slot, read just before."""
        peaks = {}
        for i, s in enumerate(self.slots):
            peaks[str(i)] = vm_hwm_mib(s.pid)
            s.kill()
        return {k: v for k, v in peaks.items() if v is not None}


def vm_hwm_mib(pid: int | None) -> float | None:
    """A live process's peak resident set (``VmHWM``), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def prove(spec: dict, out: Path) -> None:
    """Rounds of the same partition (same challenges) in one fresh compute
    child: the first cold, the rest warm. Then, when a storage host is
    given, streams of partitions whose vanilla proofs the host reads, at
    concurrency 1 and 2; skipped when ``deadline`` (monotonic) would pass."""
    from prover.proofs.native import _native

    deadline = spec["deadline"]
    result: dict = {"native": _native.__file__, "rounds": []}
    p = Prover(spec)
    try:
        t0 = time.monotonic()
        p.slot(0)
        result["child_start_s"] = time.monotonic() - t0
        write_result(out, result)
        for _ in range(spec["rounds"]):
            if result["rounds"] and time.monotonic() > deadline:
                result["rounds_stopped"] = "budget"
                break
            result["rounds"].append(p.prove(0, 0))
            write_result(out, result)
            if result["rounds"][-1]["kind"] != "ok":
                break
        if not spec.get("host"):
            return
        warm = [r["timings"]["total"] for r in result["rounds"][1:] if "timings" in r]
        per_job = min(warm) if warm else None
        jobs = spec["stream"]
        # c1 takes jobs x per_job, c2 at best half that, plus a second
        # child's start and warm-ups: skip unless that fits, with room
        need = None if per_job is None else 2.0 * (2.5 * jobs * per_job + 10.0)
        left = deadline - time.monotonic()
        if need is None or need > left:
            why = "no warm proof to size it by" if need is None else f"needs ~{need:.0f} s"
            result["streams"] = {"skipped": f"budget: {why}, {left:.0f} s left"}
            write_result(out, result)
            return
        # both slots warm (parameters loaded, connections to the host open)
        result["warmup"] = [p.prove(0, 10_000, remote=True)]
        t0 = time.monotonic()
        p.slot(1)
        result["second_child_start_s"] = time.monotonic() - t0
        result["warmup"] += [p.prove(1, 10_001), p.prove(1, 10_002, remote=True)]
        write_result(out, result)
        result["streams"] = {}
        for concurrency in (1, 2):
            result["streams"][str(concurrency)] = p.stream(concurrency, jobs, 1)
            write_result(out, result)
    finally:
        result["rss_peak_mib"] = p.close()
        write_result(out, result)


def verify(spec: dict, out: Path) -> None:
    """Proofs made by the other build, checked by this one's verifier."""
    from prover.proofs import PoStProofType, mask_randomness, prover_id, verify_window_post

    pt = PoStProofType.from_sector_size(spec["size"])
    public = [(r["id"], bytes.fromhex(r["comm_r"])) for r in spec["replicas"]]
    checked = [
        verify_window_post(
            pt,
            mask_randomness(randomness(p["randomness"])),
            prover_id(MINER),
            public,
            bytes.fromhex(p["proof"]),
        )
        for p in spec["proofs"]
    ]
    write_result(out, {"verified": checked})


def main() -> int:
    step, spec_path, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    spec = json.loads(spec_path.read_text())
    {"setup": setup, "circuits": circuits, "prove": prove, "verify": verify}[step](spec, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
