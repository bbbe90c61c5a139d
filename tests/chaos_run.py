"""The chaos run's orchestration, one copy for ``bench/chaos.py`` (minutes
of faults on the production lease, figures printed) and
``tests/e2e/test_chaos.py`` (a short run in CI, asserted): a PostgreSQL of
the run's own, the devnet, several managers on that database, workers given
every manager's address; faults injected one after another; the outcome
read back per deadline from the chain and from the database.

The faults, in order (``inject_faults``): the leader killed -9 (started
again, as systemd would), the leader stopped by SIGSTOP then resumed,
PostgreSQL stopped then started, a worker killed -9 (mid-proof when asked),
the leader killed -9 once more. ``gap`` is called before each: the bench
sleeps a quiet while, the test waits for the moment that hurts most.

What could be proven (``ChaosRun.excused``): every fault but the outage is
bounded by the lease or a worker's restart, both far shorter than a
deadline, so only a partition whose deadline's sending window (Open +
confidence to Close) held no stretch of ``recovery_s`` with the database up
may be missed: that long is what a leader needs to lead again, take the
proof from a worker's spool and land its message.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chain_fixtures import ChainSetup, start_devnet
from manager_harness import LoggedProcess, ManagerProcess, WorkerProcess
from pg_server import PrivateServer
from prover.chain.deadlines import Policy

DEADLINES = 24
# The manager's [lease] defaults (configs/manager.toml), used when no lease is given.
PRODUCTION_LEASE = {"ttl_s": 10.0, "renew_s": 2.0}
# After the database is back, what a proof held through the outage needs on
# top of a leader again (a lease period and a renewal): the worker's Finish
# retried at its backoff (doubling to at most 10 s) and the message pushed
# and landed, with room for a loaded machine.
DELIVERY_S = 10.0
SUBMIT_S = 5.0


def policy_for(window: int) -> Policy:
    """1-second epochs, ``window`` epochs per deadline, 24 deadlines."""
    return Policy.devnet(
        challenge_window=window,
        challenge_lookback=min(20, window // 3),
        fault_declaration_cutoff=min(30, window // 2),
        period_deadlines=DEADLINES,
    )


@dataclass
class Outage:
    """When the database was away, in devnet epochs (fractions kept)."""

    down: float
    up: float


@dataclass
class DeadlineOutcome:
    """One deadline with a partition that closed during the run."""

    deadline: int
    period_start: int
    open: int
    close: int
    partitions: list[int]
    proven: list[int]
    missed: list[int]
    excused: bool  # whether it may be missed (see ChaosRun.excused)
    reasons: dict[int, str] = field(default_factory=dict)  # the manager's, per partition


class ChaosRun:
    """Starts everything (``start``), injects the faults (its methods, or
    ``inject_faults`` for the sequence), reads the outcome; ``close`` stops
    it all. ``say`` gets a line per fault (the bench prints them)."""

    def __init__(
        self,
        tmp: Path,
        *,
        managers: int = 3,
        workers: int = 2,
        window: int = 60,
        deadlines: Iterable[int] = range(1, DEADLINES),
        lease: dict | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.tmp = tmp
        self.n_managers = managers
        self.n_workers = workers
        self.policy = policy_for(window)
        # one partition of two sectors in each of ``deadlines``
        self.layout = {d: [[2 * d + 1, 2 * d + 2]] for d in deadlines}
        self.lease = lease
        self.lease_ttl_s = (lease or PRODUCTION_LEASE)["ttl_s"]
        self.lease_renew_s = (lease or PRODUCTION_LEASE)["renew_s"]
        self.say = say
        self.chain: ChainSetup | None = None
        self.pg: PrivateServer | None = None
        self.managers: list[ManagerProcess] = []
        self.workers: list[WorkerProcess] = []
        self.faults: list[dict] = []
        self.outages: list[Outage] = []
        # the jobs table (id -> row) read before each fault, while it can be
        self.jobs_seen: dict[int, dict] = {}
        # where the logs stood as the last fault struck (``mark``)
        self.struck: dict[int, tuple[list, int]] = {}
        # the misses table, (period start, deadline, partition) -> reason, as last read
        self.manager_misses: dict[tuple[int, int, int], str] = {}

    # ---- set-up -----------------------------------------------------------------

    def start(self) -> ChaosRun:
        """PostgreSQL first (its initdb takes seconds that would otherwise
        come out of the first deadlines), then the devnet (its genesis),
        the managers and the workers."""
        self.pg = PrivateServer().start()
        self.chain = start_devnet(self.tmp, self.layout, self.policy)
        secret = os.urandom(32)  # managers on one database share it
        for i in range(self.n_managers):
            self.managers.append(
                self.chain.manager(
                    self.tmp / f"m{i}", database_url=self.pg.url, secret=secret, lease=self.lease
                )
            )
        token = self.managers[0].token("worker")
        api = f"{token}:" + ",".join(f"127.0.0.1:{m.port}" for m in self.managers)
        for i in range(self.n_workers):
            self.workers.append(
                WorkerProcess(
                    self.tmp / f"w{i}", api, name=f"w{i}", storages={"store-1": self.chain.store}
                ).start()
            )
        return self

    def close(self) -> None:
        for p in [*self.workers, *self.managers]:
            if p.proc is not None and p.proc.poll() is None:
                p.proc.send_signal(signal.SIGCONT)  # a stalled one dies as well
            p.kill()
        if self.chain is not None:
            self.chain.server.stop()
        if self.pg is not None:
            self.pg.close()

    def tails(self, n: int = 15) -> str:
        """The last ``n`` log lines of every process: what a failed run shows."""
        out = []
        for p in self._processes():
            name = p.home.name if isinstance(p, ManagerProcess) else p.config.parent.name
            out += [f"--- {name}", *map(str, p.lines[-n:])]
        return "\n".join(out)

    @property
    def recovery_s(self) -> float:
        """Database-up time a deadline's sending window needs for its
        partition to be proven despite an outage (module docstring)."""
        return self.lease_ttl_s + self.lease_renew_s + DELIVERY_S + SUBMIT_S

    # ---- who leads ----------------------------------------------------------------

    def leader(self) -> ManagerProcess | None:
        """A live manager whose last lease event says it leads."""
        for m in self.managers:
            if m.proc is None or m.proc.poll() is not None:
                continue
            events = [
                e for e in m.lines if e.get("event") in ("leader_elected", "leader_stepped_down")
            ]
            if events and events[-1]["event"] == "leader_elected":
                return m
        return None

    def current_term(self) -> int:
        return max(
            (e["term"] for m in self.managers for e in m.events("leader_elected")), default=0
        )

    def wait_new_term(self, term: int, timeout: float) -> tuple[float, int] | None:
        """(seconds waited, the term) once a manager leads a term after ``term``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            terms = [e["term"] for m in self.managers for e in m.events("leader_elected")]
            if terms and max(terms) > term:
                return time.monotonic() - start, max(terms)
            time.sleep(0.1)
        return None

    # ---- what happens -------------------------------------------------------------

    def proven_count(self) -> int:
        return sum(len(p) for p in self.chain.miner.proven.values())

    def mark(self) -> dict[int, tuple[list, int]]:
        """Where every process's log stands now, for ``wait_event``."""
        return {id(p): (p.lines, len(p.lines)) for p in self._processes()}

    def wait_event(
        self, name: str, timeout: float, since: dict | None = None
    ) -> tuple[LoggedProcess | ManagerProcess, dict]:
        """The first process (and its event) to log ``name`` after ``since``
        (a ``mark``; now by default). A process started again since logs
        into a new list: all of it counts."""
        since = since if since is not None else self.mark()
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            for p in self._processes():
                lines, n = since.get(id(p), (None, 0))
                new = p.lines[n:] if lines is p.lines else list(p.lines)
                for e in new:
                    if e.get("event") == name:
                        return p, e
            time.sleep(0.05)
        raise TimeoutError(f"no {name} within {timeout:.0f} s")

    def _processes(self) -> list:
        return [*self.managers, *self.workers]

    def read_jobs(self) -> dict[int, dict]:
        """The jobs table as it is now (id -> its row's outline), read
        straight from the database; remembered in ``jobs_seen``."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        from prover.store.engine import normalise_url

        engine = create_engine(normalise_url(self.pg.url), poolclass=NullPool)
        try:
            with engine.connect() as c:
                rows = c.execute(
                    text(
                        "SELECT id, period_start, deadline, partition, generation, state, "
                        "tries, error FROM jobs"
                    )
                ).mappings()
                jobs = {r["id"]: dict(r) for r in rows}
                misses = c.execute(
                    text("SELECT period_start, deadline, partition, reason FROM misses")
                ).all()
        finally:
            engine.dispose()
        self.jobs_seen.update(jobs)
        self.manager_misses = {(ps, d, p): reason for ps, d, p, reason in misses}
        return jobs

    # ---- the faults ---------------------------------------------------------------

    def kill_leader(self, *, restart_after_s: float, label: str = "leader kill -9") -> None:
        """kill -9 of the leader; it is started again ``restart_after_s``
        later, as a standby."""
        self.read_jobs()
        lead = self.leader()
        if lead is None:
            return
        term = self.current_term()
        self.struck = self.mark()
        lead.kill()
        took = self.wait_new_term(term, 60)
        self.faults.append({"fault": label, "takeover_s": took and round(took[0], 1)})
        self.say(f"leader {lead.home.name} killed: takeover in {took and round(took[0], 1)} s")
        time.sleep(restart_after_s)
        lead.lines = []
        lead.start()  # restarted, as systemd would: a standby now

    def stall_leader(self, stall_s: float) -> None:
        """SIGSTOP of the leader (a stall: GC, swap, a hung disk) for
        ``stall_s`` in all, or until a standby took over if that is later;
        then SIGCONT, and how long it took the stale leader to step down."""
        self.read_jobs()
        lead = self.leader()
        term = self.current_term()
        self.struck = self.mark()
        lead.proc.send_signal(signal.SIGSTOP)
        took = self.wait_new_term(term, 60)
        time.sleep(max(0.0, stall_s - (took[0] if took else 0)))
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
        self.faults.append(
            {
                "fault": f"leader SIGSTOP {stall_s:.0f} s",
                "takeover_s": took and round(took[0], 1),
                "stepped_down_after_resume_s": stepped and round(stepped, 1),
                "messages_sent_by_the_stale_leader": len(sent_after),
            }
        )
        self.say(
            f"leader {lead.home.name} stopped: takeover in {took and round(took[0], 1)} s; "
            f"after SIGCONT it stepped down in {stepped and round(stepped, 1)} s, "
            f"sent {len(sent_after)} messages"
        )

    def database_away(self, outage_s: float) -> None:
        """PostgreSQL stopped (fast: every connection cut) for ``outage_s``,
        then started again; how long until a manager leads again."""
        self.read_jobs()
        term = self.current_term()
        self.struck = self.mark()
        self.pg.stop("fast")
        down = time.monotonic()
        down_epoch = self._epoch_now()
        time.sleep(outage_s)
        alive = [m.proc.poll() is None for m in self.managers]
        self.pg.start()
        self.outages.append(Outage(down_epoch, self._epoch_now()))
        took = self.wait_new_term(term, 120)
        self.faults.append(
            {
                "fault": f"PostgreSQL stopped {outage_s:.0f} s",
                "managers_alive_during": sum(alive),
                "leader_again_after_restart_s": took and round(took[0], 1),
                "without_a_leader_s": took and round(time.monotonic() - down, 1),
            }
        )
        self.say(
            f"PostgreSQL away {outage_s:.0f} s: {sum(alive)}/{len(self.managers)} managers alive; "
            f"a leader again {took and round(took[0], 1)} s after it came back"
        )

    def kill_worker(self, *, down_s: float, mid_proof_within: float | None = None) -> None:
        """kill -9 of a worker, started again ``down_s`` later: the first
        one, or with ``mid_proof_within`` the first to start a proof within
        that many seconds, at once (before it could report it)."""
        self.read_jobs()
        w, job = self.workers[0], None
        if mid_proof_within is not None:
            w, started = self.wait_event("proving_started", mid_proof_within)
            job = started["job_id"]
        self.struck = self.mark()
        w.kill()
        time.sleep(down_s)  # its log read to the end meanwhile
        # whether the kill beat the proof: its result never reached a manager
        reported = job is not None and any(
            e.get("job_id") == job for e in w.lines if e.get("event") == "job_finished"
        )
        w.lines = []
        w.start()
        fault = {"fault": "worker kill -9"}
        if job is not None:
            fault.update(job=job, mid_proof=not reported)
        self.faults.append(fault)
        self.say(f"worker {w.config.parent.name} killed and started again")

    # ---- the outcome --------------------------------------------------------------

    def _epoch_now(self) -> float:
        net = self.chain.net
        return (net.clock() - net.genesis) / net.policy.epoch_seconds

    def excused(self, open_epoch: int, close_epoch: int) -> bool:
        """Whether a deadline's partitions may be missed: an outage fell in
        its sending window (Open + confidence, the earliest a PoSt goes, to
        Close) and left no stretch of ``recovery_s`` with the database up
        in it. A deadline no outage touched is never excused."""
        start, end = open_epoch + 1, close_epoch  # the fixtures' confidence: 1 epoch
        if not any(o.down < end and o.up > start for o in self.outages):
            return False
        need = self.recovery_s / self.policy.epoch_seconds
        up = [(start, end)]
        for o in self.outages:
            up = [
                piece
                for a, b in up
                for piece in ((a, min(b, o.down)), (max(a, o.up), b))
                if piece[1] > piece[0]
            ]
        return max((b - a for a, b in up), default=0.0) < need

    def deadlines(self) -> list[DeadlineOutcome]:
        """Every deadline with a partition that closed by now, from the
        chain (proven, missed) and the database (the manager's reasons)."""
        net, miner = self.chain.net, self.chain.miner
        net.settle()
        now = net.epoch()
        missed: dict[tuple[int, int], list[int]] = {}
        for m in miner.misses:
            missed.setdefault((m["period_start"], m["deadline"]), []).append(m["partition"])
        out = []
        dl = net.deadline_of(miner, 0)
        while dl.close <= now:
            if dl.index in miner.deadlines:
                key = (dl.period_start, dl.index)
                reasons = {p: r for (ps, d, p), r in self.manager_misses.items() if (ps, d) == key}
                out.append(
                    DeadlineOutcome(
                        deadline=dl.index,
                        period_start=dl.period_start,
                        open=dl.open,
                        close=dl.close,
                        partitions=list(range(len(miner.deadlines[dl.index]))),
                        proven=sorted(miner.proven.get(key, set())),
                        missed=sorted(missed.get(key, [])),
                        excused=self.excused(dl.open, dl.close),
                        reasons=reasons,
                    )
                )
            dl = dl.next()
        return out

    def refused(self) -> list[tuple[str, str]]:
        """Messages the chain refused (a duplicate PoSt among them)."""
        return [(m.cid, m.reason) for m in self.chain.net.messages.values() if m.exit_code != 0]


def inject_faults(
    run: ChaosRun,
    gap: Callable[[str], None],
    *,
    restart_after_s: float,
    stall_s: float,
    outage_s: float,
    worker_down_s: float,
    mid_proof_within: float | None = None,
) -> None:
    """The five faults in order, ``gap(name)`` before each."""
    gap("leader kill -9")
    run.kill_leader(restart_after_s=restart_after_s)
    gap("leader SIGSTOP")
    run.stall_leader(stall_s)
    gap("PostgreSQL stopped")
    run.database_away(outage_s)
    gap("worker kill -9")
    run.kill_worker(down_s=worker_down_s, mid_proof_within=mid_proof_within)
    gap("leader kill -9 (2)")
    run.kill_leader(restart_after_s=0.0, label="leader kill -9 (2)")
