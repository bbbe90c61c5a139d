"""One process per home, as Lotus locks its repo: a second manager on a
home whose manager runs (or a second demo, or a second devnet on one devnet
home) refuses at once, naming the home and the pid that holds it, instead of
two managers sharing one SQLite file and two devnets one chain.

The lock is ``fcntl.flock`` on a file in the home, which holds the pid (and
what kind of process it is) for the message: the kernel drops it when the
process dies, however it dies, so a crash never leaves a stale lock behind,
and no one has to judge whether a recorded pid is still alive. The file
itself stays; only the flock on it counts.

- ``manager.lock``: a manager on SQLite in the home (``prover-manager daemon
  run``). PostgreSQL is how to run several managers; they take no manager
  lock and may share a home, as long as none of them runs the home's devnet.
- ``devnet/devnet.lock``: the process that runs the home's devnet (``prover
  devnet run``, or a manager's embedded devnet), and ``prover devnet init``
  while it replaces the chain: one chain per devnet home. A second manager
  on the same chain follows it through ``[chain] api`` instead.
- ``demo.lock``: ``prover demo``.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

MANAGER_LOCK = "manager.lock"
DEVNET_LOCK = "devnet/devnet.lock"
DEMO_LOCK = "demo.lock"

MANAGER_HINT = "PostgreSQL is how to run several managers"
DEVNET_HINT = (
    "a devnet home runs one chain: point another manager's [chain] api at the running "
    "devnet (`prover devnet chain-config` prints the keys) instead"
)


class HomeInUse(Exception):
    """Another live process holds this home's lock (the message names it)."""


class HomeLock:
    """Held from ``acquire`` until ``release`` or the process exits (closing
    the file, even at a crash, drops the flock)."""

    def __init__(self, home: Path, name: str, what: str, *, hint: str = MANAGER_HINT) -> None:
        self.home = home
        self.path = home / name
        self.what = what
        self.hint = hint
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> HomeLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            # A few tries over a fifth of a second: ``holder`` takes the lock
            # shared for an instant to ask, which must not refuse a start.
            for tries_left in reversed(range(10)):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not tries_left:
                        raise HomeInUse(
                            f"home {self.home} is in use by {_read_holder(fd)} "
                            f"(lock {self.path}); stop it first, or give this one another "
                            f"home (--home or PROVER_HOME); {self.hint}"
                        ) from None
                    time.sleep(0.02)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.what}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drops the lock (the file stays: only the flock counts)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HomeLock:
        return self if self.held else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    """The holder as a refusal names it (``<what> pid <pid>``), from a held
    lock's file. The holder writes it just after taking the flock, so an
    empty file is read again for a moment."""
    text = ""
    for _ in range(20):
        text = os.pread(fd, 256, 0).decode(errors="replace").strip()
        if text:
            break
        time.sleep(0.025)
    pid, _, what = text.partition(" ")
    return f"{what or 'a process'} pid {pid or 'unknown'}"


def holder(home: Path, name: str) -> str | None:
    """Who holds ``name`` in ``home`` ("prover devnet run pid 1234"), or None
    when no live process does: asked of the kernel (a non-blocking flock
    taken and dropped at once), never judged from the pid in the file."""
    path = home / name
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(fd)
    finally:
        os.close(fd)  # drops the shared lock if it was taken
    return None


def lock_manager_home(home: Path) -> HomeLock:
    """The lock of a manager on SQLite in ``home`` (``HomeInUse`` if held)."""
    return HomeLock(home, MANAGER_LOCK, "prover-manager").acquire()


def lock_demo_home(home: Path) -> HomeLock:
    """The lock of ``prover demo`` on ``home`` (``HomeInUse`` if held)."""
    return HomeLock(home, DEMO_LOCK, "prover demo").acquire()


def lock_devnet_home(home: Path, what: str = "prover-manager") -> HomeLock:
    """The lock of the process that runs ``home``'s devnet, ``what`` naming
    it in a refusal ("prover devnet run", or a manager for its embedded
    devnet); ``HomeInUse`` while another holds it. Release it when the
    devnet stops (a manager started again in the same process must be able
    to take it again)."""
    return HomeLock(home, DEVNET_LOCK, what, hint=DEVNET_HINT).acquire()
