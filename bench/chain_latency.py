"""From a deadline's challenge to its proofs pushed and included on chain.

A devnet (the miner actor on a wall clock, 1 s epochs, the challenge at
Open), a real manager following it over JSON-RPC, and real prover-workers
(one compute slot each): for a deadline of 1, 4 and 12 partitions (2KiB, two
sectors each) proven by 1, 2 and 4 workers, the time from the challenge
epoch to the last message's push plus the epoch the chain takes to include
it, against

    ideal   = ceil(partitions / workers) x one partition's proof time
    machine = the same rounds, each timed with that many partitions proven
              side by side in this process (what the cores allow)

both measured in the same run. Workers have each made one proof before the
deadline (as long-running workers have; the first proof in a process loads
the parameters). Target: within 10 % of the ideal plus the
chain's own waits (the confidence epochs before a challenge is used and
the epoch of inclusion); on a machine where workers share the CPU the
machine figure stands in for the ideal.

    python bench/chain_latency.py [--partitions 1,4,12] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the end-to-end process harness

os.environ.setdefault(
    "FIL_PROOFS_PARAMETER_CACHE", str(Path.home() / ".cache" / "prover" / "test-proof-parameters")
)

from chain_fixtures import KIB2, MINER, ChainSetup  # noqa: E402
from prover._proto import manager_pb2 as pb  # noqa: E402
from prover.chain.deadlines import Policy  # noqa: E402
from prover.devnet import Devnet, DevnetMiner, DevnetServer  # noqa: E402
from prover.proofs import (  # noqa: E402
    create_test_sectors,
    ensure_test_params,
    mask_randomness,
    prove_partition,
    prover_id,
)

EPOCH_S = 1.0
CONFIDENCE = 1
DEADLINE = 1
LEAD_EPOCHS = 15


def concurrent_time(replicas, at_once: int, rounds: int = 3) -> float:
    """Wall time to prove ``at_once`` partitions side by side in this process
    (threads; the proof core releases the GIL): what ``at_once`` workers can
    do at best on this machine. The first round warms the parameter cache."""

    def prove(k: int, salt: int) -> None:
        rand = mask_randomness(bytes([salt, k]) * 16)
        prove_partition(KIB2, rand, prover_id(MINER), replicas[2 * k : 2 * k + 2], 0)

    times = []
    for i in range(rounds + 1):
        threads = [threading.Thread(target=prove, args=(k, i)) for k in range(at_once)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def warm_up(m, replicas, workers: int) -> None:
    """One proof per worker before the deadline, as workers that run for
    days have made: the first proof in a process loads the parameters."""
    admin = m.client("admin")
    jobs = [
        pb.NewJob(
            miner=MINER,
            proof_type=KIB2.chain_id,
            deadline=40,
            partition=k,
            randomness=bytes([k]) * 32,
            sectors=[
                pb.SectorRef(
                    id=r.sector_id,
                    comm_r=r.comm_r,
                    sealed_storage="store-1",
                    cache_storage="store-1",
                )
                for r in replicas[:2]
            ],
        )
        for k in range(workers)
    ]
    ids = set(admin.call(admin.admin.AddJobs, pb.AddJobsRequest(jobs=jobs)).ids)
    while True:
        listed = admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
        if all(j.state == "succeeded" for j in listed if j.id in ids):
            return
        time.sleep(0.2)


def run(store: Path, replicas, partitions: int, workers: int, window: int) -> dict:
    numbers = [r.sector_id for r in replicas][: 2 * partitions]
    parts = [numbers[k : k + 2] for k in range(0, len(numbers), 2)]
    # Challenge at Open (no lookback), so the chain's only waits are the
    # confidence epochs and the inclusion; the period is shifted so the
    # deadline opens LEAD_EPOCHS after genesis, time for the workers to start.
    policy = Policy.devnet(
        epoch_seconds=EPOCH_S,
        challenge_window=window,
        challenge_lookback=0,
        fault_declaration_cutoff=1,
    )
    offset = (LEAD_EPOCHS - DEADLINE * window) % policy.proving_period
    miner = DevnetMiner(
        MINER, KIB2.chain_id, offset, {DEADLINE: parts}, {r.sector_id: r.comm_r for r in replicas}
    )
    net = Devnet([miner], policy)
    server = DevnetServer(net, token="devnet-token").start()
    chain = ChainSetup(net, server, store, {r.sector_id: r for r in replicas})
    with tempfile.TemporaryDirectory(prefix="chain-bench-") as tmp:
        tmp = Path(tmp)
        # Heartbeats as shipped (configs/manager.toml hands workers 3 s).
        m = chain.manager(
            tmp / "mgr",
            confidence=CONFIDENCE,
            poll_interval_s=0.25,
            jobs={"heartbeat_interval_s": 3.0},
        )
        ws = [chain.worker(tmp / f"w{i}", m, f"w{i}") for i in range(workers)]
        try:
            warm_up(m, replicas, workers)
            d = net.deadline_of(miner, 0)
            while d.index != DEADLINE:
                d = d.next()
            close, challenge = d.close, d.challenge
            while len(chain.proven(d.period_start, DEADLINE)) < partitions:
                if net.epoch() >= close:
                    raise RuntimeError(f"deadline closed: {net.status()['messages']}")
                if any(w.proc.poll() is not None for w in ws):
                    raise RuntimeError("a worker exited")
                time.sleep(0.1)
            # Pushed by the wall clock; the chain includes it one epoch later.
            pushed = max(x.pushed_at for x in net.messages.values() if x.exit_code == 0)
            messages = sum(1 for x in net.messages.values() if x.exit_code == 0)
            admin = m.client("admin")
            jobs = admin.call(admin.admin.ListJobs, pb.ListJobsRequest(deadline=DEADLINE, all=True))
            proof_s = [j.timings.total for j in jobs.jobs]
        finally:
            for w in ws:
                w.kill()
            m.kill()
            server.stop()
    return {
        "latency": pushed - (net.genesis + challenge * EPOCH_S) + EPOCH_S,
        "messages": messages,
        "proof": statistics.median(proof_s),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--partitions", default="1,4,12")
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    sizes = [int(x) for x in args.partitions.split(",")]
    counts = [int(x) for x in args.workers.split(",")]
    ensure_test_params(KIB2)
    with tempfile.TemporaryDirectory(prefix="chain-bench-sectors-") as tmp:
        store = Path(tmp)
        replicas = create_test_sectors(store, MINER, range(1, 2 * max(sizes) + 1), KIB2)
        t1 = concurrent_time(replicas, 1)
        side_by_side = {k: concurrent_time(replicas, k) for k in range(2, max(counts) + 1)}
        side_by_side[1] = t1
        print(
            f"{platform.machine()}, {os.cpu_count()} cores; 2KiB partitions of 2 sectors; "
            f"epochs {EPOCH_S} s, confidence {CONFIDENCE}"
        )
        print(f"one partition proven in this process: {t1:.3f} s (median of 3)")
        for w, t in sorted(side_by_side.items()):
            print(f"{w} partitions proven side by side in this process: {t:.3f} s")
        chain_wait = (CONFIDENCE + 1) * EPOCH_S
        print(
            f"{'parts':>5} {'workers':>7} {'msgs':>4} {'measured':>8} {'ideal':>6} "
            f"{'machine':>7} {'target':>6} {'ratio':>5}  verdict  {'proof median':>12}"
        )
        for p in sizes:
            for w in counts:
                window = max(30, int((p * t1 * 2 + 10) / EPOCH_S))
                r = run(store, replicas, p, w, window)
                # A partition is the unit of work: rounds of w side by side.
                ideal = -(-p // w) * t1
                machine = p // w * side_by_side[w] + (side_by_side[p % w] if p % w else 0)
                target = 1.1 * machine + chain_wait
                print(
                    f"{p:>5} {w:>7} {r['messages']:>4} {r['latency']:>8.2f} {ideal:>6.2f} "
                    f"{machine:>7.2f} {target:>6.2f} {r['latency'] / (machine + chain_wait):>5.2f}"
                    f"  {'met   ' if r['latency'] <= target else 'MISSED'}  "
                    f"{r['proof']:>12.2f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
