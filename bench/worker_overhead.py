"""What the service adds to a partition proof, and what concurrency 2 buys.

1. Per-partition wall time through manager + worker (a real daemon, a real
   prover-worker, gRPC on loopback, the proof verified by the manager) against
   ``prove_partition`` called directly on the same sectors in the same run.
   Budget: the service adds at most 5 % or 50 ms, whichever is larger.
2. A stream of jobs with concurrency 1 and 2: the SNARK phase's share of
   wall time (the GPU's busy share; here the CPU stands in for the GPU).

    python bench/worker_overhead.py [--sizes 2KiB,8MiB] [--rounds 7] [--stream 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the end-to-end process harness

os.environ.setdefault(
    "FIL_PROOFS_PARAMETER_CACHE", str(Path.home() / ".cache" / "prover" / "test-proof-parameters")
)

from manager_harness import ManagerProcess, WorkerProcess  # noqa: E402
from prover._proto import manager_pb2 as pb  # noqa: E402
from prover.proofs import prove_partition, prover_id  # noqa: E402
from proving_fixtures import RANDOMNESS, fresh_set  # noqa: E402


def jobs_state(admin, ids):
    jobs = admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
    return {j.id: j for j in jobs if j.id in ids}


def wait_done(admin, ids, poll=0.25, worker=None):
    while True:
        if worker is not None and worker.proc.poll() is not None:
            raise RuntimeError(f"the worker exited: {worker.lines[-5:]}")
        states = jobs_state(admin, ids)
        if all(j.state in ("succeeded", "failed") for j in states.values()):
            return states
        time.sleep(poll)


def service_round(admin, proven, partition):
    """From the job's creation to its accepted, verified finish, by the
    manager's own clock. This process only polls to know when it is done
    (slowly: fast polling would steal the CPU the proof runs on)."""
    (job_id,) = admin.call(
        admin.admin.AddJobs, pb.AddJobsRequest(jobs=[proven.new_job(partition)])
    ).ids
    job = wait_done(admin, {job_id})[job_id]
    assert job.state == "succeeded", job.error
    created, started = job.created_at.ToDatetime(), job.started_at.ToDatetime()
    finished = job.finished_at.ToDatetime()
    if os.environ.get("BENCH_DEBUG"):
        print(
            f"    claim {(started - created).total_seconds() * 1000:.1f} ms, "
            f"run {(finished - started).total_seconds() * 1000:.1f} ms, "
            f"child {job.timings.total * 1000:.1f} ms"
        )
    return (finished - created).total_seconds()


def stream(admin, proven, first_partition, count):
    jobs = [proven.new_job(first_partition + i) for i in range(count)]
    t0 = time.perf_counter()
    ids = set(admin.call(admin.admin.AddJobs, pb.AddJobsRequest(jobs=jobs)).ids)
    wait_done(admin, ids)
    wall = time.perf_counter() - t0
    c = admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True))
    # the worker's own SNARK timings travel with Finish; the manager keeps them
    return wall, len(ids), [j for j in c.jobs if j.id in ids]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2KiB,8MiB")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--stream", type=int, default=8)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; CPU SNARKs"
    )
    with tempfile.TemporaryDirectory(prefix="prover-bench-worker-") as tmp:
        tmp = Path(tmp)
        for size in args.sizes.split(","):
            proven = fresh_set(tmp / f"store-{size}", size)
            pt, pid = proven.proof_type, prover_id(1000)
            results = {}
            direct = []
            for concurrency in (1, 2):
                m = ManagerProcess(
                    tmp / f"mgr-{size}-{concurrency}",
                    sweep_interval_s=1.0,
                    heartbeat_interval_s=3.0,
                ).start()
                w = WorkerProcess(
                    tmp / f"w-{size}-{concurrency}",
                    m.api_info("worker"),
                    storages={"store-1": proven.root},
                    concurrency=concurrency,
                ).start()
                admin = m.client("admin")
                try:
                    service_round(admin, proven, 10_000)  # warm-up: children load params
                    prove_partition(pt, RANDOMNESS, pid, proven.replicas, 0)  # and here
                    if concurrency == 1:
                        # interleaved, with the same daemons idling in the background
                        service = []
                        for i in range(args.rounds):
                            t0 = time.perf_counter()
                            prove_partition(pt, RANDOMNESS, pid, proven.replicas, 0)
                            direct.append(time.perf_counter() - t0)
                            service.append(service_round(admin, proven, 100 + i))
                        results["service"] = service
                    wall, n, jobs = stream(admin, proven, 1000, args.stream)
                    snark = sum(j_timing(j) for j in jobs)
                    results[concurrency] = (wall, n, snark)
                finally:
                    w.kill()
                    m.kill()

            d, s = statistics.median(direct), statistics.median(results["service"])
            added = s - d
            budget = max(0.05 * d, 0.050)
            print(
                f"\n{pt} partition ({len(proven.replicas)} sectors), median of {args.rounds} rounds"
            )
            print(f"  prove_partition directly      {d:8.4f} s")
            print(
                f"  through manager + worker      {s:8.4f} s   (+{added * 1000:.1f} ms, "
                f"{added / d * 100:+.1f} %; budget {budget * 1000:.0f} ms) "
                f"{'OK' if added <= budget else 'OVER'}"
            )
            for c in (1, 2):
                wall, n, snark = results[c]
                print(
                    f"  stream of {n}, concurrency {c}: {wall:7.2f} s wall, "
                    f"{n / wall:5.2f} partitions/s, SNARK share {snark / wall * 100:5.1f} %"
                )
            gain = results[1][0] / results[2][0]
            print(f"  concurrency 2 vs 1: {gain:.2f}x throughput")
    return 0


def j_timing(job) -> float:
    """The SNARK seconds the worker reported with its finish."""
    return job.timings.snark


if __name__ == "__main__":
    sys.exit(main())
