"""Job dispatch through the manager over real gRPC on loopback.

Starts a real ``prover-manager daemon run`` (SQLite, and PostgreSQL when
PROVER_BENCH_POSTGRES_URL names a database to create scratch databases
in), then drives it with fake workers (threads that finish a job the moment
they hold it):

- cycles/s: claim + finish round trips per second while draining a backlog
  (each finish carries a real 2KiB proof, which the manager verifies);
- dispatch latency: a job is added while the workers long-poll; the time
  from the AddJobs call to a worker holding the job, p50/p99.

On PostgreSQL it also runs two managers on one database, the jobs added at
one (the leader) and the workers long-polling at the other: a job reaches
them through LISTEN/NOTIFY. The one-manager rows of the same run are the
baseline.

    python bench/manager_dispatch.py [--workers 1,8,64] [--jobs 1500] [--probes 150]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # real sectors and a real proof
os.environ.setdefault(
    "FIL_PROOFS_PARAMETER_CACHE", str(Path.home() / ".cache" / "prover" / "test-proof-parameters")
)

from pg_scratch import scratch_database  # noqa: E402
from prover._proto import manager_pb2 as pb  # noqa: E402
from prover.api.client import ApiInfo, ManagerClient  # noqa: E402
from prover.api.tokens import make_token, read_secret  # noqa: E402
from proving_fixtures import proven_set  # noqa: E402

_partitions = itertools.count()


def start_manager(
    home: Path, db_url: str, secret_from: Path | None = None
) -> tuple[subprocess.Popen, int]:
    """A real daemon logging at info (as in production) into a file; with
    ``secret_from``, it takes that home's token secret (managers on one
    database take the same tokens)."""
    env = {**os.environ, "PROVER_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "prover.cli.manager_main", "daemon", "init"],
        env=env,
        check=True,
        capture_output=True,
    )
    if secret_from is not None:
        (home / "secret").write_bytes((secret_from / "secret").read_bytes())
    cfg = home / "config.toml"
    text = cfg.read_text().replace('listen = "127.0.0.1:9700"', 'listen = "127.0.0.1:0"')
    text = text.replace('listen = "127.0.0.1:9701"', 'listen = "127.0.0.1:0"')
    text = text.replace('url = ""', f'url = "{db_url}"').replace("json = false", "json = true")
    cfg.write_text(text.replace("threads = 128", "threads = 256"))
    log = (home / "manager.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prover.cli.manager_main", "daemon", "run"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(600):
        for line in (home / "manager.log").read_text().splitlines():
            if '"manager_started"' in line:
                return proc, int(json.loads(line)["listen"].rpartition(":")[2])
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("manager did not start")


def new_job() -> pb.NewJob:
    """Every job covers the same two real sectors, so one real proof is a
    valid answer to all of them: the manager verifies each finish."""
    n = next(_partitions)
    return proven_set().new_job(n % 64, deadline=(n // 64) % 48, period_start=n // 4096)


def add_jobs(client: ManagerClient, count: int) -> None:
    for i in range(0, count, 500):
        batch = [new_job() for _ in range(min(500, count - i))]
        client.call(client.admin.AddJobs, pb.AddJobsRequest(jobs=batch), timeout=120)


class FakeWorker(threading.Thread):
    """Claims with a long poll and finishes at once."""

    def __init__(self, client: ManagerClient, name: str, stop: threading.Event, log: list):
        super().__init__(daemon=True)
        self.client, self.name_, self.stop, self.log = client, name, stop, log
        client.call(client.worker.Register, pb.RegisterRequest(name=name, host="bench"))

    def run(self) -> None:
        try:
            self._loop()
        except Exception:
            if not self.stop.is_set():
                raise

    def _loop(self) -> None:
        c = self.client
        proof = proven_set().proof
        while not self.stop.is_set():
            resp = c.call(c.worker.Claim, pb.ClaimRequest(worker=self.name_, wait_ms=1000))
            if not resp.HasField("job"):
                continue
            got = time.perf_counter()
            job = resp.job
            c.call(
                c.worker.Finish,
                pb.FinishRequest(
                    worker=self.name_, job_id=job.id, attempt=job.attempt, success=True, proof=proof
                ),
            )
            self.log.append((job.id, got))


def measure(admin: ManagerClient, worker_info: ApiInfo, workers: int, jobs: int, probes: int):
    stop = threading.Event()
    log: list = []
    clients = [ManagerClient(worker_info) for _ in range(min(workers, 8))]
    fakes = [
        FakeWorker(clients[i % len(clients)], f"w{uuid.uuid4().hex[:6]}-{i}", stop, log)
        for i in range(workers)
    ]
    # throughput: a backlog drained by all workers
    add_jobs(admin, jobs)
    start = time.perf_counter()
    for f in fakes:
        f.start()
    while len(log) < jobs:
        time.sleep(0.01)
    cycles = jobs / (time.perf_counter() - start)
    # dispatch latency: one job at a time while every worker long-polls
    time.sleep(0.5)
    latencies = []
    for _ in range(probes):
        before = len(log)
        t0 = time.perf_counter()
        admin.call(admin.admin.AddJobs, pb.AddJobsRequest(jobs=[new_job()]))
        while len(log) == before:
            time.sleep(0.0005)
        latencies.append((log[before][1] - t0) * 1000)
        time.sleep(0.01)
    stop.set()
    for f in fakes:
        f.join(timeout=5)
    for c in clients:
        c.close()
    q = statistics.quantiles(latencies, n=100)
    return cycles, statistics.median(latencies), q[98]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,8,64")
    parser.add_argument("--jobs", type=int, default=1500)
    parser.add_argument("--probes", type=int, default=150)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    backends = [("sqlite", None)]
    pg = os.environ.get("PROVER_BENCH_POSTGRES_URL")
    if pg:
        backends.append(("postgresql", pg))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; manager and fake workers share the machine"
    )
    print(f"{'backend':<11}{'managers':>9}{'workers':>8}{'cycles/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    results = []
    runs = [(b, u, 1) for b, u in backends] + [(b, u, 2) for b, u in backends if u]
    for backend, admin_url, managers in runs:
        for workers in [int(w) for w in args.workers.split(",")]:
            with tempfile.TemporaryDirectory(prefix="prover-bench-mgr-") as tmp:
                home = Path(tmp) / "a"
                home.mkdir()
                drop = None
                if backend == "sqlite":
                    url = ""
                else:
                    url, drop = scratch_database(admin_url, prefix="prover_bench")
                procs = []
                try:
                    proc, port = start_manager(home, url)
                    procs.append(proc)
                    worker_port = port
                    if managers == 2:
                        # the first leads (it started first); workers poll the second
                        (Path(tmp) / "b").mkdir()
                        proc_b, worker_port = start_manager(Path(tmp) / "b", url, home)
                        procs.append(proc_b)
                    secret = read_secret(home / "secret")
                    admin = ManagerClient(ApiInfo(make_token(secret, "admin"), f"127.0.0.1:{port}"))
                    worker_info = ApiInfo(make_token(secret, "worker"), f"127.0.0.1:{worker_port}")
                    cycles, p50, p99 = measure(admin, worker_info, workers, args.jobs, args.probes)
                    admin.close()
                finally:
                    for proc in procs:
                        proc.terminate()
                        proc.wait(30)
                    if drop:
                        drop()
            results.append(
                {
                    "backend": backend,
                    "managers": managers,
                    "workers": workers,
                    "cycles_per_s": cycles,
                    "dispatch_p50_ms": p50,
                    "dispatch_p99_ms": p99,
                }
            )
            print(
                f"{backend:<11}{managers:>9}{workers:>8}{cycles:>10.0f}{p50:>9.1f}{p99:>9.1f}",
                flush=True,
            )
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
