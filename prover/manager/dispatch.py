"""Hands ready jobs to long-polling Claim calls, one claim per job.

A Claim first tries the table directly. If nothing matches, it queues as a
waiter and sleeps. Whenever jobs may have become ready (adds, resets,
requeues, releases) ``kick`` wakes a single dispatcher thread, which walks
the waiters in arrival order and claims on behalf of each until the table
has nothing more for them. So a new job reaches a waiting worker with one
claim, instead of every waiting worker racing to the database for it (with
64 workers that herd cost more than the dispatch itself). The dispatcher
also runs a pass every second while anyone waits, for jobs that another
manager process made ready, should a notification be lost (the managers
notify each other over PostgreSQL's LISTEN/NOTIFY: ``kick`` and ``wake``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from prover.chain.clock import EpochClock
from prover.logs import get_logger
from prover.store import JobStore, StoreUnavailable, UnknownWorker, WorkerRegistry
from prover.store.models import JobRow
from prover.store.workers import claim_filter

log = get_logger("prover.manager.dispatch")

WAITING, CLAIMING, DONE, CANCELLED = "waiting", "claiming", "done", "cancelled"


@dataclass(eq=False)
class _Waiter:
    worker: str
    exclude: tuple[int, ...] = ()
    # whether the Claim call is still there to take a job: the dispatcher
    # never claims for a call that has gone (its answer would be lost)
    is_active: Callable[[], bool] = lambda: True
    state: str = WAITING
    job: JobRow | None = None
    error: Exception | None = None
    event: threading.Event = field(default_factory=threading.Event)


class Dispatcher:
    def __init__(
        self,
        store: JobStore | None = None,
        *,
        workers: WorkerRegistry | None = None,
        clock: EpochClock | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.workers = workers
        # jobs whose deadline closed by the clock's epoch are not handed out
        self.clock = clock or EpochClock()
        self.poll_interval = poll_interval
        # tells the other managers (set by the manager when it has a notifier)
        self.on_kick: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self._kicked = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, store: JobStore, workers: WorkerRegistry) -> None:
        self.store = store
        self.workers = workers
        self._thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops dispatching and lets every waiting Claim return empty."""
        self._stopped.set()
        self._kicked.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            for waiter in self._waiters:
                waiter.state = CANCELLED
                waiter.event.set()
            self._waiters.clear()

    def kick(self) -> None:
        """Jobs may have become ready: run a dispatch pass soon, here and
        (through ``on_kick``, LISTEN/NOTIFY on PostgreSQL) at every other
        manager on the database, whose waiting workers may take them."""
        self._kicked.set()
        self.on_kick()

    def wake(self) -> None:
        """Another manager said jobs may have become ready: a pass here only."""
        self._kicked.set()

    def claim(
        self,
        worker: str,
        wait: float,
        is_active: Callable[[], bool],
        exclude: tuple[int, ...] = (),
    ) -> JobRow | None:
        """A job for ``worker`` within ``wait`` seconds, or None."""
        job = self._claim(worker, exclude)
        if job is not None or wait <= 0:
            return job
        waiter = _Waiter(worker, exclude, is_active)
        with self._lock:
            self._waiters.append(waiter)
        until = time.monotonic() + wait
        while True:
            remaining = until - time.monotonic()
            if waiter.event.wait(max(0.0, min(remaining, 0.5))):
                break
            if remaining <= 0 or not is_active() or self._stopped.is_set():
                with self._lock:
                    if waiter.state == WAITING:
                        waiter.state = CANCELLED
                        self._waiters.remove(waiter)
                        return None
                # a claim on this waiter's behalf is in flight: take its result
                waiter.event.wait(60)
                break
        if waiter.error is not None:
            raise waiter.error
        return waiter.job

    def _claim(self, worker: str, exclude: tuple[int, ...]) -> JobRow | None:
        return self.store.claim(
            worker, epoch=self.clock.epoch(), registered_only=True, exclude=exclude
        )

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._kicked.wait(self.poll_interval)
            self._kicked.clear()
            if self._stopped.is_set():
                return
            try:
                self._pass()
            except Exception as exc:  # never let the dispatcher die
                log.warning("dispatch_pass_failed", error=str(exc))

    def _pass(self) -> None:
        with self._lock:
            queue = list(self._waiters)
        exhausted: set[tuple] = set()  # filters for which nothing is ready
        for waiter in queue:
            with self._lock:
                if waiter.state != WAITING:
                    continue
                if not waiter.is_active():
                    waiter.state = CANCELLED
                    self._waiters.remove(waiter)
                    waiter.event.set()
                    continue
                waiter.state = CLAIMING
            try:
                worker = self.workers.get(waiter.worker)
            except Exception:
                worker = None
            # what the worker may take (its refused proof types left out)
            filt = claim_filter(worker)
            key = (
                tuple(sorted(filt.miners)),
                tuple(sorted(filt.proof_types)),
                filt.nothing,
                waiter.exclude,
            )
            job, error = None, None
            if key not in exhausted:
                try:
                    job = self._claim(waiter.worker, waiter.exclude)
                except (StoreUnavailable, UnknownWorker) as exc:
                    error = exc
                except Exception as exc:  # resolve the waiter whatever happens
                    error = StoreUnavailable(f"dispatch failed: {exc}")
            with self._lock:
                if job is not None or error is not None:
                    waiter.job, waiter.error, waiter.state = job, error, DONE
                    self._waiters.remove(waiter)
                    waiter.event.set()
                else:
                    waiter.state = WAITING
                    exhausted.add(key)
            if key == ((), (), False, ()) and key in exhausted:
                return  # nothing ready at all: no one else can get anything
