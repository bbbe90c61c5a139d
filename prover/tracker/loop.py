"""The tracker's loop: on every head, for each configured miner, plan the
deadlines whose challenge is settled, submit what is proven, declare
recoveries; then follow pushed messages and record the misses of closed
deadlines. Between heads, a finished proof wakes the loop to submit at once.

The rules live in their own modules (``planning``, ``submission``,
``recoveries``, ``misses``, ``follow``); this one decides when each runs and
keeps one miner's trouble (a node error, a database hiccup) from holding up
the others: a failed pass is redone on the next tick. Planning runs off the
tick, in a few threads, a deadline at a time: a 32GiB deadline of 50
partitions takes seconds to read and plan (117,450 sectors), and another
miner's proofs must not wait for it. Recoveries likewise only start and
collect on the tick: their reads and sector checks run in threads of their
own (``recoveries``, ``prover.storage.pool``), so a hung storage never holds up a
submission.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prover import metrics
from prover.chain.clock import EpochClock
from prover.chain.deadlines import DeadlineInfo, Policy
from prover.chain.lotus import LotusClient, LotusError, ProvingDeadline
from prover.chain.notify import HeadFollower
from prover.config import ChainConfig
from prover.logs import get_logger
from prover.storage.access import SectorAccess
from prover.store import JobStore, Ledger, MessageKind, StoreUnavailable
from prover.store.disputes import DisputeBook
from prover.store.shadow import ShadowBook
from prover.tracker.disputes import DisputeWatch
from prover.tracker.follow import follow
from prover.tracker.misses import Settler
from prover.tracker.planning import DeadlinePlan, Planner, ProofTypes, access_of
from prover.tracker.recoveries import Recoveries
from prover.tracker.shadow import ShadowProver
from prover.tracker.submission import Submitter, may_submit
from prover.tracker.unplanned import Unplanned

log = get_logger("prover.tracker")

# Deadlines planned at once. Planning is mostly waiting on the node and
# parsing its answer; a few at a time keep a burst of miners whose deadlines
# coincide from queueing behind one another without flooding the node.
PLANNING_THREADS = 4


class Tracker:
    def __init__(
        self,
        jobs: JobStore,
        ledger: Ledger,
        client: LotusClient,
        config: ChainConfig,
        storages: Mapping[str, Path] | SectorAccess,
        *,
        clock: EpochClock | None = None,
        kick: Callable[[], None] = lambda: None,
    ) -> None:
        self.jobs = jobs
        self.ledger = ledger
        self.client = client
        self.config = config
        self.clock = clock or EpochClock.following_chain()
        self._wake = threading.Event()
        self.heads_in = HeadFollower(client, notify=config.notify, on_change=self._wake.set)
        self.epoch: int | None = None
        # when the head last moved (monotonic): the alert on a stalled chain
        self.head_moved_at = time.monotonic()
        # the last StateMinerProvingDeadline per miner (for `prover deadlines`)
        self.heads: dict[int, ProvingDeadline] = {}
        self.proof_types = proof_types = ProofTypes(client)
        access = access_of(storages)
        self.planner = Planner(jobs, ledger, client, access, proof_types, kick)
        self.submitter = Submitter(jobs, ledger, client, config, proof_types)
        self.submitter.replan = self.planner.replan
        self.recoveries = Recoveries(
            ledger, client, access, proof_types, self.submitter.push, config
        )
        self.settler = Settler(
            jobs, ledger, self.submitter.push_errors, Unplanned(jobs, client, self.heads)
        )
        # shadow mode: proofs are recorded, never sent (see tracker.shadow)
        self.shadow: ShadowProver | None = None
        if config.shadow:
            self.shadow = ShadowProver(jobs, ShadowBook(jobs.db), client, config, self._policy_of)
        # our landed PoSts followed through their dispute window (none in shadow mode)
        self.disputes: DisputeWatch | None = None
        if not config.shadow:
            book = DisputeBook(ledger.db, fence=ledger.fence)
            self.disputes = DisputeWatch(book, ledger, jobs, client, config, self.heads)
        self._finished = threading.Event()
        self._full_pass = True
        self._planning_pool = ThreadPoolExecutor(PLANNING_THREADS, thread_name_prefix="planning")
        self._planning: set[tuple[int, int, int]] = set()  # (miner, period start, deadline)
        self._planning_lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        """The tracker's thread: a tick per ``poll_interval_s``, or at once
        when a head arrives or a job finishes (its proof may complete a
        message)."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # a bug must not stop deadline tracking
                log.exception("tracker_tick_crashed")
                self._full_pass = True
            self._wake.wait(self.config.poll_interval_s)
            self._wake.clear()

    def job_finished(self) -> None:
        """Called after an accepted proof."""
        self._finished.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._planning_pool.shutdown(wait=False, cancel_futures=True)
        self.recoveries.close()
        self.heads_in.close()

    def planning(self) -> set[tuple[int, int, int]]:
        """(miner, period start, deadline) being planned right now."""
        with self._planning_lock:
            return set(self._planning)

    def prove_dry_run(self, miner: int, index: int) -> tuple[DeadlineInfo, list[int], DeadlinePlan]:
        """See ``Planner.dry_run``."""
        return self.planner.dry_run(miner, index, self.config.miners)

    def tick(self) -> None:
        """A full pass (jobs, submissions, recoveries, messages, misses) on
        each new head; between heads, only the submissions a finished job
        may have made ready."""
        finished = self._finished.is_set()
        self._finished.clear()
        try:
            changes = self.heads_in.poll()
            for change in changes:
                if change.kind == "revert":
                    log.warning("chain_reorg", reverted=change.tipset.height)
            head = self.heads_in.current
            if head is None:
                # subscribed, but no head pushed yet (or a revert whose apply
                # has not arrived): nothing to act on; the push wakes us
                self._full_pass = True
                if finished:
                    self._finished.set()
                return
            if head.height != self.epoch:
                self.head_moved_at = time.monotonic()
            self.epoch = head.height
            self.clock.observe(self.epoch)
            if changes or self._full_pass:
                self._full_pass = False
                for miner in self.config.miners:
                    try:
                        self._miner(miner)
                    except (LotusError, StoreUnavailable) as exc:
                        self._full_pass = True
                        log.warning("tracker_miner_failed", miner=miner, error=str(exc))
                follow(
                    self.ledger,
                    self.client,
                    self.epoch,
                    self.config.resubmit_after,
                    self._dropped,
                    replace_after=self.config.replace_after,
                    # a message from before a switch to shadow mode is followed, never replaced
                    replace=None
                    if self.shadow
                    else lambda m, epoch: self.submitter.replace_stuck(
                        m, epoch, self.heads.get(m.miner)
                    ),
                )
                if self.shadow:
                    self.shadow.settle(self.epoch, self.config.confidence, self.longest_period)
                else:
                    self.settler.settle(self.epoch, self.config.confidence, self.longest_period)
                if self.disputes is not None:
                    self.disputes.watch(self.epoch)
            elif finished:
                for miner, head in self.heads.items():
                    if may_submit(head.info, self.config.confidence):
                        self._submit(miner, head.info)
        except (LotusError, StoreUnavailable) as exc:
            self._full_pass = True
            log.warning("tracker_tick_failed", error=str(exc))

    def _miner(self, miner: int) -> None:
        head = self.client.state_miner_proving_deadline(miner)
        if miner not in self.heads:
            metrics.miner_followed(miner, head.policy.period_deadlines)
        self.heads[miner] = head
        current = head.info
        for d in (current, current.next()):
            if d.challenge_reached(self.config.confidence) and not d.has_elapsed():
                self._plan(miner, d)
        if may_submit(current, self.config.confidence):
            self._submit(miner, current)
        if self.shadow:
            return  # a recovery is a message too: the existing system declares them
        after_next = current.next().next()
        self.recoveries.declare(miner, after_next, self._pushed_epoch(after_next))

    def _submit(self, miner: int, d: DeadlineInfo) -> None:
        if self.shadow:
            self.shadow.submit(miner, d, self._pushed_epoch(d))
        else:
            self.submitter.submit(miner, d, self._pushed_epoch(d))

    def _policy_of(self, miner: int) -> Policy | None:
        head = self.heads.get(miner)
        return head.policy if head else None

    def _plan(self, miner: int, d: DeadlineInfo) -> None:
        """Plans ``d`` in the planning threads unless it is being planned
        already (``create_jobs`` itself skips a deadline that has jobs)."""
        key = (miner, d.period_start, d.index)
        with self._planning_lock:
            if key in self._planning:
                return
            self._planning.add(key)
        try:
            self._planning_pool.submit(self._plan_now, key, miner, d)
        except RuntimeError:  # shut down: the manager is stopping
            with self._planning_lock:
                self._planning.discard(key)

    def _plan_now(self, key: tuple[int, int, int], miner: int, d: DeadlineInfo) -> None:
        try:
            self.planner.create_jobs(miner, d)
        except (LotusError, StoreUnavailable) as exc:
            self._full_pass = True  # the next tick plans it again
            log.warning("tracker_planning_failed", miner=miner, deadline=d.index, error=str(exc))
        except Exception:  # a bug must not stop planning for good
            self._full_pass = True
            log.exception("tracker_planning_crashed", miner=miner, deadline=d.index)
        finally:
            with self._planning_lock:
                self._planning.discard(key)

    def _pushed_epoch(self, d: DeadlineInfo) -> int:
        return self.epoch if self.epoch is not None else d.current_epoch

    def _dropped(self, kind: MessageKind, miner: int, period_start: int, deadline: int) -> None:
        if kind == MessageKind.RECOVERY:  # check (and declare) again
            self.recoveries.forget(miner, period_start, deadline)

    def longest_period(self) -> int:
        return max((h.policy.proving_period for h in self.heads.values()), default=0)
