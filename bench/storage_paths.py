"""Proving over slow network storage, against the fast local disk (issue 11).

Slow storage is emulated by ``bench/slowfs.py``: the same sector files seen
through a FUSE mount that waits a fixed latency before every READ (a loaded
NFS server: 2 to 50 ms). For 8MiB partitions (two sectors; test parameters,
fauxrep replicas) one run measures, each figure against the local-disk
baseline of the same run:

1. ``prove_partition`` on sectors read through the mount at each latency,
   against the same sectors on the local disk: time per partition and the
   vanilla step's share of it (``PartitionProof.timings``), and the FUSE
   READs a partition costs.
2. With vanilla slow (the latency where it is about half the partition,
   found from step 1 unless given), a real ``prover-worker`` with
   concurrency 2 against 1, its jobs queued with ``prover jobs add`` on a
   real manager: jobs per minute, and how much of each job's vanilla time
   ran while another job's SNARK did (the CPU stands in for the GPU; it
   idles during slow reads). Target: 1.5x throughput at concurrency 2.
3. A "sectors check" of 200 sectors on the slow mount: a vanilla proof of
   each, 32 at a time against one at a time, each in a fresh process with
   rayon's default pool and with ``RAYON_NUM_THREADS`` at the parallel
   limit (the library reads one sector's challenges on rayon's global pool,
   so that pool, not the caller's threads, bounds the reads in flight).

The rows "through a storage host" (``prover-storage``, ``bench/hosted.py``)
prove the same partitions with the worker mounting nothing: the host reads
its local disk and a delaying proxy (``bench/netdelay.py``) gives the link
the slow mount's latency as its round trip; and the sectors check is run
again through a real ``prover-storage`` whose own disk is the slow mount,
at its read limit against one at a time.

    python bench/storage_paths.py [--latencies 0,2,10,50] [--rounds 3]
        [--slow-latency auto|MS] [--jobs 8] [--sectors 200] [--parallel 32]
        [--check-latency MS] [--direct-io] [--quick] [--json]

Needs the bench extra (``pip install -e '.[bench]'``) and /dev/fuse.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # slowfs
sys.path.insert(0, str(HERE.parent / "tests"))  # the end-to-end process harness

os.environ.setdefault(
    "FIL_PROOFS_PARAMETER_CACHE", str(Path.home() / ".cache" / "prover" / "test-proof-parameters")
)

from slowfs import SlowMount, fuse_unavailable  # noqa: E402

MINER = 1000
SIZE = "8MiB"
TARGET_CONCURRENCY_GAIN = 1.5


# --- sectors -------------------------------------------------------------


@dataclass(frozen=True)
class Sector:
    """A sector by its place under a storage root, so that the same sector
    can be read from the local disk or through a mount of that root."""

    id: int
    comm_r: bytes

    def replica(self, root: Path) -> Any:
        from prover.proofs import SectorReplica, sector_paths

        sealed, cache = sector_paths(root, MINER, self.id)
        return SectorReplica(self.id, self.comm_r, sealed, cache)


def make_sectors(root: Path, count: int) -> tuple[list[Sector], list[Sector]]:
    """Two fauxrep sectors for the partition rows, and ``count`` more for
    jobs and the sectors check, hard links to those two's files under new
    sector numbers. A fauxrep replica does not depend on its sector number
    (only its tree and comm_c make comm_r), so each link is a provable
    sector of its own, with its own path and so its own FUSE inode and page
    cache; making 200 replicas would cost ~2.5 s of CPU each here."""
    from prover.proofs import PoStProofType, create_test_sectors, sector_paths

    pt = PoStProofType.from_sector_size(SIZE)
    made = create_test_sectors(root, MINER, [1, 2], pt)
    base = [Sector(r.sector_id, r.comm_r) for r in made]
    clones = []
    for n in range(count):
        src = made[n % 2]
        sid = 1001 + n
        sealed, cache = sector_paths(root, MINER, sid)
        if sealed.exists():
            sealed.unlink()
        os.link(src.sealed_path, sealed)
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        for f in src.cache_dir.iterdir():
            os.link(f, cache / f.name)
        clones.append(Sector(sid, src.comm_r))
    return base, clones


# --- 1. partitions -------------------------------------------------------


@dataclass
class PartitionRow:
    where: str
    latency_ms: float | None  # None: the local disk
    rounds: int
    total_s: float  # medians over the rounds
    vanilla_s: float
    snark_s: float
    vanilla_share: float
    fuse_reads: float | None  # FUSE READs per partition
    verified: bool
    totals_s: list[float] = field(default_factory=list)


def prove_rounds(
    where: str,
    latency_ms: float | None,
    sectors: Sequence[Sector],
    root: Path,
    randomness: Sequence[bytes],
    mount: SlowMount | None = None,
) -> PartitionRow:
    """One partition per randomness (the same list for every row, so each
    row proves the same challenges), each proof verified."""
    from prover.proofs import (
        PoStProofType,
        mask_randomness,
        prove_partition,
        prover_id,
        verify_window_post,
    )

    pt, pid = PoStProofType.from_sector_size(SIZE), prover_id(MINER)
    replicas = [s.replica(root) for s in sectors]
    rows, verified = [], True
    before = mount.stats() if mount else None
    for r in randomness:
        masked = mask_randomness(r)
        proof = prove_partition(pt, masked, pid, replicas, 0)
        if proof.skipped:
            raise RuntimeError(f"{where}: sectors skipped: {proof.faults}")
        verified &= verify_window_post(pt, masked, pid, proof.public_sectors, proof.proof)
        rows.append(proof.timings)
    reads = None
    if mount and before:
        reads = (mount.stats() - before).reads / len(randomness)

    def med(step: str) -> float:
        return statistics.median(getattr(t, step) for t in rows)

    total, vanilla = med("total"), med("vanilla")
    return PartitionRow(
        where=where,
        latency_ms=latency_ms,
        rounds=len(rows),
        total_s=total,
        vanilla_s=vanilla,
        snark_s=med("snark"),
        vanilla_share=statistics.median(t.vanilla / t.total for t in rows),
        fuse_reads=reads,
        verified=verified,
        totals_s=[t.total for t in rows],
    )


def storage_host_partition(
    latency_ms: float, sectors: Sequence[Sector], root: Path, randomness: Sequence[bytes]
) -> PartitionRow:
    """The same partitions proven by a worker with no mount, every vanilla
    proof from a storage host (``prover-storage``'s StorageService, real
    gRPC) reading ``root`` on its local disk, behind a link whose round trip
    is the slow mount's latency (``bench/hosted.py``): for the target
    "within 10 % of the fast-disk time at every latency"."""
    from hosted import prove_through_host

    got = prove_through_host(MINER, SIZE, sectors, root, randomness, latency_ms)
    return PartitionRow(
        where=f"storage host, {latency_ms:g} ms RTT",
        latency_ms=latency_ms,
        rounds=len(randomness),
        total_s=got["total_s"],
        vanilla_s=got["vanilla_s"],
        snark_s=got["snark_s"],
        vanilla_share=got["vanilla_share"],
        fuse_reads=None,
        verified=got["verified"],
        totals_s=got["totals_s"],
    )


def next_latency(local: PartitionRow, mounted: Sequence[PartitionRow]) -> float:
    """The next guess at the latency where the vanilla step is half the
    partition, i.e. as long as the rest of it (challenges + SNARK).

    At a fixed number of READs per partition, vanilla time is about linear
    in the latency, but not through the low-latency rows: there the CPU
    work of the proof hides part of each wait (here 10 ms cost about 5
    latencies per partition, 1.3 s about 14). So the line goes through the
    two rows of largest latency (a secant step), and a guess is kept within
    8x of the largest measured so one step never overshoots far."""
    rest = statistics.median([r.total_s - r.vanilla_s for r in [local, *mounted]])
    pts = sorted((r.latency_ms or 0.0, r.vanilla_s) for r in mounted if r.latency_ms is not None)
    if not any(x for x, _ in pts):
        raise ValueError("no row with latency to search from")
    if len(pts) == 1:
        pts.insert(0, (0.0, local.vanilla_s))
    (x0, y0), (x1, y1) = pts[-2], pts[-1]
    slope = (y1 - y0) / (x1 - x0)
    if slope <= 0:
        return x1 * 8
    guess = x1 + (rest - y1) / slope
    return float(min(max(1, round(guess)), 8 * x1))


def half_vanilla_row(rows: Sequence[PartitionRow]) -> PartitionRow:
    """The measured row whose vanilla share is nearest one half."""
    return min((r for r in rows if r.latency_ms), key=lambda r: abs(r.vanilla_share - 0.5))


# --- 2. worker concurrency -----------------------------------------------


@dataclass
class StreamResult:
    concurrency: int
    jobs: int
    wall_s: float  # first job created -> last job finished, manager's clock
    jobs_per_min: float
    vanilla_s: float  # medians per job, as the worker timed them
    snark_s: float
    total_s: float
    overlapped_vanilla: float  # share of vanilla time under another job's SNARK
    vanilla_with_vanilla: float  # share of vanilla time beside another job's vanilla
    snark_busy: float  # share of wall time some SNARK ran


def prover_cli() -> list[str]:
    found = shutil.which("prover")
    return [found] if found else [sys.executable, "-m", "prover.cli"]


def job_file(path: Path, jobs: Sequence[tuple[int, Sequence[Sector]]], deadline: int) -> Path:
    """A job file as an operator writes one for ``prover jobs add``."""
    entries = [
        {
            "miner": MINER,
            "proof_type": SIZE,
            "deadline": deadline,
            "partition": partition,
            "randomness": secrets.token_bytes(32).hex(),
            "close_epoch": 1_000_000,
            "sectors": [{"id": s.id, "comm_r": s.comm_r.hex(), "storage": "slow"} for s in secs],
        }
        for partition, secs in jobs
    ]
    path.write_text(json.dumps(entries, indent=1))
    return path


def add_jobs(api_info: str, path: Path) -> set[int]:
    env = {**os.environ, "PROVER_API_INFO": api_info}
    cmd = [*prover_cli(), "jobs", "add", "--from-json", str(path)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return {int(line) for line in out.split()}


def wait_jobs(admin: Any, ids: set[int], worker: Any, timeout: float) -> list[Any]:
    """Polls slowly (a poll is CPU the proofs would use) until every job is
    finished; the timings come from the manager's clock, not this loop."""
    from prover._proto import manager_pb2 as pb

    until = time.monotonic() + timeout
    while True:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"the worker exited: {worker.lines[-5:]}")
        jobs = [
            j
            for j in admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
            if j.id in ids
        ]
        if len(jobs) == len(ids) and all(j.state in ("succeeded", "failed") for j in jobs):
            failed = [f"{j.id}: {j.error}" for j in jobs if j.state != "succeeded"]
            if failed:
                raise RuntimeError(f"jobs failed: {failed}")
            return jobs
        if time.monotonic() > until:
            raise RuntimeError(f"jobs not done within {timeout:g} s")
        time.sleep(0.5)


def _length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _overlap(span: tuple[float, float], others: list[tuple[float, float]]) -> float:
    a, b = span
    return _length([(max(a, x), min(b, y)) for x, y in others if min(b, y) > max(a, x)])


def stream_result(concurrency: int, jobs: Sequence[Any]) -> StreamResult:
    """Throughput and overlap from the jobs as the manager recorded them.
    Each job's steps are placed back from its finish time and the worker's
    own step timings (the finish reaches the manager a few ms after the
    SNARK ends, so the placement is that much late, alike for every job)."""
    created = min(j.created_at.ToDatetime().timestamp() for j in jobs)
    vanilla, snark = [], []
    for j in jobs:
        end = j.finished_at.ToDatetime().timestamp()
        start = end - j.timings.total
        v0 = start + j.timings.challenges
        vanilla.append((v0, v0 + j.timings.vanilla))
        snark.append((end - j.timings.snark, end))
    finished = max(b for _, b in snark)
    wall = finished - created

    def beside(spans: list[tuple[float, float]]) -> float:
        return sum(
            _overlap(v, [s for k, s in enumerate(spans) if k != i]) for i, v in enumerate(vanilla)
        )

    reading = sum(b - a for a, b in vanilla)
    return StreamResult(
        concurrency=concurrency,
        jobs=len(jobs),
        wall_s=wall,
        jobs_per_min=len(jobs) / wall * 60,
        vanilla_s=statistics.median(j.timings.vanilla for j in jobs),
        snark_s=statistics.median(j.timings.snark for j in jobs),
        total_s=statistics.median(j.timings.total for j in jobs),
        overlapped_vanilla=beside(snark) / reading,
        vanilla_with_vanilla=beside(vanilla) / reading,
        snark_busy=_length(snark) / wall,
    )


def worker_stream(
    tmp: Path, mount_root: Path, concurrency: int, sectors: Sequence[Sector], jobs: int
) -> StreamResult:
    """A real manager and a real prover-worker whose only storage is the
    slow mount; ``concurrency`` warm-up jobs first (each compute child maps
    the parameters once), then ``jobs`` jobs queued at once by one job file.
    Every job has sectors of its own, so no two jobs share a file's cache."""
    from manager_harness import ManagerProcess, WorkerProcess

    need = 2 * (jobs + concurrency)
    if len(sectors) < need:
        raise ValueError(f"{need} sectors needed for {jobs} jobs, have {len(sectors)}")
    pairs = [sectors[2 * i : 2 * i + 2] for i in range(jobs + concurrency)]
    home = tmp / f"stream-c{concurrency}"
    manager = ManagerProcess(home / "manager", sweep_interval_s=1.0, heartbeat_interval_s=3.0)
    manager.start()
    worker = None
    try:
        worker = WorkerProcess(
            home / "worker",
            manager.api_info("worker"),
            storages={"slow": mount_root},
            concurrency=concurrency,
        ).start()
        admin = manager.client("admin")
        api = manager.api_info("admin")
        warm = job_file(home / "warm.json", list(enumerate(pairs[:concurrency])), deadline=1)
        wait_jobs(admin, add_jobs(api, warm), worker, timeout=600)
        queued = job_file(home / "jobs.json", list(enumerate(pairs[concurrency:])), deadline=2)
        done = wait_jobs(admin, add_jobs(api, queued), worker, timeout=600 + 120 * jobs)
        return stream_result(concurrency, done)
    finally:
        if worker is not None:
            worker.kill()
        manager.kill()


# --- 3. sectors check ----------------------------------------------------


@dataclass
class CheckResult:
    parallel: int
    rayon_threads: int | None  # None: rayon's default (one per core)
    sectors: int
    good: int
    wall_s: float
    sector_median_s: float
    sector_p95_s: float
    fuse_reads: int
    max_inflight: int


def run_sectors_check(
    mount: SlowMount, sectors: Sequence[Sector], parallel: int, rayon_threads: int | None
) -> CheckResult:
    """A vanilla proof of every sector, ``parallel`` at a time, in a fresh
    process (so that RAYON_NUM_THREADS, read once per process, takes
    effect). For now ``prover.proofs.vanilla_proof`` on a thread pool;
    this is where ``prover sectors check --json`` goes once it exists."""
    spec = {
        "root": str(mount.mountpoint),
        "sectors": [[s.id, s.comm_r.hex()] for s in sectors],
        "parallel": parallel,
    }
    env = dict(os.environ)
    env.pop("RAYON_NUM_THREADS", None)
    if rayon_threads:
        env["RAYON_NUM_THREADS"] = str(rayon_threads)
    before = mount.stats()
    done = subprocess.run(
        [sys.executable, __file__, "--check-child"],
        input=json.dumps(spec),
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    served = mount.stats() - before
    out = json.loads(done.stdout.strip().splitlines()[-1])
    times = sorted(out["times"])
    return CheckResult(
        parallel=parallel,
        rayon_threads=rayon_threads,
        sectors=len(sectors),
        good=out["good"],
        wall_s=out["wall"],
        sector_median_s=statistics.median(times),
        sector_p95_s=times[min(len(times) - 1, int(0.95 * len(times)))],
        fuse_reads=served.reads,
        max_inflight=served.max_inflight,
    )


def check_child() -> int:
    """In the child: the check itself, timed from the first proof on."""
    from concurrent.futures import ThreadPoolExecutor

    from prover.proofs import (
        PoStProofType,
        ProofError,
        generate_challenges,
        mask_randomness,
        prover_id,
        vanilla_proof,
    )

    spec = json.loads(sys.stdin.read())
    pt = PoStProofType.from_sector_size(SIZE)
    root = Path(spec["root"])
    sectors = [Sector(sid, bytes.fromhex(c)) for sid, c in spec["sectors"]]
    randomness = mask_randomness(secrets.token_bytes(32))
    challenges = generate_challenges(pt, randomness, prover_id(MINER), [s.id for s in sectors])

    def one(s: Sector) -> tuple[bool, float]:
        t0 = time.perf_counter()
        try:
            vanilla_proof(pt, s.replica(root), challenges[s.id])
            ok = True
        except ProofError:
            ok = False
        return ok, time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(spec["parallel"]) as pool:
        results = list(pool.map(one, sectors))
    wall = time.perf_counter() - t0
    good = sum(ok for ok, _ in results)
    print(json.dumps({"wall": wall, "good": good, "times": [t for _, t in results]}))
    return 0


# --- the run -------------------------------------------------------------


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}x" if b else "    n/a"


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """So that a SIGTERM unmounts and stops the daemons like Ctrl-C does."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latencies", default=None, help="ms per read, e.g. 0,2,10,50")
    p.add_argument("--rounds", type=int, default=None, help="partitions per row")
    p.add_argument(
        "--slow-latency",
        default="auto",
        help="ms for the concurrency step; auto: where vanilla is about half the partition",
    )
    p.add_argument("--jobs", type=int, default=None, help="jobs per concurrency stream")
    p.add_argument("--sectors", type=int, default=None, help="sectors in the sectors check")
    p.add_argument("--parallel", type=int, default=None, help="sectors checked at once")
    p.add_argument("--check-latency", type=float, default=None, help="ms [largest latency]")
    p.add_argument("--direct-io", action="store_true", help="mount without the page cache")
    p.add_argument("--quick", action="store_true", help="a short smoke run")
    p.add_argument("--json", action="store_true", help="also print one JSON object")
    p.add_argument("--check-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = {"latencies": "0,10", "rounds": 1, "jobs": 2, "sectors": 16, "parallel": 8}
    full = {"latencies": "0,2,10,50", "rounds": 3, "jobs": 8, "sectors": 200, "parallel": 32}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.latency_list = [float(x) for x in args.latencies.split(",") if x.strip()]
    if args.check_latency is None:
        args.check_latency = max(args.latency_list)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check_child:
        return check_child()
    reason = fuse_unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    try:
        with sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="prover-bench-slow-") as t:
            return run(args, Path(t))
    except KeyboardInterrupt:
        # the mounts, the manager and the worker are gone by now (their
        # context managers and finally blocks ran on the way out)
        print("interrupted", file=sys.stderr)
        return 130


def run(args: argparse.Namespace, tmp: Path) -> int:
    from prover.proofs import PoStProofType, ensure_test_params

    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_before": load(),
        "direct_io": args.direct_io,
    }
    print(f"machine: {report['machine']}; CPU SNARKs; load average {report['load_before']}")
    cache = "no page cache (direct_io)" if args.direct_io else "page cache on"
    print(f"{SIZE} partitions of 2 sectors (fauxrep, test parameters); slow mount: {cache}")
    ensure_test_params(PoStProofType.from_sector_size(SIZE))
    store, mnt = tmp / "store", tmp / "mnt"
    need = max(args.sectors, 2 * (args.jobs + 2))
    base, clones = make_sectors(store, need)

    def mounted(latency_ms: float) -> SlowMount:
        return SlowMount(store, mnt, latency_ms / 1e3, direct_io=args.direct_io)

    # 1. partitions
    randomness = [secrets.token_bytes(32) for _ in range(args.rounds)]
    prove_rounds("warm-up", None, base, store, randomness[:1])  # maps the parameters
    local = prove_rounds("local disk", None, base, store, randomness)
    rows = [local]
    for ms in args.latency_list:
        with mounted(ms) as m:
            rows.append(prove_rounds(f"slow mount {ms:g} ms", ms, base, mnt, randomness, m))
    if args.slow_latency == "auto":
        # a few secant steps until a row has vanilla at about half (40-60 %)
        for _ in range(4):
            if abs(half_vanilla_row(rows).vanilla_share - 0.5) <= 0.1:
                break
            ms = next_latency(local, rows[1:])
            if any(r.latency_ms == ms for r in rows):
                break
            with mounted(ms) as m:
                rows.append(prove_rounds(f"slow mount {ms:g} ms", ms, base, mnt, randomness, m))
        slow_ms = half_vanilla_row(rows).latency_ms or 0.0
        how = "auto: the row with vanilla nearest half the partition"
    else:
        slow_ms, how = float(args.slow_latency), "given"
        if slow_ms not in args.latency_list:
            with mounted(slow_ms) as m:
                rows.append(
                    prove_rounds(f"slow mount {slow_ms:g} ms", slow_ms, base, mnt, randomness, m)
                )
    print(f"\n1. one partition, median of {args.rounds} (seconds; ratios against the local disk)")
    print(
        f"{'read from':<22}{'total':>8}{'vs local':>10}{'vanilla':>9}{'vs local':>10}"
        f"{'share':>7}{'snark':>8}{'READs':>7}  verified"
    )
    for r in rows:
        reads = f"{r.fuse_reads:7.0f}" if r.fuse_reads is not None else f"{'-':>7}"
        print(
            f"{r.where:<22}{r.total_s:8.3f}{ratio(r.total_s, local.total_s):>10}"
            f"{r.vanilla_s:9.3f}{ratio(r.vanilla_s, local.vanilla_s):>10}"
            f"{r.vanilla_share * 100:6.1f}%{r.snark_s:8.3f}{reads}  {r.verified}"
        )
    # every latency the mount was measured at, the searched one included
    hosted = [
        storage_host_partition(ms, base, store, randomness)
        for ms in sorted({r.latency_ms for r in rows if r.latency_ms})
    ]
    print("through a storage host on its local disk (no mount on the worker):")
    for r in hosted:
        within = r.total_s <= 1.10 * local.total_s
        print(
            f"{r.where:<22}{r.total_s:8.3f}{ratio(r.total_s, local.total_s):>10}"
            f"{r.vanilla_s:9.3f}{ratio(r.vanilla_s, local.vanilla_s):>10}"
            f"{r.vanilla_share * 100:6.1f}%{r.snark_s:8.3f}{'-':>7}  {r.verified}"
            f"  {'within' if within else 'NOT within'} 10 % of the local disk"
        )
    report["partitions"] = [asdict(r) for r in rows]
    report["storage_host_partitions"] = [asdict(h) for h in hosted]

    # 2. worker concurrency on the slow mount
    print(
        f"\n2. prover-worker, {args.jobs} jobs from a job file, slow mount {slow_ms:g} ms ({how})"
    )
    streams = {}
    with mounted(slow_ms):
        for c in (1, 2):
            streams[c] = worker_stream(tmp, mnt, c, clones, args.jobs)
    for c, s in streams.items():
        print(
            f"  concurrency {c}: {s.wall_s:6.2f} s wall, {s.jobs_per_min:5.2f} jobs/min; per job "
            f"vanilla {s.vanilla_s:.2f} s, snark {s.snark_s:.2f} s, total {s.total_s:.2f} s\n"
            f"      vanilla time under another job's SNARK {s.overlapped_vanilla * 100:4.1f} %, "
            f"beside another's vanilla {s.vanilla_with_vanilla * 100:4.1f} %, "
            f"SNARK busy {s.snark_busy * 100:4.1f} %"
        )
    gain = streams[2].jobs_per_min / streams[1].jobs_per_min
    verdict = "met" if gain >= TARGET_CONCURRENCY_GAIN else "missed"
    print(
        f"  concurrency 2 vs 1: {gain:.2f}x throughput "
        f"(target {TARGET_CONCURRENCY_GAIN}x): {verdict}"
    )
    report["slow_latency_ms"] = slow_ms
    report["streams"] = {str(c): asdict(s) for c, s in streams.items()}
    report["concurrency_gain"] = gain

    # 3. sectors check on the slow mount
    print(
        f"\n3. sectors check: vanilla proofs of {args.sectors} sectors, slow mount "
        f"{args.check_latency:g} ms (fresh process each)"
    )
    checks = []
    with mounted(args.check_latency) as m:
        for rayon in (None, args.parallel):
            for parallel in (1, args.parallel):
                checks.append(run_sectors_check(m, clones[: args.sectors], parallel, rayon))
    one = {c.rayon_threads: c for c in checks if c.parallel == 1}
    print(
        f"  {'at once':>7} {'rayon pool':>12} {'wall s':>8} {'vs 1':>7} {'sector p50':>11}"
        f" {'p95':>6} {'READs':>6} {'in flight':>9}  good"
    )
    for c in checks:
        pool = f"{c.rayon_threads} (env)" if c.rayon_threads else f"{os.cpu_count()} (cores)"
        print(
            f"  {c.parallel:>7} {pool:>12} {c.wall_s:8.2f} "
            f"{ratio(one[c.rayon_threads].wall_s, c.wall_s):>7} {c.sector_median_s:11.3f}"
            f" {c.sector_p95_s:6.3f} {c.fuse_reads:6} {c.max_inflight:9}  {c.good}/{c.sectors}"
        )
    shipped = one[None].wall_s
    for c in checks:
        if c.parallel > 1:
            pool = f"RAYON_NUM_THREADS={c.rayon_threads}" if c.rayon_threads else "rayon default"
            print(
                f"  {c.parallel} at once ({pool}) vs one at a time as shipped: "
                f"{shipped / c.wall_s:.2f}x faster"
            )
    # the same check through a storage host whose own disk is the slow one:
    # its read limit (and the rayon pool it sizes to it) against one at a time
    from hosted import check_through_host

    with mounted(args.check_latency):
        via = [
            check_through_host(MINER, SIZE, clones[: args.sectors], mnt, p)
            for p in (1, args.parallel)
        ]
    print("  through a prover-storage reading the slow mount (its parallelism):")
    for h in via:
        print(
            f"  {h['parallelism']:>7} {'= limit':>12} {h['wall_s']:8.2f} "
            f"{ratio(via[0]['wall_s'], h['wall_s']):>7} {h['sector_median_s']:11.3f}"
            f" {h['sector_p95_s']:6.3f} {'-':>6} {'-':>9}  {h['good']}/{h['sectors']}"
        )
    print(
        f"  storage host, {args.parallel} at once vs 1: "
        f"{via[0]['wall_s'] / via[1]['wall_s']:.2f}x faster"
    )
    report["check_latency_ms"] = args.check_latency
    report["checks"] = [asdict(c) for c in checks]
    report["storage_host_checks"] = via

    report["load_after"] = load()
    print(f"\nload average after: {report['load_after']}")
    if args.json:
        print(json.dumps(report))
    ok = (
        all(r.verified for r in rows + hosted)
        and all(c.good == c.sectors for c in checks)
        and all(h["good"] == h["sectors"] for h in via)
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
