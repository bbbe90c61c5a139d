"""The chain's current epoch, as this manager knows it: one explicit object
that the tracker moves on each head and that the dispatcher, the sweeps and
the status answer read (the store takes the epoch as an argument).

With no chain followed, a configured genesis gives the epoch from wall time;
with neither, the epoch is unknown (None) and nothing expires by epoch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class EpochClock:
    def __init__(
        self,
        genesis_unix: float = 0,
        epoch_seconds: float = 30.0,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._genesis = genesis_unix
        self._step = epoch_seconds
        self._wall = wall
        self._head: int | None = None
        self._lock = threading.Lock()

    @classmethod
    def following_chain(cls) -> EpochClock:
        """An epoch known only from heads the tracker observes."""
        return cls(0)

    def observe(self, height: int) -> None:
        """The tracker saw a head at ``height`` (a reorg may move it back)."""
        with self._lock:
            self._head = height

    def epoch(self) -> int | None:
        with self._lock:
            if self._head is not None:
                return self._head
        if not self._genesis:
            return None
        return int((self._wall() - self._genesis) // self._step)
