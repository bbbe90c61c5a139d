"""The manager's alert watch: every ``[alerts] interval_s`` it gathers what
the store, the tracker and the node know, runs the rules
(``prover.alerts.rules``), lets the ``AlertBook`` decide what fired and what
resolved, logs each change and hands it to the ``Deliverer``, whose thread
posts it. The watch runs on the scheduler's thread, so neither a slow
receiver nor a slow balance read ever holds up the tracker.

Each source of facts is read on its own. When one fails (the node does not
answer WalletBalance, the database is away for a moment), the alerts that
source raised are held as they were rather than resolved: a hiccup must not
page twice, once "resolved" and once "firing" again.

Misses never change once recorded, so they are read incrementally (by id);
refused proofs are not kept in any table (the job's error is overwritten by
its next attempt), so the worker servicer reports them here as they happen.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from prover.alerts import Alert, AlertBook, Deliverer, Receiver, rules
from prover.chain.deadlines import MAINNET
from prover.config import AlertsConfig
from prover.logs import get_logger
from prover.store import JobQueries, Ledger, StorageHosts, WorkerRegistry
from prover.store.database import utcnow
from prover.store.lease import Leadership
from prover.store.ledger import Miss
from prover.store.workers import refused_proof_types
from prover.tracker import Tracker

log = get_logger("prover.alerts")

# refused proofs remembered for the rule (a proving period's worth at most)
MAX_REFUSALS = 10_000


@dataclass(frozen=True)
class _Refusal:
    job_id: int
    worker: str
    error: str


def receivers_of(config: AlertsConfig) -> list[Receiver]:
    return [Receiver("webhook", u) for u in config.webhooks] + [
        Receiver("alertmanager", u) for u in config.alertmanagers
    ]


class AlertWatch:
    def __init__(
        self,
        config: AlertsConfig,
        book: AlertBook,
        jobs: JobQueries,
        ledger: Ledger,
        tracker: Tracker | None,
        *,
        workers: WorkerRegistry,
        epoch: Callable[[], int | None],
        epoch_seconds: float,
        worker_live_s: float,
        senders: Iterable[str] = (),
        balance: Callable[[str], int] | None = None,
        deliverer: Deliverer | None = None,
        hosts: StorageHosts | None = None,
        leadership: Callable[[], Leadership | None] | None = None,
        lease_ttl_s: float = 10.0,
        own_parameters: Iterable[Mapping] = (),
        name: Callable[[], str] = lambda: "",
        now: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.book = book
        self.jobs = jobs
        self.workers = workers
        self.ledger = ledger
        self.tracker = tracker
        self.epoch = epoch
        self.epoch_seconds = epoch_seconds
        self.worker_live_s = worker_live_s
        self.configured_senders = list(senders)
        self.balance = balance
        self.deliverer = deliverer
        self.hosts = hosts
        self.leadership = leadership
        self.lease_ttl_s = lease_ttl_s
        # the manager's own verifying keys found wrong at start, and its name
        self.own_parameters = list(own_parameters)
        self.name = name
        self.now = now
        self.monotonic = monotonic
        self._misses: dict[int, Miss] = {}  # by row id
        self._last_miss_id = 0
        self._refusals: deque[_Refusal] = deque(maxlen=MAX_REFUSALS)
        self._refused_jobs: dict[
            int, tuple
        ] = {}  # job id -> (miner, period, deadline, part, close)
        self._lock = threading.Lock()

    # ---- what others report -------------------------------------------------------

    def refused(self, job_id: int, worker: str, error: str) -> None:
        """A proof from ``worker`` for ``job_id`` did not verify (called by
        the worker servicer; cheap, from any thread)."""
        with self._lock:
            self._refusals.append(_Refusal(job_id, worker, error))

    # ---- one pass -------------------------------------------------------------------

    def check(self, *, leading: bool = True) -> list[Alert]:
        """Evaluates every condition once; returns what fired or resolved
        (already logged and queued for delivery). A standby (``leading``
        false) checks only that some manager leads: the rest is the
        leader's, and what it raised while it led is handed over."""
        now = self.now()
        if not leading:
            self.book.forget({rules.NO_LEADER, rules.MANAGER_PARAMETERS_BAD})
            return self._observe(
                now,
                self._guard((rules.NO_LEADER,), self._leader)
                + self._guard((rules.MANAGER_PARAMETERS_BAD,), lambda: self._own_parameters(())),
            )
        epoch = self.epoch()
        period = self._proving_period()
        sources: list[tuple[tuple[str, ...], Callable[[], list[Alert]]]] = [
            ((rules.NO_LEADER,), self._leader),
            ((rules.HEAD_STALLED,), self._head),
            ((rules.NO_WORKER, rules.PARAMETERS_BAD), lambda: self._workers(now)),
            (
                (rules.MANAGER_PARAMETERS_BAD,),
                lambda: self._own_parameters(t for _, t in self._proof_types_in_use()),
            ),
            ((rules.LOW_BALANCE,), lambda: self._balances(epoch, period)),
            ((rules.STORAGE_HOST_SILENT,), lambda: self._storage_hosts(now)),
        ]
        if epoch is not None:
            sources += [
                ((rules.PARTITION_MISSED,), lambda: self._missed(epoch, period)),
                ((rules.SECTORS_LEFT_OUT,), lambda: self._left_out(epoch, period)),
                (
                    (rules.MESSAGE_FAILED, rules.MESSAGE_NOT_LANDED),
                    lambda: self._messages(epoch, period),
                ),
                ((rules.PROOF_REFUSED,), lambda: self._refused(epoch, period)),
                (
                    (rules.SHADOW_WOULD_MISS, rules.SHADOW_CHAIN_MISSED),
                    lambda: self._shadow(epoch, period),
                ),
                ((rules.POST_DISPUTED,), lambda: self._disputes(epoch, period)),
            ]
        else:  # no epoch yet: what depends on one is held as it was
            held = {
                rules.PARTITION_MISSED,
                rules.SECTORS_LEFT_OUT,
                rules.MESSAGE_FAILED,
                rules.MESSAGE_NOT_LANDED,
                rules.PROOF_REFUSED,
                rules.SHADOW_WOULD_MISS,
                rules.SHADOW_CHAIN_MISSED,
                rules.POST_DISPUTED,
            }
            sources.append((tuple(held), lambda: self._held(held)))
        holding: list[Alert] = []
        for names, gather in sources:
            holding += self._guard(names, gather)
        return self._observe(now, holding)

    def _guard(self, names: tuple[str, ...], gather: Callable[[], list[Alert]]) -> list[Alert]:
        try:
            return gather()
        except Exception as exc:  # keep what it raised; the other sources go on
            log.warning("alert_source_failed", alerts=",".join(names), error=str(exc))
            return self._held(set(names))

    def _observe(self, now: datetime, holding: list[Alert]) -> list[Alert]:
        if self.config.labels:
            extra = self.config.labels
            holding = [replace(a, labels={**extra, **a.labels}) for a in holding]
        changes = self.book.observe(holding, now)
        for a in changes:
            labels = dict(a.labels)
            if a.resolved:
                log.info("alert_resolved", alert=a.name, labels=labels)
            else:
                log.warning(
                    "alert_fired", alert=a.name, labels=labels, summary=a.summary, **a.details
                )
        if self.deliverer is not None:
            self.deliverer.submit(changes)
        return changes

    def _held(self, names: set[str]) -> list[Alert]:
        return [a for a in self.book.active() if a.name in names]

    def _proving_period(self) -> int:
        if self.tracker is not None:
            return self.tracker.longest_period() or MAINNET.proving_period
        return MAINNET.proving_period

    def _window(self, miner: int) -> int:
        head = self.tracker.heads.get(miner) if self.tracker is not None else None
        return head.info.policy.challenge_window if head else MAINNET.challenge_window

    # ---- the sources ----------------------------------------------------------------

    def _leader(self) -> list[Alert]:
        if self.leadership is None:
            return []
        who = self.leadership()
        if who is None:  # the database is away: keep what holds
            return self._held({rules.NO_LEADER})
        return rules.no_leader(who.holder, who.expires_at, self.now(), self.lease_ttl_s)

    def _head(self) -> list[Alert]:
        if self.tracker is None:
            return []
        return rules.head_stalled(
            self.tracker.epoch,
            self.monotonic() - self.tracker.head_moved_at,
            self.epoch_seconds,
            self.config.head_stall_epochs,
        )

    def _proof_types_in_use(self) -> set[tuple[int, int]]:
        """(miner, proof type) of the jobs waiting and the miners tracked."""
        miners = set(self.jobs.waiting_proof_types())
        if self.tracker is not None:
            tracked = set(self.tracker.config.miners)
            miners |= {(m, t) for m, t in self.tracker.proof_types.latest().items() if m in tracked}
        return miners

    def _workers(self, now: datetime) -> list[Alert]:
        workers = [
            rules.WorkerFact(
                w.name,
                w.last_seen_at,
                w.draining,
                w.allowed_miners,
                w.allowed_proof_types,
                refused_proof_types(w.param_problems or ()),
                w.param_problems or (),
                w.gpu_fallback,
            )
            for w in self.workers.all()
        ]
        out = rules.bad_worker_parameters(workers, now, self.worker_live_s)
        out += rules.gpu_fallbacks(workers, now, self.worker_live_s)
        miners = self._proof_types_in_use()
        if miners:
            out += rules.no_capable_worker(miners, workers, now, self.worker_live_s)
        return out

    def _own_parameters(self, in_use: Iterable[int]) -> list[Alert]:
        if not self.own_parameters:
            return []
        return rules.bad_manager_parameters(self.name(), self.own_parameters, in_use)

    def _storage_hosts(self, now: datetime) -> list[Alert]:
        if self.hosts is None:
            return []
        facts = [
            rules.StorageHostFact(h.name, h.address, h.storages, h.last_seen_at)
            for h in self.hosts.list()
        ]
        return rules.silent_storage_hosts(facts, now, self.hosts.timeout.total_seconds())

    def _balances(self, epoch: int | None, period: int) -> list[Alert]:
        if self.balance is None or self.config.low_balance <= 0:
            return []
        senders = set(self.configured_senders)
        if epoch is not None:
            senders |= self.ledger.senders(epoch - 2 * period)
        balances = {s: self.balance(s) for s in sorted(senders)}
        return rules.low_balances(balances, self.config.low_balance)

    def _missed(self, epoch: int, period: int) -> list[Alert]:
        closed_from = epoch - period
        for row in self.ledger.misses_after(self._last_miss_id, closed_from):
            self._last_miss_id = max(self._last_miss_id, row.id or 0)
            self._misses[row.id or 0] = Miss(
                row.miner,
                row.period_start,
                row.deadline,
                row.partition,
                row.close_epoch,
                row.sectors,
                row.reason,
            )
        self._misses = {i: m for i, m in self._misses.items() if m.close_epoch >= closed_from}
        return rules.missed_partitions(self._misses.values(), epoch, period)

    def _left_out(self, epoch: int, period: int) -> list[Alert]:
        facts = [
            rules.ProofFact(miner, start, deadline, partition, close, skipped or (), faulty or ())
            for miner, start, deadline, partition, close, skipped, faulty in self.jobs.left_out(
                epoch - period
            )
        ]
        return rules.left_out_sectors(facts, epoch, period)

    def _messages(self, epoch: int, period: int) -> list[Alert]:
        facts = []
        windows = []
        for m in self.ledger.troubled_messages(epoch - 2 * period):
            window = self._window(m.miner)
            windows.append(window)
            facts.append(
                rules.MessageFact(
                    m.miner,
                    m.period_start,
                    m.deadline,
                    m.kind,
                    m.cid,
                    m.state,
                    m.period_start + (m.deadline + 1) * window,
                    m.exit_code,
                    m.error or "",
                    tuple(m.partitions),
                )
            )
        # "N epochs before Close" within the window: a message just pushed
        # into a short (devnet) window is not yet late
        before = min([self.config.not_landed_epochs] + [max(1, w // 2) for w in windows])
        return rules.message_problems(facts, epoch, period, before)

    def _shadow(self, epoch: int, period: int) -> list[Alert]:
        """Shadow mode's disagreements with the chain, settled within a
        period (only a shadow run writes these rows)."""
        from prover.store.shadow import ShadowBook

        rows = ShadowBook(self.jobs.db).rows(
            since_close=epoch - period, outcomes=("chain_only", "ours_only"), limit=10_000
        )
        facts = [
            rules.ShadowFact(
                r.miner,
                r.period_start,
                r.deadline,
                r.partition,
                r.close_epoch,
                r.outcome,
                r.ready_epoch,
                r.chain_epoch,
                r.chain_sender,
                r.chain_cid,
            )
            for r in rows
        ]
        return rules.shadow_differences(facts, epoch, period)

    def _disputes(self, epoch: int, period: int) -> list[Alert]:
        """Disputes that landed against our PoSts within a period (the
        tracker's dispute watch records them)."""
        from prover.store.disputes import DisputeBook

        facts = [
            rules.DisputeFact(
                r.miner,
                r.period_start,
                r.deadline,
                r.post_index,
                r.partitions,
                r.dispute_cid,
                r.disputer,
                r.epoch,
                r.post_cid,
                r.workers,
            )
            for r in DisputeBook(self.jobs.db).recent(epoch - period)
        ]
        return rules.disputed_posts(facts, epoch, period)

    def _refused(self, epoch: int, period: int) -> list[Alert]:
        with self._lock:
            refusals = list(self._refusals)
        facts, kept = [], []
        for r in refusals:
            where = self._refused_jobs.get(r.job_id)
            if where is None:
                job = self.jobs.get(r.job_id)
                if job is None or job.close_epoch is None:
                    continue  # removed by an operator: nothing to point at
                where = (job.miner, job.period_start, job.deadline, job.partition, job.close_epoch)
            if epoch >= where[4] + period:
                continue  # its deadline came round again: forgotten
            self._refused_jobs[r.job_id] = where
            kept.append(r)
            facts.append(rules.RefusalFact(*where, r.worker, r.error))
        with self._lock:  # keep what still matters and what came in meanwhile
            self._refusals = deque(kept + list(self._refusals)[len(refusals) :], MAX_REFUSALS)
        live = {r.job_id for r in self._refusals}
        self._refused_jobs = {j: w for j, w in self._refused_jobs.items() if j in live}
        return rules.refused_proofs(facts, epoch, period)
