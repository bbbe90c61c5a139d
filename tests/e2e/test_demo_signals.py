"""``prover demo`` stopped by SIGTERM (what ``timeout``, systemd and CI
send) stops as on Ctrl-C: the summary, exit 0, and every daemon it started
stopped cleanly (each one's own SIGTERM handling), none left behind. Killed
with -9, it cannot stop anything itself: its children die with it anyway
(a parent-death signal, prover.cli.children).

Children are found by parent pid in /proc before the signal, so a daemon
orphaned to init is still seen; a zombie counts as gone (its reaper may
not be ours), and a pid is the same process only with the same start time.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from prover.localpg import data_dir_for, pg_bin

# 12 deadlines of 6 s, as tests/e2e/test_demo.py: a partition proven every 18 s
SHAPE = ["--window", "6", "--deadlines", "12"]
PROVEN = re.compile(r"miner t01000 deadline \d+ partition \d+ proven")
# printed once the storage host and every worker logged their /metrics:
# every child of the demo is up
ALL_UP = "metrics of the storage host and workers too"

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot)


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command's name (state first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def _by_parent() -> dict[int, list[Proc]]:
    out: dict[int, list[Proc]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            out.setdefault(int(fields[1]), []).append((int(entry.name), int(fields[19])))
    return out


def children(root: int) -> set[Proc]:
    return set(_by_parent().get(root, []))


def descendants(root: int) -> set[Proc]:
    """Every process under ``root``, children of children included."""
    parents = _by_parent()
    found, todo = set(), [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child[0])
    return found


def alive(procs: set[Proc]) -> set[Proc]:
    return {
        (pid, start)
        for pid, start in procs
        if (fields := _stat(pid)) is not None and int(fields[19]) == start and fields[0] != "Z"
    }


def wait_gone(procs: set[Proc], timeout: float) -> set[Proc]:
    until = time.monotonic() + timeout
    while alive(procs) and time.monotonic() < until:
        time.sleep(0.2)
    return alive(procs)


class Demo:
    """``prover demo`` in a fresh home, its output read as it comes."""

    def __init__(self, home: Path, *args: str) -> None:
        self.home = home
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prover.cli", "demo", *SHAPE, *args],
            env={**os.environ, "PROVER_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern | str, timeout: float) -> None:
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if re.search(pattern, self.out):
                return
            assert self.proc.poll() is None, f"the demo exited:\n{self.out}"
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.out}")

    def cleanup(self, procs: set[Proc]) -> None:
        """Whatever a failed test left running: the demo, then the
        processes it had (by pid and start time, never by name)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for pid, _ in alive(procs):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    "managers",
    [
        1,  # the manager runs the devnet
        pytest.param(
            2,  # `prover devnet run` of its own, PostgreSQL
            marks=pytest.mark.skipif(pg_bin() is None, reason="no PostgreSQL server installed"),
        ),
    ],
)
def test_sigterm_stops_the_demo_as_ctrl_c_does_and_every_child_with_it(tmp_path, managers):
    home = tmp_path / "home"
    demo = Demo(home, "--managers", str(managers))
    procs: set[Proc] = set()
    postgres: Proc | None = None
    try:
        demo.wait_for(PROVEN, 180)
        demo.wait_for(ALL_UP, 30)
        procs = descendants(demo.proc.pid)
        # the manager(s), the storage host, 2 workers; the devnet's own with 2 managers
        assert len(children(demo.proc.pid)) == 4 + (managers > 1) * 2, demo.out
        postgres = _postmaster(home) if managers > 1 else None
        demo.proc.send_signal(signal.SIGTERM)
        assert demo.proc.wait(90) == 0, demo.out
        time.sleep(0.5)  # the reader thread drains the pipe
        assert re.search(r"summary \(epochs \d+-\d+\): [1-9] deadlines proven", demo.out), demo.out
        assert wait_gone(procs, 5) == set(), demo.out
        # each stopped on its own SIGTERM, not killed
        logs = home / "logs"
        names = ["storage.log", "worker-0.log", "worker-1.log"]
        names += ["manager.log"] if managers == 1 else ["manager-1.log", "manager-2.log"]
        for name in names:
            log = (logs / name).read_text()
            assert re.search(r"signal_received.*SIGTERM", log), f"{name}:\n{log[-2000:]}"
        if managers > 1:
            assert "devnet stopped at epoch" in (logs / "devnet.log").read_text()
            assert wait_gone({postgres}, 5) == set()  # not a child: stopped by the demo
    finally:
        demo.cleanup(procs)
        if postgres is not None and alive({postgres}):
            os.kill(postgres[0], signal.SIGINT)  # PostgreSQL's fast shutdown
            wait_gone({postgres}, 30)
        if managers > 1 and data_dir_for(home) != home / "postgres":
            shutil.rmtree(data_dir_for(home), ignore_errors=True)  # as root: under /var/tmp


def _postmaster(home: Path) -> Proc:
    """The demo's PostgreSQL server (started by pg_ctl: not a child)."""
    pid = int((data_dir_for(home) / "data" / "postmaster.pid").read_text().split()[0])
    return pid, int(_stat(pid)[19])


def test_the_demos_children_die_with_it_when_it_is_killed(tmp_path):
    demo = Demo(tmp_path / "home")
    procs: set[Proc] = set()
    try:
        demo.wait_for(ALL_UP, 180)
        procs = descendants(demo.proc.pid)
        assert len(children(demo.proc.pid)) == 4, demo.out  # manager, storage host, 2 workers
        demo.proc.kill()
        demo.proc.wait(10)
        left = wait_gone(procs, 10)
        assert left == set(), [Path(f"/proc/{pid}/cmdline").read_bytes() for pid, _ in left]
    finally:
        demo.cleanup(procs)
