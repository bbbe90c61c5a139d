"""The control plane at a very large storage provider's size, on SQLite and
PostgreSQL in one run.

The job table is filled, in chronological order, with the jobs of 50 miners
x 48 deadlines x 1 to 20 partitions (10.5 on average) of 2349 sectors over
two proving periods: about 50,000 jobs, two days of such an SP. Jobs of past
deadlines are succeeded (with a proof), 1% failed, the newest 2% (at least
200) ready. At
each size asked for (by default 1,000, 10,000 and 50,000 jobs) it measures:

- plan: the tracker's ``Planner`` plans one more deadline of 50 partitions x
  2349 sectors of a placeholder 32GiB miner served by a devnet in its own
  process over HTTP (StateMinerPartitions, StateMinerSectors over 117,450
  sectors, randomness; storage look-up over three storages of placeholder
  files on tmpfs); store: ``add_jobs`` of its 50 jobs;
- the operator's commands, run as an operator runs them (``python -m
  prover.cli``, a new process each, against a real manager daemon on the
  database): ``jobs list --all --limit 1000`` (the first page), ``jobs list
  --all --json`` (every job, proofs included), ``jobs show ID``;
- claim: a worker's Claim round trip over gRPC (the manager claims the job
  and sends its 2349 sectors), 200 claims, p50 and p99;
- the sweeps' time per pass (heartbeats, deadlines, lifetime), median of 20;
- the jobs table's size on disk, and the manager's resident memory after
  the listing (and its peak).

Filler jobs take their sectors from a pool of 64 packed partitions (real
size: 2349 incompressible comm_rs each); the planned deadline is real.
Growth is reported as each figure at the largest size over the smallest.

    PROVER_BENCH_POSTGRES_URL=postgresql://... python bench/control_plane.py
        [--sizes 1000,10000,50000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
sys.path.insert(0, str(TREE / "tests"))

from sqlalchemy import MetaData, Table, insert, text  # noqa: E402

from manager_harness import ManagerProcess  # noqa: E402
from pg_scratch import scratch_database  # noqa: E402
from prover._proto import manager_pb2 as pb  # noqa: E402
from prover.chain.lotus import LotusClient  # noqa: E402
from prover.devnet import placeholder_miner, write_placeholder_files  # noqa: E402
from prover.proofs.layout import SectorRef  # noqa: E402
from prover.store import JobStore, Ledger  # noqa: E402
from prover.store.sectorpack import pack  # noqa: E402
from prover.tracker.planning import Planner, ProofTypes  # noqa: E402

SECTORS = 2349
MINERS = 50
PERIODS = 2
PERIOD = 2880
PLANNED_MINER = 99_000  # the placeholder miner whose deadline is planned
PLANNED_DEADLINE = 5
PLANNED_PARTITIONS = 50
WINDOW = 3600  # 1 s epochs: the planned deadline stays open an hour


def partitions_of(miner: int, deadline: int) -> int:
    return 1 + (miner * 7 + deadline * 13) % 20


def job_keys() -> list[tuple[int, int, int, int]]:
    """(period, deadline, miner, partition) in the order the chain asks."""
    return [
        (period, d, m, p)
        for period in range(PERIODS)
        for d in range(48)
        for m in range(MINERS)
        for p in range(partitions_of(m, d))
    ]


def sector_pool() -> list[tuple[bytes, int, int]]:
    """64 packed partitions: (blob, lowest, highest sector number)."""
    out = []
    for k in range(64):
        numbers = range(k * SECTORS + 1, (k + 1) * SECTORS + 1)
        refs = [
            SectorRef(n, hashlib.sha256(n.to_bytes(8, "big")).digest(), f"store-{n % 3}", "c")
            for n in numbers
        ]
        out.append((pack(refs), numbers[0], numbers[-1]))
    return out


class Filler:
    """Inserts the synthetic SP's jobs, in order, up to a given count."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.keys = job_keys()
        self.pool = sector_pool()
        self.done = 0
        self.ready_from = 0
        self.table = Table("jobs", MetaData(), autoload_with=store.engine)

    def fill_to(self, count: int) -> None:
        now = datetime.now(UTC)
        ready_from = self.ready_from = count - max(200, count // 50)
        rows = []
        for i in range(self.done, count):
            period, d, m, p = self.keys[i]
            blob, lo, hi = self.pool[i % len(self.pool)]
            failed = i % 100 == 7
            ready = i >= ready_from
            rows.append(
                {
                    "miner": 10_000 + m,
                    "proof_type": 13,
                    "period_start": period * PERIOD,
                    "deadline": d,
                    "partition": p,
                    "generation": 0,
                    "challenge_epoch": period * PERIOD + d * 60 - 20,
                    "open_epoch": period * PERIOD + d * 60,
                    "close_epoch": period * PERIOD + (d + 1) * 60,
                    "randomness": bytes(32),
                    "sectors": blob,
                    "sector_count": SECTORS,
                    "min_sector": lo,
                    "max_sector": hi,
                    "skipped": [],
                    "faulty": [],
                    "state": "ready" if ready else ("failed" if failed else "succeeded"),
                    "tries": 0 if ready else 1,
                    "max_tries": 2,
                    "attempt": 0 if ready else 1,
                    "finished_attempt": None if ready or failed else 1,
                    "worker": None if ready else f"gpu-{i % 16}",
                    "created_at": now,
                    "updated_at": now,
                    "started_at": None if ready else now,
                    "finished_at": None if ready else now,
                    "error": "worker reported failure" if failed and not ready else None,
                    "proof": None if ready or failed else bytes(192),
                    "timings": None if ready else {"vanilla": 40.0, "snark": 300.0},
                    "dry_run": False,
                }
            )
            if len(rows) == 250:
                self._insert(rows)
                rows = []
        if rows:
            self._insert(rows)
        self.done = count

    def _insert(self, rows: list[dict]) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(insert(self.table), rows)


def table_mb(store: JobStore) -> float:
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            pages = conn.execute(text("PRAGMA page_count")).scalar()
            free = conn.execute(text("PRAGMA freelist_count")).scalar()
            size = (pages - free) * conn.execute(text("PRAGMA page_size")).scalar()
        else:
            size = conn.execute(text("SELECT pg_total_relation_size('jobs')")).scalar()
    return size / 1e6


DEVNET_CHILD = """
import sys, time, json
from prover.chain.deadlines import Policy
from prover.devnet import Devnet, DevnetServer, placeholder_miner
miner = placeholder_miner({miner}, "32GiB", {{{deadline}: {partitions}}})
policy = Policy.devnet(challenge_window={window})
genesis = time.time() - ({deadline} * {window} + 5) * policy.epoch_seconds
server = DevnetServer(Devnet([miner], policy, genesis=genesis), token="t").start()
print(server.url, flush=True)
sys.stdin.read()
"""


class PlannedDeadline:
    """A devnet process serving the placeholder miner, and its files."""

    def __init__(self, root: Path) -> None:
        miner = placeholder_miner(PLANNED_MINER, "32GiB", {PLANNED_DEADLINE: PLANNED_PARTITIONS})
        self.storages = {f"store-{k}": root / f"store-{k}" for k in range(3)}
        write_placeholder_files(self.storages.values(), miner)
        code = DEVNET_CHILD.format(
            miner=PLANNED_MINER,
            deadline=PLANNED_DEADLINE,
            partitions=PLANNED_PARTITIONS,
            window=WINDOW,
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        url = self.proc.stdout.readline().strip()
        self.client = LotusClient(url, "t", network="t", epoch_seconds=1.0)

    def measure(self, store: JobStore) -> tuple[float, float]:
        """(plan seconds, store seconds); the jobs are removed afterwards so
        the next size plans the same deadline again."""
        planner = Planner(
            store, Ledger(store.db), self.client, self.storages, ProofTypes(self.client), kick=_none
        )
        d = self.client.state_miner_proving_deadline(PLANNED_MINER).info
        assert d.index == PLANNED_DEADLINE, d
        start = time.perf_counter()
        plan = planner.plan(PLANNED_MINER, d)
        planned = time.perf_counter()
        added = store.add_jobs(plan.specs)
        stored = time.perf_counter()
        assert len(added) == PLANNED_PARTITIONS and not plan.unprovable
        assert all(len(s.sectors) == SECTORS and not s.skipped for s in plan.specs)
        store.remove([i for i, _ in added])
        return planned - start, stored - planned

    def close(self) -> None:
        self.client.close()
        self.proc.kill()
        self.proc.wait()


def _none() -> None:
    pass


def operator(manager: ManagerProcess, *args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "prover.cli", *args, "--api", manager.api_info("admin")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"prover {' '.join(args)} failed: {proc.stderr}")
    return took


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1000, int(fields["VmHWM"].split()[0]) / 1000)


def claims(manager: ManagerProcess, count: int) -> tuple[float, float]:
    """Claim round trips as a worker makes them (gRPC on loopback, the
    manager claiming and converting the job's 2349 sectors), p50 and p99."""
    client = manager.client("worker")
    try:
        client.call(client.worker.Register, pb.RegisterRequest(name="bench", host="bench"))
        took = []
        for _ in range(count):
            start = time.perf_counter()
            resp = client.call(client.worker.Claim, pb.ClaimRequest(worker="bench", wait_ms=0))
            took.append(time.perf_counter() - start)
            assert len(resp.job.sectors) == SECTORS
    finally:
        client.close()
    took.sort()
    return statistics.median(took) * 1000, took[int(len(took) * 0.99)] * 1000


def sweeps(store: JobStore, epoch: int) -> dict[str, float]:
    out = {}
    for name, sweep in (
        ("heartbeats", store.sweep_heartbeats),
        ("deadlines", lambda: store.sweep_deadlines(epoch)),
        ("lifetime", store.sweep_lifetime),
    ):
        took = []
        for _ in range(20):
            start = time.perf_counter()
            sweep()
            took.append(time.perf_counter() - start)
        out[name] = statistics.median(took) * 1000
    return out


def run_backend(
    backend: str, url: str, sizes: list[int], planned: PlannedDeadline, work: Path
) -> list[dict]:
    store = JobStore.open(url)
    filler = Filler(store)
    manager = ManagerProcess(
        work / f"manager-{backend}", database_url=url, sweep_interval_s=1.0
    ).start()
    results = []
    try:
        for size in sizes:
            start = time.perf_counter()
            filler.fill_to(size)
            fill_s = time.perf_counter() - start
            plan_s, store_s = planned.measure(store)
            first_page = operator(manager, "jobs", "list", "--all", "--limit", "1000")
            everything = operator(manager, "jobs", "list", "--all", "--json")
            show = operator(manager, "jobs", "show", str(size // 2))
            rss, peak = memory_mb(manager.proc.pid)
            # the first ready job's open: a pass that finds nothing to expire
            period, d, _, _ = filler.keys[filler.ready_from]
            swept = sweeps(store, period * PERIOD + d * 60)
            p50, p99 = claims(manager, 200)
            row = {
                "backend": backend,
                "jobs": size,
                "fill_s": fill_s,
                "db_mb": table_mb(store),
                "plan_s": plan_s,
                "store_s": store_s,
                "list_page_s": first_page,
                "list_all_json_s": everything,
                "show_s": show,
                "claim_p50_ms": p50,
                "claim_p99_ms": p99,
                **{f"sweep_{k}_ms": v for k, v in swept.items()},
                "manager_rss_mb": rss,
                "manager_peak_mb": peak,
            }
            print(json.dumps(row), file=sys.stderr, flush=True)
            results.append(row)
    finally:
        manager.kill()
        store.close()
    return results


COLUMNS = [
    ("jobs", "jobs", "{:d}"),
    ("db_mb", "db MB", "{:.0f}"),
    ("plan_s", "plan s", "{:.2f}"),
    ("store_s", "store s", "{:.2f}"),
    ("list_page_s", "page s", "{:.2f}"),
    ("list_all_json_s", "all-json s", "{:.2f}"),
    ("show_s", "show s", "{:.2f}"),
    ("claim_p50_ms", "claim50", "{:.1f}"),
    ("claim_p99_ms", "claim99", "{:.1f}"),
    ("sweep_heartbeats_ms", "sw-hb ms", "{:.1f}"),
    ("sweep_deadlines_ms", "sw-dl ms", "{:.1f}"),
    ("sweep_lifetime_ms", "sw-life", "{:.1f}"),
    ("manager_rss_mb", "rss MB", "{:.0f}"),
    ("manager_peak_mb", "peak MB", "{:.0f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    total = len(job_keys())
    if sizes[-1] > total:
        raise SystemExit(f"at most {total} jobs in this SP's two days")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {total} jobs available "
        f"({MINERS} miners x 48 deadlines x 1-20 partitions x {PERIODS} periods)"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-control-"))
    shm = Path(tempfile.mkdtemp(prefix="bench-control-", dir="/dev/shm"))
    planned = PlannedDeadline(shm)
    rows: list[dict] = []
    try:
        rows += run_backend("sqlite", f"sqlite:///{work}/jobs.db", sizes, planned, work)
        if os.environ.get("PROVER_BENCH_POSTGRES_URL"):
            url, drop = scratch_database(os.environ["PROVER_BENCH_POSTGRES_URL"])
            try:
                rows += run_backend("postgresql", url, sizes, planned, work)
            finally:
                drop()
    finally:
        planned.close()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    print(f"{'backend':<11}" + "".join(f"{title:>11}" for _, title, _ in COLUMNS))
    for r in rows:
        print(f"{r['backend']:<11}" + "".join(f"{fmt.format(r[k]):>11}" for k, _, fmt in COLUMNS))
    for backend in dict.fromkeys(r["backend"] for r in rows):
        mine = [r for r in rows if r["backend"] == backend]
        first, last = mine[0], mine[-1]
        growth = "".join(
            f"{(last[k] / first[k] if first[k] else float('nan')):>11.2f}" for k, _, _ in COLUMNS
        )
        print(f"{'growth':<11}{growth}   ({backend}, {last['jobs']} over {first['jobs']} jobs)")


if __name__ == "__main__":
    main()
