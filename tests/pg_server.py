"""A PostgreSQL server of a test's own (Debian's binaries, a data directory
in the test's tmp), so that the test may stop and start it: the shared one
of PROVER_TEST_POSTGRES_URL serves every other test and must stay up."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def pg_bin() -> Path | None:
    """The newest installed server's bin directory (Debian's layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    ctl = shutil.which("pg_ctl")
    return Path(ctl).parent if ctl else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateServer:
    """initdb, then start/stop at will; ``url`` stays valid across restarts.
    As root (CI), the server runs as the ``postgres`` user."""

    def __init__(self) -> None:
        binaries = pg_bin()
        if binaries is None:
            raise RuntimeError("no PostgreSQL server installed (Debian's postgresql package)")
        self.bin = binaries
        # under /tmp itself: pytest's tmp (0700, root's) is closed to the
        # postgres user the server runs as under root
        root = Path(tempfile.mkdtemp(prefix="prover-test-pg-"))
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(root, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def _run(self, *argv: str) -> None:
        if self._as_postgres:
            argv = ("su", "postgres", "-c", " ".join(f"'{a}'" for a in argv))
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def start(self) -> PrivateServer:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c fsync=off"
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

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
