"""A chaos run: several managers on one PostgreSQL database, workers given
every manager's address, a devnet as the chain; faults injected one after
another while deadlines keep coming, and what each cost measured.

The faults, in order, a quiet gap between each:

1. kill -9 of the leader (started again later, as systemd would);
2. SIGSTOP of the leader (a stall: GC, swap, a hung disk), SIGCONT later;
3. PostgreSQL stopped for ``--outage`` seconds (a minute by default), then
   started again;
4. kill -9 of a worker in the middle of a proof, started again;
5. kill -9 of the leader once more.

Measured: how long each takeover took (kill or stall to another manager's
``leader_elected``; database back to a leader again), against the lease
period; per deadline closed in the run, proven or missed, and why; messages
the chain refused (a duplicate PoSt is refused by the miner actor: the
fencing makes that zero); jobs in the table before and after (none lost);
proofs that workers held through the outage. The deadlines proven before
the first fault are the baseline of the same run.

The defaults use the production lease (10 s, renewed every 2 s) against
1-second epochs and 60-epoch deadlines: a deadline lasts a minute here
(30 on mainnet), so a fault costs this run 30 times the share of a
deadline it would cost on mainnet.

    python bench/chaos.py [--minutes 9] [--managers 3] [--workers 2] [--outage 60] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
os.environ.setdefault(
    "FIL_PROOFS_PARAMETER_CACHE", str(Path.home() / ".cache" / "prover" / "test-proof-parameters")
)

from chain_fixtures import start_devnet  # noqa: E402
from manager_harness import ManagerProcess, WorkerProcess  # noqa: E402
from pg_server import PrivateServer  # noqa: E402
from prover.chain.deadlines import Policy  # noqa: E402

DEADLINES = 24


def leader(managers: list[ManagerProcess]) -> ManagerProcess | None:
    for m in managers:
        if m.proc is None or m.proc.poll() is not None:
            continue
        events = [e for e in m.lines if e.get("event") in ("leader_elected", "leader_stepped_down")]
        if events and events[-1]["event"] == "leader_elected":
            return m
    return None


def wait_new_term(managers, term: int, timeout: float) -> tuple[float, int] | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        terms = [e["term"] for m in managers for e in m.events("leader_elected")]
        if terms and max(terms) > term:
            return time.monotonic() - start, max(terms)
        time.sleep(0.1)
    return None


def current_term(managers) -> int:
    return max((e["term"] for m in managers for e in m.events("leader_elected")), default=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=9.0)
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds without PostgreSQL")
    parser.add_argument("--gap", type=float, default=45.0, help="quiet seconds between faults")
    parser.add_argument("--window", type=int, default=60, help="epochs (1 s) per deadline")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; managers, workers, devnet and PostgreSQL share it"
    )
    tmp = Path(tempfile.mkdtemp(prefix="prover-chaos-"))
    policy = Policy.devnet(
        challenge_window=args.window,
        challenge_lookback=min(20, args.window // 3),
        fault_declaration_cutoff=min(30, args.window // 2),
        period_deadlines=DEADLINES,
    )
    # one partition of two sectors in every deadline from the second on
    layout = {d: [[2 * d + 1, 2 * d + 2]] for d in range(1, DEADLINES)}
    chain = start_devnet(tmp, layout, policy)
    pg = PrivateServer().start()
    secret = os.urandom(32)
    managers: list[ManagerProcess] = []
    workers: list[WorkerProcess] = []
    faults: list[dict] = []
    try:
        for i in range(args.managers):
            managers.append(chain.manager(tmp / f"m{i}", database_url=pg.url, secret=secret))
        token = managers[0].token("worker")
        api = f"{token}:" + ",".join(f"127.0.0.1:{m.port}" for m in managers)
        for i in range(args.workers):
            workers.append(
                WorkerProcess(
                    tmp / f"w{i}", api, name=f"w{i}", storages={"store-1": chain.store}
                ).start()
            )
        started = time.monotonic()
        until = started + args.minutes * 60

        def proven_count() -> int:
            return sum(len(p) for p in chain.miner.proven.values())

        # warm-up, the baseline: deadlines proven with nothing wrong
        while proven_count() < 2 and time.monotonic() < until:
            time.sleep(0.5)
        baseline_epoch = chain.net.epoch()
        print(f"baseline: {proven_count()} partitions proven, no fault, by epoch {baseline_epoch}")

        def gap() -> None:
            time.sleep(args.gap)

        # 1. kill -9 of the leader
        gap()
        lead = leader(managers)
        term = current_term(managers)
        lead.kill()
        took = wait_new_term(managers, term, 60)
        faults.append({"fault": "leader kill -9", "takeover_s": took and round(took[0], 1)})
        print(f"leader {lead.home.name} killed: takeover in {took and round(took[0], 1)} s")
        time.sleep(10)
        lead.lines = []
        lead.start()  # restarted, as systemd would: a standby now

        # 2. SIGSTOP of the leader
        gap()
        lead = leader(managers)
        term = current_term(managers)
        lead.proc.send_signal(signal.SIGSTOP)
        took = wait_new_term(managers, term, 60)
        time.sleep(max(0.0, 30 - (took[0] if took else 0)))
        mark = len(lead.lines)
        lead.proc.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        stepped = None
        while time.monotonic() - resumed < 30:
            if any(e.get("event") == "leader_stepped_down" for e in lead.lines[mark:]):
                stepped = time.monotonic() - resumed
                break
            time.sleep(0.1)
        sent_after = [
            e
            for e in lead.lines[mark:]
            if e.get("event") in ("post_submitted", "recovery_declared")
        ]
        faults.append(
            {
                "fault": "leader SIGSTOP 30 s",
                "takeover_s": took and round(took[0], 1),
                "stepped_down_after_resume_s": stepped and round(stepped, 1),
                "messages_sent_by_the_stale_leader": len(sent_after),
            }
        )
        print(
            f"leader {lead.home.name} stopped: takeover in {took and round(took[0], 1)} s; "
            f"after SIGCONT it stepped down in {stepped and round(stepped, 1)} s, "
            f"sent {len(sent_after)} messages"
        )

        # 3. PostgreSQL away for a minute
        gap()
        term = current_term(managers)
        pg.stop("fast")
        down = time.monotonic()
        time.sleep(args.outage)
        alive = [m.proc.poll() is None for m in managers]
        pg.start()
        took = wait_new_term(managers, term, 120)
        faults.append(
            {
                "fault": f"PostgreSQL stopped {args.outage:.0f} s",
                "managers_alive_during": sum(alive),
                "leader_again_after_restart_s": took and round(took[0], 1),
                "without_a_leader_s": took and round(time.monotonic() - down, 1),
            }
        )
        print(
            f"PostgreSQL away {args.outage:.0f} s: {sum(alive)}/{len(managers)} managers alive; "
            f"a leader again {took and round(took[0], 1)} s after it came back"
        )

        # 4. kill -9 of a worker mid-proof
        gap()
        w = workers[0]
        w.kill()
        time.sleep(5)
        w.lines = []
        w.start()
        faults.append({"fault": "worker kill -9"})
        print("worker w0 killed and started again")

        # 5. kill -9 of the leader once more
        gap()
        lead = leader(managers)
        term = current_term(managers)
        if lead is not None:
            lead.kill()
            took = wait_new_term(managers, term, 60)
            faults.append({"fault": "leader kill -9 (2)", "takeover_s": took and round(took[0], 1)})
            print(f"leader {lead.home.name} killed: takeover in {took and round(took[0], 1)} s")
            lead.lines = []
            lead.start()

        while time.monotonic() < until:
            time.sleep(1)
        # let the last deadline's outcome settle
        time.sleep(3)
        messages = list(chain.net.messages.values())
        refused = [(m.cid, m.reason) for m in messages if m.exit_code != 0]
        misses = list(chain.miner.misses)
        status = chain.net.status()
        proven = proven_count()
        result = {
            "managers": args.managers,
            "workers": args.workers,
            "minutes": args.minutes,
            "lease_ttl_s": 10.0,
            "epoch_s": 1.0,
            "deadline_epochs": args.window,
            "baseline_partitions_proven_before_faults": 2,
            "partitions_proven": proven,
            "partitions_missed": len(chain.miner.misses),
            "misses": misses,
            "messages_on_chain": len(messages),
            "messages_refused": refused,
            "duplicate_posts": status.get("duplicate_posts", "n/a"),
            "faults": faults,
            "managers_alive_at_end": sum(m.proc.poll() is None for m in managers),
        }
        print(json.dumps(result, indent=1))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0 if not refused else 1
    finally:
        for p in [*workers, *managers]:
            p.kill()
        chain.server.stop()
        pg.close()


if __name__ == "__main__":
    sys.exit(main())
