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

With ``--spike``, each deadline shape runs a second time right after the
first, the same in every respect but a base-fee spike: the node still
prices messages at the base fee it knew (``Mpool.estimate_base_fee``, 100
attoFIL/gas: a fee cap of about 101,000 with the premium) while blocks
need ``SPIKE_BASE_FEE`` (1,000,000). Every message the tracker pushes then
waits in the pool, and must be replaced by fee (same nonce, premium x1.25
or more, fee cap up to what ``max_window_post_gas_fee`` allows) to land; the
bench checks that every push was priced under the spike and that every
message that landed is a replacement, and counts the replacements per
deadline (the manager's ``message_replaced`` events, checked against the
devnet's mpool). Both runs price at the estimate
(``maximize_window_post_fee_cap = false``). As shipped the fee cap is set
at the first push to the maximum fee over the gas limit (5 FIL / ~40M gas,
about 1.3e11 attoFIL/gas): no spike under that strands a message, and a
replacement could not raise the fee cap above it either.

The extra latency is made of the replacement rule: the tracker looks at a
pending message on each new head and replaces it once it is more than
``replace_after`` epochs old (3, as shipped), so at the (replace_after +
1)th head after the one it was pushed at; the replacement pays the spike
and goes into the next block, one epoch of inclusion, as the first push
would have without the spike. So the last message lands (replace_after +
1) epochs later, less how far into its epoch the first push was made
(pushed late in an epoch, the age counts from that epoch's start), plus
the tracker's reaction to the head (ChainNotify, a tick of
``poll_interval_s``). Messages of one deadline share a sender and go in
nonce order; each is pushed under the spike and replaced on its own clock.
``stuck`` is that cost alone, in the spiked run: the longest time from a
message's first push to its inclusion (without the spike the devnet
includes a message as it is pushed), free of the proofs' run-to-run spread
that the difference of two runs carries.

    python bench/chain_latency.py [--partitions 1,4,12] [--workers 1,2,4] [--spike]
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
from prover.devnet.mpool import MIN_BASE_FEE, Mpool  # noqa: E402
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
REPLACE_AFTER = 3  # ChainConfig.replace_after as shipped
SPIKE_BASE_FEE = 1_000_000  # attoFIL/gas; the node's estimates price at MIN_BASE_FEE


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


def record_pushes(net: Devnet) -> dict[str, tuple[int, float]]:
    """Every message pushed to ``net`` from now on: CID -> (nonce, the
    devnet's clock at the push)."""
    pushes: dict[str, tuple[int, float]] = {}
    push_signed = net.push_signed

    def recorded(signed):
        at = net.clock()
        cid = push_signed(signed)
        pushes[cid] = (signed.message.nonce, at)
        return cid

    net.push_signed = recorded
    return pushes


def run(store: Path, replicas, partitions: int, workers: int, window: int, spike: bool) -> dict:
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
    pool = Mpool.default("t0100")  # the devnet's worker, 1,000 FIL
    if spike:
        pool.estimate_base_fee, pool.base_fee = MIN_BASE_FEE, SPIKE_BASE_FEE
    net = Devnet([miner], policy, mpool=pool)
    pushes = record_pushes(net)
    server = DevnetServer(net, token="devnet-token").start()
    chain = ChainSetup(net, server, store, {r.sector_id: r for r in replicas})
    with tempfile.TemporaryDirectory(prefix="chain-bench-") as tmp:
        tmp = Path(tmp)
        # Heartbeats as shipped (configs/manager.toml hands workers 3 s);
        # fees priced at the estimate in both runs (see the module docstring).
        m = chain.manager(
            tmp / "mgr",
            confidence=CONFIDENCE,
            poll_interval_s=0.25,
            replace_after=REPLACE_AFTER,
            maximize_window_post_fee_cap=False,
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
            # Executed by the wall clock; the chain includes it one epoch later.
            landed = [x for x in net.messages.values() if x.exit_code == 0]
            pushed = max(x.pushed_at for x in landed)
            # from a nonce's first push to its inclusion: what the spike costs
            first = {}
            for nonce, at in pushes.values():
                first[nonce] = min(at, first.get(nonce, at))
            stuck = max(x.pushed_at - first[pushes[x.cid][0]] for x in landed)
            # the manager logs a replacement after the push that landed it
            until = time.monotonic() + 10
            while len(m.events("message_replaced")) < len(pool.replaced):
                if time.monotonic() > until:
                    raise RuntimeError(f"replacements not logged: {pool.replaced}")
                time.sleep(0.1)
            submitted = m.events("post_submitted")
            replaced = m.events("message_replaced")
            if spike:  # every push priced under the spike, every landing a replacement
                assert all(int(e["fee_cap"]) < SPIKE_BASE_FEE for e in submitted), submitted
                assert all(int(e["fee_cap"]) >= SPIKE_BASE_FEE for e in replaced), replaced
                assert {x.cid for x in landed} <= set(pool.replaced.values()), pool.replaced
            else:
                assert not replaced, replaced
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
        "messages": len(landed),
        "proof": statistics.median(proof_s),
        "replaced": len(replaced),
        "stuck": stuck,
        "first_fee_cap": min(int(e["fee_cap"]) for e in submitted),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--partitions", default="1,4,12")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument(
        "--spike", action="store_true", help="run each shape again under a base-fee spike"
    )
    args = ap.parse_args()
    sizes = [int(x) for x in args.partitions.split(",")]
    counts = [int(x) for x in args.workers.split(",")]
    ensure_test_params(KIB2)
    started = time.monotonic()
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
        if args.spike:
            print(
                f"spike: blocks need a base fee of {SPIKE_BASE_FEE} attoFIL/gas, estimates "
                f"price at {MIN_BASE_FEE}; replace_after {REPLACE_AFTER} epochs"
            )
        chain_wait = (CONFIDENCE + 1) * EPOCH_S
        header = (
            f"{'parts':>5} {'workers':>7} {'msgs':>4} {'measured':>8} {'ideal':>6} "
            f"{'machine':>7} {'target':>6} {'ratio':>5}  verdict  {'proof median':>12}"
        )
        if args.spike:
            header += (
                f" {'spiked':>6} {'extra':>6} {'x meas':>6} {'ratio':>5} {'stuck':>5} {'repl':>4}"
            )
        print(header)
        fee_caps = []
        for p in sizes:
            for w in counts:
                # room for the replacements before Close, the same in both runs
                window = max(30, int((p * t1 * 2 + 10) / EPOCH_S)) + REPLACE_AFTER + 2
                r = run(store, replicas, p, w, window, spike=False)
                # A partition is the unit of work: rounds of w side by side.
                ideal = -(-p // w) * t1
                machine = p // w * side_by_side[w] + (side_by_side[p % w] if p % w else 0)
                target = 1.1 * machine + chain_wait
                row = (
                    f"{p:>5} {w:>7} {r['messages']:>4} {r['latency']:>8.2f} {ideal:>6.2f} "
                    f"{machine:>7.2f} {target:>6.2f} {r['latency'] / (machine + chain_wait):>5.2f}"
                    f"  {'met   ' if r['latency'] <= target else 'MISSED'}  "
                    f"{r['proof']:>12.2f}"
                )
                if args.spike:
                    s = run(store, replicas, p, w, window, spike=True)
                    fee_caps.append(s["first_fee_cap"])
                    row += (
                        f" {s['latency']:>6.2f} {s['latency'] - r['latency']:>+6.2f}"
                        f" {s['latency'] / r['latency']:>6.2f}"
                        f" {s['latency'] / (machine + chain_wait):>5.2f}"
                        f" {s['stuck']:>5.2f} {s['replaced']:>2}/{s['messages']}"
                    )
                print(row, flush=True)
        if fee_caps:
            print(
                f"spiked runs: every first push priced under the spike (fee caps "
                f"{min(fee_caps)}-{max(fee_caps)} < {SPIKE_BASE_FEE}), every landed message "
                "a replacement by fee"
            )
    print(f"benchmark wall time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
