"""Sector checks off the tracker's tick: a bounded pool of threads, a
timeout per check, and a bound on the threads a hung storage can take.

Before a faulty sector is declared recovered its files are read (a vanilla
proof over fresh challenges). On a healthy storage that takes milliseconds;
on a dead NFS mount the read may never return, and a thread blocked in the
kernel cannot be interrupted, cancelled or killed from Python. A
``ThreadPoolExecutor`` would keep such a thread as one of its workers for
good, and after ``parallelism`` of them no check of any miner would run
again. So this pool has its own threads:

- A check still running after ``timeout_s`` is answered at once ("check
  timed out after N s": the sector stays faulty) and its thread is written
  off: it leaves the pool, another is started in its place, and if its read
  ever returns the result is thrown away and the thread rejoins the pool
  (or exits, when the pool is full again).
- Replacements are started only while at most ``parallelism`` threads
  are written off, so the process never holds more than twice
  ``parallelism`` check threads. Past that bound none is started: the pool
  runs on the threads it has left, and when none is left every check
  waiting, and every new one, is answered at once as not run. A deadline's
  checks therefore always finish (its recovery is declared without those
  sectors) instead of waiting on a storage that may never answer.
- Batches (one miner's deadline each) take turns: a deadline of 20,000
  faulty sectors does not make another miner's few wait behind it.

Results are read by polling (``result``), from the tracker's tick, or
handed as they come to a batch's ``on_result`` (a storage host streams each
sector's vanilla proof as it is read). A check's result is whatever it
returns; a string always means "why not" (the timeout and not-run answers
are strings), so recovery checks return None or a reason, and vanilla
proofs bytes or a reason.

The pool lives with the storage code because both sides that read sector
files use it: the storage host for its vanilla proofs, and the manager for
the recovery checks of storages it mounts itself.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

from prover.logs import get_logger

log = get_logger("prover.storage.pool")

# a sector's result: a string says why it would not prove (None, or the
# vanilla proof's bytes, that it would)
Check = Callable[[int], object]
OnResult = Callable[[int, object], None]


@dataclass
class _Batch:
    check: Check
    todo: deque[int]
    results: dict[int, object] = field(default_factory=dict)
    running: int = 0
    on_result: OnResult | None = None

    def answer(self, sector: int, result: object) -> None:
        """Records a result (lock held) and hands it on. ``on_result`` must
        be quick and must not call back into the pool (a queue put)."""
        self.results[sector] = result
        if self.on_result is not None:
            try:
                self.on_result(sector, result)
            except Exception:  # the pool must go on whatever the listener does
                log.exception("check_result_listener_failed", sector=sector)


@dataclass
class _Run:
    batch: _Batch
    sector: int
    started: float
    written_off: bool = False


class CheckPool:
    """Runs each batch's checks on at most ``parallelism`` threads at once,
    batches in turn, each check given ``timeout_s`` (see the module
    docstring for what becomes of a check that never returns)."""

    def __init__(self, parallelism: int, timeout_s: float, *, name: str = "recovery-check") -> None:
        if parallelism < 1 or timeout_s <= 0:
            raise ValueError("parallelism must be at least 1 and timeout_s positive")
        self.parallelism = parallelism
        self.timeout_s = timeout_s
        self.name = name
        self._cond = threading.Condition()
        self._batches: dict[Hashable, _Batch] = {}
        self._turns: deque[Hashable] = deque()  # batches with checks to start
        self._running: dict[int, _Run] = {}
        self._ids = itertools.count()
        self._threads = itertools.count()
        self._live = 0  # threads of the pool, idle or checking
        self._hung = 0  # threads written off, still blocked in a check
        self._watchdog: threading.Thread | None = None
        self._closed = False

    # ---- the tracker's side ------------------------------------------------------------

    def start(
        self,
        key: Hashable,
        sectors: Iterable[int],
        check: Check,
        on_result: OnResult | None = None,
    ) -> None:
        """Checks ``sectors`` with ``check`` as batch ``key`` (a batch already
        under way is replaced); ``on_result(sector, result)`` as each is
        answered, if given."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the check pool is closed")
            self._batches[key] = _Batch(check, deque(sectors), on_result=on_result)
            if key not in self._turns:
                self._turns.append(key)
            self._start_threads()
            if self._live == 0:
                self._answer_waiting()
            self._cond.notify_all()

    def result(self, key: Hashable) -> dict[int, object] | None:
        """Every sector of batch ``key`` with why it would not prove (None:
        it would), once all are answered, and the batch is forgotten; None
        while checks run or are waiting (or for an unknown batch)."""
        with self._cond:
            batch = self._batches.get(key)
            if batch is None or batch.todo or batch.running:
                return None
            del self._batches[key]
            return batch.results

    def cancel(self, key: Hashable) -> None:
        """Forgets batch ``key``: its waiting checks are not run, the results
        of its running ones are thrown away."""
        with self._cond:
            self._batches.pop(key, None)

    def batches(self) -> set[Hashable]:
        with self._cond:
            return set(self._batches)

    def hung(self) -> int:
        """Threads written off, still blocked in a check."""
        with self._cond:
            return self._hung

    def close(self) -> None:
        """Idle threads exit; hung ones are daemons and die with the process."""
        with self._cond:
            self._closed = True
            self._batches.clear()
            self._turns.clear()
            self._cond.notify_all()

    # ---- the pool's threads ------------------------------------------------------------

    def _start_threads(self) -> None:
        """Fills the pool up to ``parallelism`` live threads while at most
        ``parallelism`` are written off, so that live and hung threads never
        number more than twice ``parallelism`` (called with the lock held)."""
        if self._watchdog is None:
            self._watchdog = threading.Thread(
                target=self._watch, name=f"{self.name}-watchdog", daemon=True
            )
            self._watchdog.start()
        while self._live < self.parallelism and self._hung <= self.parallelism:
            self._live += 1
            threading.Thread(
                target=self._work, name=f"{self.name}-{next(self._threads)}", daemon=True
            ).start()

    def _take(self) -> tuple[int, _Run] | None:
        """The next check, batches in turn; waits for one (lock held). None
        when the pool closes."""
        while not self._closed:
            while self._turns:
                key = self._turns.popleft()
                batch = self._batches.get(key)
                if batch is None or not batch.todo:
                    continue
                sector = batch.todo.popleft()
                if batch.todo:
                    self._turns.append(key)
                batch.running += 1
                run_id = next(self._ids)
                run = _Run(batch, sector, time.monotonic())
                self._running[run_id] = run
                self._cond.notify_all()  # the watchdog times the new run
                return run_id, run
            self._cond.wait()
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                taken = self._take()
                if taken is None:
                    self._live -= 1
                    return
            run_id, run = taken
            try:
                why = run.batch.check(run.sector)
            except Exception as exc:  # a bug in a check is that sector's answer
                why = f"check failed: {type(exc).__name__}: {exc}"
            with self._cond:
                if run.written_off:  # answered long ago: the result is stale
                    self._hung -= 1
                    log.info("sector_check_returned_late", sector=run.sector)
                    if self._closed or self._live >= self.parallelism:
                        return
                    self._live += 1  # back in the pool
                    continue
                del self._running[run_id]
                run.batch.running -= 1
                run.batch.answer(run.sector, why)  # of a cancelled batch: nobody reads it

    def _watch(self) -> None:
        """Answers and writes off checks past their timeout."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                due = [
                    (i, r) for i, r in self._running.items() if now - r.started >= self.timeout_s
                ]
                for run_id, run in due:
                    self._write_off(run_id, run)
                if due:
                    self._start_threads()
                    if self._live == 0:
                        self._answer_waiting()
                first = min((r.started for r in self._running.values()), default=None)
                self._cond.wait(None if first is None else first + self.timeout_s - now)

    def _write_off(self, run_id: int, run: _Run) -> None:
        del self._running[run_id]
        run.written_off = True
        self._live -= 1
        self._hung += 1
        run.batch.running -= 1
        run.batch.answer(run.sector, f"check timed out after {self.timeout_s:g} s")
        log.warning(
            "sector_check_timed_out",
            sector=run.sector,
            timeout_s=self.timeout_s,
            hung_threads=self._hung,
        )

    def _answer_waiting(self) -> None:
        """No thread is left to run a check: every waiting one is answered
        as not run (lock held)."""
        why = (
            f"not checked: {self._hung} checks are stuck past {self.timeout_s:g} s "
            "(a storage not answering)"
        )
        for batch in self._batches.values():
            while batch.todo:
                batch.answer(batch.todo.popleft(), why)
        self._turns.clear()
