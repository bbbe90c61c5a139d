"""What a job's sectors cost on the claim and listing paths, at mainnet size,
against another revision of the code measured in the same run.

Jobs of 2349 sectors (a 32GiB partition) are added to a fresh SQLite store
(and PostgreSQL when PROVER_BENCH_POSTGRES_URL names a server); then, timed:

- claim: ``JobStore.claim`` plus the job's conversion to protobuf, what a
  worker's Claim costs the manager;
- list: every job listed and converted with its sectors (``prover jobs
  list --json --sectors``; before pages, every listing);
- jobs_list: what ``prover jobs list`` costs: sector counts only where the
  tree has them, every sector where it does not;
- add: ``add_jobs`` in batches of 10;
- kb_per_job: the jobs table's size on disk (SQLite: the file's pages in
  use; PostgreSQL: ``pg_total_relation_size``, TOAST included) per job.

``--baseline REV`` checks REV out into a temporary worktree (with this
tree's built native module) and measures it the same way, interleaved run
by run, then prints each figure's ratio (this tree / REV).

    python bench/sector_records.py [--jobs 50] [--rounds 3] [--baseline REV]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
SECTORS = 2349


def measure(jobs: int, url: str) -> dict[str, float]:
    """Runs in the tree under test (its ``prover`` first on sys.path)."""
    from prover.store import JobStore, NewJobSpec

    try:  # this tree
        from prover.api.convert import job_to_pb
        from prover.proofs import SectorRef as Sector
    except ImportError:  # revisions before the architecture issue
        from prover.manager.convert import job_to_pb
        from prover.store import SectorSpec as Sector

    store = JobStore.open(url)
    specs = [
        NewJobSpec(
            miner=1000,
            proof_type=13,
            deadline=p % 48,
            partition=p,
            randomness=bytes(32),
            sectors=[
                # comm_rs are hashes: random bytes, which no database compresses
                Sector(n, hashlib.sha256(n.to_bytes(8, "big")).digest(), "store-1", "store-1")
                for n in range(p * SECTORS, (p + 1) * SECTORS)
            ],
        )
        for p in range(jobs)
    ]
    start = time.perf_counter()
    for i in range(0, jobs, 10):
        store.add_jobs(specs[i : i + 10])
    add = (time.perf_counter() - start) / jobs
    size = table_bytes(store.engine)
    paged = "sectors" in inspect.signature(store.list_jobs).parameters

    def timed_list(with_sectors: bool) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            if not paged:  # before pages: every list read and sent every sector
                for j in store.list_jobs():
                    job_to_pb(j)
            else:
                for j in store.list_jobs(sectors=with_sectors):
                    job_to_pb(j, include_sectors=with_sectors, include_proof=False)
            best = min(best, time.perf_counter() - start)
        return best

    list_full, list_counts = timed_list(True), timed_list(False)
    claims = []
    for _ in range(jobs):
        start = time.perf_counter()
        job_to_pb(store.claim("w"))
        claims.append(time.perf_counter() - start)
    store.close()
    claims.sort()
    return {
        "add_ms_per_job": add * 1000,
        "kb_per_job": size / jobs / 1000,
        "list_ms": list_full * 1000,
        "jobs_list_ms": list_counts * 1000,
        "claim_p50_ms": statistics.median(claims) * 1000,
        "claim_p90_ms": claims[int(len(claims) * 0.9)] * 1000,
    }


def table_bytes(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            pages = conn.execute(text("PRAGMA page_count")).scalar()
            free = conn.execute(text("PRAGMA freelist_count")).scalar()
            return (pages - free) * conn.execute(text("PRAGMA page_size")).scalar()
        return conn.execute(text("SELECT pg_total_relation_size('jobs')")).scalar()


def run_in(tree: Path, jobs: int, backend: str) -> dict[str, float]:
    """One measurement in a fresh process whose ``prover`` is ``tree``'s."""
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import sector_records as b, json; "
        f"print(json.dumps(b.measure({jobs}, sys.argv[1])))"
    )
    with tempfile.TemporaryDirectory(prefix="bench-sectors-") as tmp:
        drop = None
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/jobs.db"
        else:
            sys.path.insert(0, str(TREE / "tests"))
            from pg_scratch import scratch_database

            url, drop = scratch_database(os.environ["PROVER_BENCH_POSTGRES_URL"])
        try:
            out = subprocess.run(
                [sys.executable, "-c", code, url],
                cwd=tree,
                env={**os.environ, "PYTHONPATH": str(tree)},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            if drop:
                drop()
    return json.loads(out.strip().splitlines()[-1])


def baseline_tree(rev: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(TREE), "worktree", "add", "--detach", str(into), rev],
        check=True,
        capture_output=True,
    )
    for native in (TREE / "prover").glob("_native*.so"):
        shutil.copy2(native, into / "prover" / native.name)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=None, help="a git revision to compare with")
    args = parser.parse_args()
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("PROVER_BENCH_POSTGRES_URL") else [])
    tmp = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    trees = {"this tree": TREE}
    if args.baseline:
        trees[args.baseline] = baseline_tree(args.baseline, tmp / "tree")
    try:
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for backend in backends:
                for name, tree in trees.items():
                    results.setdefault((name, backend), []).append(run_in(tree, args.jobs, backend))
    finally:
        if args.baseline:
            subprocess.run(
                ["git", "-C", str(TREE), "worktree", "remove", "--force", str(tmp / "tree")],
                capture_output=True,
            )
        shutil.rmtree(tmp, ignore_errors=True)
    keys = [
        "add_ms_per_job",
        "kb_per_job",
        "list_ms",
        "jobs_list_ms",
        "claim_p50_ms",
        "claim_p90_ms",
    ]
    print(
        f"{args.jobs} jobs of {SECTORS} sectors; median of {args.rounds} interleaved runs; "
        f"list = all {args.jobs} jobs listed and converted (jobs_list: as `prover jobs list`)"
    )
    print(f"{'tree':<14}{'backend':<12}" + "".join(f"{k:>16}" for k in keys))
    medians = {
        key: {k: statistics.median(r[k] for r in runs) for k in keys}
        for key, runs in results.items()
    }
    for (name, backend), m in medians.items():
        print(f"{name:<14}{backend:<12}" + "".join(f"{m[k]:>16.1f}" for k in keys))
    if args.baseline:
        for backend in backends:
            new, old = medians[("this tree", backend)], medians[(args.baseline, backend)]
            print(
                f"{'ratio':<14}{backend:<12}" + "".join(f"{new[k] / old[k]:>16.2f}" for k in keys)
            )


if __name__ == "__main__":
    main()
