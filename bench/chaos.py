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
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
os.environ.setdefault(
    "FIL_PROOFS_PARAMETER_CACHE", str(Path.home() / ".cache" / "prover" / "test-proof-parameters")
)

# the orchestration is shared with tests/e2e/test_chaos.py, the short run in CI
from chaos_run import ChaosRun, inject_faults  # noqa: E402


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
    # the production lease (10 s, renewed every 2 s)
    run = ChaosRun(tmp, managers=args.managers, workers=args.workers, window=args.window)
    try:
        run.start()
        chain = run.chain
        started = time.monotonic()
        until = started + args.minutes * 60

        # warm-up, the baseline: deadlines proven with nothing wrong
        while run.proven_count() < 2 and time.monotonic() < until:
            time.sleep(0.5)
        baseline_epoch = chain.net.epoch()
        print(
            f"baseline: {run.proven_count()} partitions proven, no fault, by epoch {baseline_epoch}"
        )

        inject_faults(
            run,
            lambda _fault: time.sleep(args.gap),
            restart_after_s=10.0,
            stall_s=30.0,
            outage_s=args.outage,
            worker_down_s=5.0,
        )

        while time.monotonic() < until:
            time.sleep(1)
        # let the last deadline's outcome settle
        time.sleep(3)
        messages = list(chain.net.messages.values())
        refused = run.refused()
        misses = list(chain.miner.misses)
        status = chain.net.status()
        proven = run.proven_count()
        result = {
            "managers": args.managers,
            "workers": args.workers,
            "minutes": args.minutes,
            "lease_ttl_s": run.lease_ttl_s,
            "epoch_s": 1.0,
            "deadline_epochs": args.window,
            "baseline_partitions_proven_before_faults": 2,
            "partitions_proven": proven,
            "partitions_missed": len(chain.miner.misses),
            "misses": misses,
            "messages_on_chain": len(messages),
            "messages_refused": refused,
            "duplicate_posts": status.get("duplicate_posts", "n/a"),
            "faults": run.faults,
            "managers_alive_at_end": sum(m.proc.poll() is None for m in run.managers),
        }
        print(json.dumps(result, indent=1))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0 if not refused else 1
    finally:
        run.close()


if __name__ == "__main__":
    sys.exit(main())
