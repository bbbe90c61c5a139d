"""One manager per SQLite home, as Lotus locks its repo: a second
``prover-manager daemon run`` on a home whose manager runs refuses at once,
naming the home and the pid; once the first is killed, the home is free."""

from __future__ import annotations

import os
import subprocess
import sys

from manager_harness import ManagerProcess


def _second(home) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "prover.cli.manager_main", "daemon", "run"],
        env={**os.environ, "PROVER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_manager_on_a_sqlite_home_is_refused_naming_the_pid(tmp_path):
    first = ManagerProcess(tmp_path / "home").start()
    try:
        second = _second(first.home)
        assert second.returncode != 0
        assert f"home {first.home} is in use by prover-manager pid {first.proc.pid}" in (
            second.stderr
        ), second.stderr
        assert first.proc.poll() is None  # the first goes on
    finally:
        first.kill()
    # kill -9 leaves no stale lock: the kernel dropped it with the process
    again = first.start()
    again.terminate()
