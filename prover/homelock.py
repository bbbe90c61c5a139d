"""One process per home, as Lotus locks its repo: a second manager on a
home whose manager runs (or a second demo) refuses at once, naming the home
and the pid that holds it, instead of two managers sharing one SQLite file
(and two devnets one chain).

The lock is ``fcntl.flock`` on a file in the home, which holds the pid for
the message: the kernel drops it when the process dies, however it dies, so
a crash never leaves a stale lock behind. PostgreSQL is how to run several
managers; each then has a home of its own, or shares one without SQLite.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class HomeInUse(Exception):
    pass


class HomeLock:
    """Held from ``acquire`` until the process exits (or ``release``)."""

    def __init__(self, home: Path, name: str, what: str) -> None:
        self.path = home / name
        self.home = home
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> HomeLock:
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise HomeInUse(
                f"home {self.home} is in use by {self.what} pid {holder} (lock {self.path}); "
                "stop it first, or give this one another home (--home or PROVER_HOME); "
                "PostgreSQL is how to run several managers"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def lock_manager_home(home: Path) -> HomeLock:
    """The lock of a manager on SQLite in ``home`` (``HomeInUse`` if held)."""
    return HomeLock(home, "manager.lock", "prover-manager").acquire()


def lock_demo_home(home: Path) -> HomeLock:
    """The lock of ``prover demo`` on ``home`` (``HomeInUse`` if held)."""
    return HomeLock(home, "demo.lock", "prover demo").acquire()
