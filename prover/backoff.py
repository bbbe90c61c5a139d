"""The pause between two tries of a loop that retries: exponential, with a
cap, reset once a try succeeds.

Every retry loop of the package (the worker's calls to its managers, the
Lotus client, a storage host's announcements and its miner index, the
managers' LISTEN/NOTIFY, parameter downloads, alert delivery) waits by
this one rule, so that "how long until the next try" has one meaning and
one test. The loops wait on their own ``threading.Event`` (or clock), so
that a shutdown cuts a pause short: this class only says how long.

Jitter is off unless asked for: a fraction ``j`` takes each pause from
``[(1 - j) * d, d]``, never above the cap, for clients that would
otherwise all retry in step after one server came back."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable


class Backoff:
    """``first``, ``first * factor``, ... up to ``cap``; ``reset`` starts
    over. Not shared between threads: each loop owns its own."""

    def __init__(
        self,
        first: float,
        cap: float,
        *,
        factor: float = 2.0,
        jitter: float = 0.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if first < 0 or cap < first:
            raise ValueError(f"backoff needs 0 <= first <= cap, got {first} and {cap}")
        if factor < 1 or not 0 <= jitter <= 1:
            raise ValueError(f"backoff needs factor >= 1, jitter in [0, 1]: {factor}, {jitter}")
        self.first, self.cap, self.factor, self.jitter = first, cap, factor, jitter
        self._rand = rand
        self._next = first

    @property
    def delay(self) -> float:
        """The pause the next ``next()`` gives (before jitter)."""
        return self._next

    def next(self) -> float:
        """The pause to take now; the one after it grows towards the cap."""
        delay = self._next
        self._next = min(delay * self.factor, self.cap)
        if self.jitter:
            delay *= 1 - self.jitter * self._rand()
        return delay

    def reset(self) -> None:
        """A try succeeded: the next failure waits ``first`` again."""
        self._next = self.first

    def wait(self, event: threading.Event) -> bool:
        """Takes the next pause on ``event``; True when it was set meanwhile
        (the loop is asked to stop)."""
        return event.wait(self.next())
