"""Repeated identical warnings and errors, logged once and then summarised.

A database that is away for a minute made every manager and worker write
the same warnings (``database_unavailable``, ``manager_unreachable``,
``sweep_skipped``...) dozens of times a second: an operator cannot read such
a log, and on a fleet it is gigabytes. This processor lets the first of a
run of identical events through, drops the repeats for a window (30 s),
and then says how many it held back, as the same event with
``repeated=N`` and ``window_s`` ("N more in the last 30 s"): when the run
goes on past the window (on its next line), or once it has
stopped (checked at the next event, and by a timer so that a process that
falls silent still says it). A different event (the recovery, a changed
error) is never held back, and events below warning are never touched.

"Identical" means the same level, event and fields, leaving out
the time and float fields (delays, ages, seconds waited: they differ on
every retry and say nothing new); integers (miner, deadline, job) and
strings (the error) count, so a changed error is logged at once.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import structlog

WINDOW_S = 30.0
MAX_RUNS = 1000  # runs remembered at once: the oldest is forgotten (its summary said)
HELD = logging.WARNING
IGNORED_KEYS = frozenset({"timestamp", "repeated", "window_s"})

Emit = Callable[[str, MutableMapping[str, Any]], None]


@dataclass
class _Run:
    started: float
    last_seen: float
    method: str
    latest: MutableMapping[str, Any]
    repeats: int = 0  # dropped since the last line written
    extra: dict[str, Any] = field(default_factory=dict)


def _key(method: str, event: MutableMapping[str, Any]) -> tuple:
    fields = tuple(
        sorted(
            (k, repr(v))
            for k, v in event.items()
            if k not in IGNORED_KEYS and not isinstance(v, float)
        )
    )
    return (method, fields)


class RepeatFilter:
    """A structlog processor (placed before the renderer) that holds back
    repeats; ``emit`` writes a summary line through the rest of the chain."""

    def __init__(
        self,
        emit: Emit,
        *,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        timer: bool = True,
    ) -> None:
        self.emit = emit
        self.window_s = window_s
        self.clock = clock
        self._runs: OrderedDict[tuple, _Run] = OrderedDict()
        # reentrant: a signal handler that logs may run while this thread logs
        self._lock = threading.RLock()
        self._timer = timer
        self._thread: threading.Thread | None = None
        if timer:  # what is held back at exit is said then
            atexit.register(self._at_exit)

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        level = logging.getLevelNamesMapping().get(method.upper(), logging.INFO)
        now = self.clock()
        with self._lock:
            due = self._stopped(now)
            if level < HELD:
                verdict: MutableMapping[str, Any] | None = event
            else:
                verdict = self._judge(_key(method, event), method, event, now)
        for m, summary in due:
            self.emit(m, summary)
        if verdict is None:
            self._start_timer()  # so that a run which stops is still summarised
            raise structlog.DropEvent
        return verdict

    def _judge(
        self, key: tuple, method: str, event: MutableMapping[str, Any], now: float
    ) -> MutableMapping[str, Any] | None:
        run = self._runs.get(key)
        if run is None:
            self._runs[key] = _Run(started=now, last_seen=now, method=method, latest=dict(event))
            while len(self._runs) > MAX_RUNS:
                _, old = self._runs.popitem(last=False)
                if old.repeats:
                    self.emit(old.method, _summary(old, now))
            return event
        run.last_seen, run.latest = now, dict(event)
        if now - run.started < self.window_s:
            run.repeats += 1
            return None
        # the run goes on past its window: this line says how many it held
        repeats, run.started, run.repeats = run.repeats, now, 0
        self._runs.move_to_end(key)
        if repeats:
            event["repeated"] = repeats
            event["window_s"] = round(self.window_s, 1)
        return event

    def _stopped(
        self, now: float, *, everything: bool = False
    ) -> list[tuple[str, MutableMapping[str, Any]]]:
        """Runs silent for a window (or all): their summaries, and forgotten."""
        due = []
        for key, run in list(self._runs.items()):
            if everything or now - run.last_seen >= self.window_s:
                del self._runs[key]
                if run.repeats:
                    due.append((run.method, _summary(run, now)))
        return due

    def flush(self, *, everything: bool = False) -> None:
        """Writes the summaries of runs that have stopped (the timer's
        work), or of every run holding repeats (at exit)."""
        with self._lock:
            due = self._stopped(self.clock(), everything=everything)
        for m, summary in due:
            self.emit(m, summary)

    def _start_timer(self) -> None:
        if not self._timer or self._thread is not None or not self._runs:
            return
        self._thread = threading.Thread(target=self._tick, name="log-repeats", daemon=True)
        self._thread.start()

    def _at_exit(self) -> None:
        with contextlib.suppress(Exception):  # stderr may be gone
            self.flush(everything=True)

    def _tick(self) -> None:
        while True:
            time.sleep(self.window_s / 3)
            try:
                self.flush()
            except Exception:  # a closed stderr at exit: nothing to say it to
                return


def _summary(run: _Run, now: float) -> MutableMapping[str, Any]:
    out = dict(run.latest)
    out.pop("timestamp", None)
    out["repeated"] = run.repeats
    out["window_s"] = round(now - run.started, 1)
    return out
