"""Managers on one PostgreSQL database tell each other what changed, over
LISTEN/NOTIFY: jobs that may have become ready (a worker long-polling at
another manager takes them at once rather than at its next poll) and proofs
that came in (the leader's tracker submits at once, whichever manager the
worker finished at).

A notification is a hint, never the state: it is sent after the change has
committed and carries only the sender's name (a manager ignores its own).
One connection listens, on a thread that reconnects with backoff when the
database goes away, and acts on every channel once after each reconnect
(whatever was sent meanwhile is lost). Another thread sends, coalescing a
burst of changes into one notification each. On SQLite, which has one
manager, there is nothing to tell and this is not used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import psycopg

from prover.backoff import Backoff
from prover.logs import get_logger
from prover.store.engine import normalise_url

log = get_logger("prover.store.notify")

JOBS = "prover_jobs"  # jobs may have become ready
PROOFS = "prover_proofs"  # a proof was accepted: submit
CHANNELS = (JOBS, PROOFS)


def libpq_url(url: str) -> str:
    """The URL as psycopg itself takes it (no SQLAlchemy driver suffix)."""
    return normalise_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


class Notifier:
    """Sends and receives the managers' notifications; ``start`` then ``stop``."""

    def __init__(
        self,
        url: str,
        name: str,
        handlers: Mapping[str, Callable[[], None]],
        *,
        max_backoff_s: float = 5.0,
    ) -> None:
        unknown = set(handlers) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown channels {sorted(unknown)}")
        self.url = libpq_url(url)
        self.name = name
        self.handlers = dict(handlers)
        self.max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._wanted: set[str] = set()
        self._want = threading.Condition()
        self._threads: list[threading.Thread] = []
        self.listening = threading.Event()  # set while LISTEN is in place

    def start(self) -> Notifier:
        for target, name in ((self._listen, "notify-listen"), (self._send, "notify-send")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._want:
            self._want.notify_all()
        for t in self._threads:
            t.join(3)

    def notify(self, channel: str) -> None:
        """Tells the other managers (soon, from the sending thread)."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        with self._want:
            self._wanted.add(channel)
            self._want.notify()

    # ---- threads -------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def _send(self) -> None:
        conn: psycopg.Connection | None = None
        backoff = Backoff(0.2, self.max_backoff_s)
        while not self._stop.is_set():
            with self._want:
                while not self._wanted and not self._stop.is_set():
                    self._want.wait()
                channels, self._wanted = self._wanted, set()
            if self._stop.is_set():
                break
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                for channel in sorted(channels):
                    conn.execute("SELECT pg_notify(%s, %s)", (channel, self.name))
                backoff.reset()
            except psycopg.Error as exc:
                log.warning("notify_failed", channels=sorted(channels), error=str(exc))
                if conn is not None:
                    conn.close()
                conn = None
                # the others poll too (the dispatcher each second): a lost
                # hint costs latency, not a job
                backoff.wait(self._stop)
        if conn is not None:
            conn.close()

    def _listen(self) -> None:
        backoff = Backoff(0.2, self.max_backoff_s)
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    for channel in self.handlers:
                        conn.execute(f"LISTEN {channel}")
                    self.listening.set()
                    backoff.reset()
                    # whatever was sent while we were not listening
                    for handler in self.handlers.values():
                        handler()
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=0.5):
                            if n.payload != self.name and n.channel in self.handlers:
                                self.handlers[n.channel]()
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("notify_listen_lost", error=str(exc), retry_in=backoff.delay)
                backoff.wait(self._stop)
        self.listening.clear()
