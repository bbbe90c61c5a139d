"""The chaos run, short, in CI: three managers on a PostgreSQL of the test's
own, two workers, the devnet; the leader killed, the leader stalled, the
database away, a worker killed mid-proof and the leader killed again, one
after another while deadlines come (``chaos_run``, shared with
``bench/chaos.py``). Each test of test_managers_failover and
test_managers_clients has one fault alone; here they follow each other, so
what one leaves behind (a restarted standby, a fenced leader, proofs held
in a spool, a job of a dead worker) meets the next.

Each fault waits for the moment it hurts most: the leader dies with a proof
delivered but not yet sent, stalls and dies again just after pushing a
PoSt (its message still pending), the database goes while a proof is being
made (it finishes in the worker's spool), a worker dies as it starts one.

Timing, for a loaded 2-core machine: 1 s epochs and 30-epoch deadlines
(lookback 10), a lease of 4 s renewed every second. A leader fault costs at
most a lease and a renewal (5 s), a worker's restart 2 s plus a proof, far
less than a deadline, so every deadline can be proven despite each. The
outage (15 s) can cost a deadline only where it leaves no stretch of
``ChaosRun.recovery_s`` (20 s) with the database up in the deadline's
sending window (Open + 1 to Close): such a deadline is ``excused``. Begun as
a proof starts, a few epochs before its deadline opens, it leaves that
deadline 23 s and the one before 20 s, so none is, unless a slow machine
shifts it.

What is asserted: every partition of a deadline that closed in the run is
proven, but an excused deadline's, which may be missed only if the manager
recorded the miss with its reason (the misses table equals the chain's
misses, always); the chain refused no message (a duplicate PoSt is refused
by the miner actor: none); every job ever seen in the jobs table is there
at the end, and each closed deadline's partition has one, succeeded unless
excused; each takeover within two leases and a renewal, the stalled leader
stepped down and sent nothing, no manager died, the worker died mid-proof.
"""

from __future__ import annotations

import time

import pytest

from chaos_run import ChaosRun, inject_faults
from pg_server import pg_bin

WINDOW = 30  # epochs (1 s) per deadline
LEASE = {"ttl_s": 4.0, "renew_s": 1.0}
OUTAGE_S = 15.0
# the faults' moments (see the module docstring); the worker kill waits for
# its own (proving_started)
MOMENT = {
    "leader kill -9": "job_finished",
    "leader SIGSTOP": "post_submitted",
    "PostgreSQL stopped": "proving_started",
    "leader kill -9 (2)": "post_submitted",
}


@pytest.mark.skipif(pg_bin() is None, reason="no PostgreSQL server installed")
def test_a_chaos_run_misses_nothing_provable_sends_nothing_twice_and_loses_no_job(tmp_path):
    began = time.monotonic()
    run = ChaosRun(
        tmp_path,
        managers=3,
        workers=2,
        window=WINDOW,
        deadlines=range(1, 8),
        lease=LEASE,
        say=lambda line: print(f"epoch {run.chain.net.epoch()}: {line}"),
    )
    try:
        run.start()
        # the baseline: a deadline proven with nothing wrong
        until = time.monotonic() + 3 * WINDOW
        while run.proven_count() < 1:
            assert time.monotonic() < until, "nothing proven before the faults"
            time.sleep(0.2)
        moments: list[tuple[int, dict]] = []  # (epoch, event) each fault waited for
        run.struck = run.mark()

        def at_its_moment(fault: str) -> None:
            # events count from the moment the previous fault struck: one
            # that came while it went on (a manager restarting takes
            # seconds) is not waited past
            if fault in MOMENT:
                _, event = run.wait_event(MOMENT[fault], 3 * WINDOW, run.struck)
                moments.append((run.chain.net.epoch(), event))
                what = {k: event.get(k) for k in ("deadline", "job_id", "attempt") if k in event}
                print(f"epoch {moments[-1][0]}: {fault} at {MOMENT[fault]} {what}")

        inject_faults(
            run,
            at_its_moment,
            restart_after_s=2.0,
            stall_s=2 * LEASE["ttl_s"],
            outage_s=OUTAGE_S,
            worker_down_s=2.0,
            mid_proof_within=3 * WINDOW,
        )
        # the last fault's deadline (its PoSt pushed, then the leader killed)
        # closes, and the new leader records its outcome
        epoch, event = moments[-1]
        closes = run.chain.net.deadline_of(run.chain.miner, epoch).close
        last_deadline = event["deadline"]
        while run.chain.net.epoch() < closes + 2:
            time.sleep(0.5)
        until = time.monotonic() + 30
        while time.monotonic() < until and not any(
            e.get("deadline") == last_deadline
            for m in run.managers
            for e in m.lines
            if e.get("event") in ("deadline_proven", "deadline_missed")
        ):
            time.sleep(0.2)
        jobs = run.read_jobs()
        outcomes = run.deadlines()
        for line in [*map(str, run.faults), *map(str, outcomes)]:
            print(line)
        print(f"chaos run: {time.monotonic() - began:.0f} s")

        # every fault happened, and was recovered from as the lease bounds it
        assert [f["fault"] for f in run.faults] == [
            "leader kill -9",
            "leader SIGSTOP 8 s",
            "PostgreSQL stopped 15 s",
            "worker kill -9",
            "leader kill -9 (2)",
        ], run.faults
        bound = 2 * LEASE["ttl_s"] + LEASE["renew_s"]
        for f in run.faults:
            if "takeover_s" in f:
                assert f["takeover_s"] is not None and f["takeover_s"] <= bound, f
        stall, outage, worker = run.faults[1], run.faults[2], run.faults[3]
        assert stall["stepped_down_after_resume_s"] is not None, stall
        assert stall["messages_sent_by_the_stale_leader"] == 0, stall
        assert outage["managers_alive_during"] == 3, outage
        assert outage["leader_again_after_restart_s"] is not None, outage
        assert worker["mid_proof"], worker
        assert all(m.proc.poll() is None for m in run.managers), "a manager died"

        # nothing sent twice: the chain refused no message
        assert run.refused() == []
        assert run.chain.net.status()["duplicate_posts"] == 0

        # nothing missed that could be proven; every miss recorded with its reason
        assert last_deadline in [o.deadline for o in outcomes], outcomes
        for o in outcomes:
            if not o.excused:
                assert o.proven == o.partitions and not o.missed, o
            assert sorted(o.reasons) == o.missed, o  # the manager's misses are the chain's
        chain_misses = {
            (m["period_start"], m["deadline"], m["partition"]) for m in run.chain.miner.misses
        }
        assert set(run.manager_misses) == chain_misses

        # no job lost: every job seen before a fault is there at the end, and
        # each closed deadline's partition has its job, succeeded
        assert set(run.jobs_seen) == set(jobs), set(run.jobs_seen) - set(jobs)
        for o in outcomes:
            for p in o.partitions:
                mine = [
                    j
                    for j in jobs.values()
                    if (j["period_start"], j["deadline"], j["partition"])
                    == (o.period_start, o.deadline, p)
                ]
                assert mine, f"no job for deadline {o.deadline} partition {p}"
                newest = max(mine, key=lambda j: j["generation"])
                if not o.excused:
                    assert newest["state"] == "succeeded", newest
    except BaseException:
        print(run.tails())
        raise
    finally:
        run.close()
