"""Wakes long-polling Claim calls the moment a job may have become ready.

Anything that makes jobs ready in this process (adds, resets, requeues,
releases) calls ``notify``; waiting claims then retry at once. A bounded
wait also makes them re-check the table now and then, for jobs another
manager process made ready (PostgreSQL scale-out)."""

from __future__ import annotations

import threading


class Dispatcher:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._version = 0

    @property
    def version(self) -> int:
        with self._cond:
            return self._version

    def notify(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Waits until something changed since version ``seen``."""
        with self._cond:
            return self._cond.wait_for(lambda: self._version != seen, timeout)
