"""A PostgreSQL server of our own on this machine, from the installed
binaries (Debian's ``postgresql`` package: ``initdb`` and ``pg_ctl``), for
``prover demo --managers N`` and for tests that stop and start it.

It listens on loopback only, with its socket in its data directory. As
root (PostgreSQL refuses to run as root) it runs as the ``postgres`` user,
in a directory that user can reach.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path


class NoPostgres(Exception):
    pass


def pg_bin() -> Path | None:
    """The newest installed server's bin directory (Debian's layout, else PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    ctl = shutil.which("pg_ctl")
    return Path(ctl).parent if ctl else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_dir_for(home: Path) -> Path:
    """Where a home's server keeps its data: in the home, or as root (whose
    home the postgres user cannot enter) under /var/tmp, named after it."""
    if os.geteuid() != 0:
        return home / "postgres"
    tag = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"prover-postgres-{tag}"


class LocalPostgres:
    """``start`` (initdb the first time), ``stop``; ``url`` stays valid
    across restarts (the port is chosen once)."""

    def __init__(self, root: Path, *, port: int | None = None) -> None:
        binaries = pg_bin()
        if binaries is None:
            raise NoPostgres(
                "no PostgreSQL server is installed: several managers share one PostgreSQL "
                "database; install one (Debian: apt-get install postgresql), or run one manager"
            )
        self.bin = binaries
        self.root = root
        self.data = root / "data"
        self.port = port or free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *argv: str, timeout: float = 120) -> None:
        if self._as_postgres:
            argv = ("su", "postgres", "-c", " ".join(f"'{a}'" for a in argv))
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise NoPostgres(
                f"{Path(argv[0] if not self._as_postgres else argv[3]).name} failed: "
                f"{(proc.stderr or proc.stdout).strip()[-500:]}"
            )

    def running(self) -> bool:
        """Whether a server runs on this data directory (``pg_ctl status``)."""
        if not (self.data / "postmaster.pid").exists():
            return False
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", timeout=30)
        except NoPostgres:
            return False
        return True

    def start(self, *, replace_leftover: bool = False) -> LocalPostgres:
        """Starts the server (``initdb`` the first time). ``replace_leftover``
        first stops a server still running on the data directory: one whose
        owner was killed (``pg_ctl`` detaches the server, so no death signal
        reaches it) and that would otherwise refuse this start ("another
        server might be running"). Only for an owner that knows no one else
        can be using it, as the demo does under its home lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        if replace_leftover and self.running():
            self.stop("fast")
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
            )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "log"), "-w", "start",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every connection (a restart as an operator does it);
        ``immediate`` is a crash."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def close(self, *, remove: bool = False) -> None:
        with contextlib.suppress(NoPostgres):  # not running
            self.stop("fast")
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)
