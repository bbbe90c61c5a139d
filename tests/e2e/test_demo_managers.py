"""``prover demo --managers 2``: two managers on a PostgreSQL the demo
starts, following ``prover devnet run``; the leader killed -9 at the worst
moment (its partition planned and proven, the PoSt not yet sent) is replaced
in time for that deadline (and started again by the demo, as a standby), a
storage host killed is started again, and deadlines go on being proven with
none refused."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prover.localpg import pg_bin

# the demo's windows for several managers (30 s); four deadlines, each with
# a partition, so the next one to kill the leader in is never far
SHAPE = ["--deadlines", "4"]


def _pids(home: Path, module: str, home_env: Path | None = None) -> list[int]:
    """Processes running ``module`` whose PROVER_HOME is ``home_env`` (the
    demo's home by default)."""
    want = f"PROVER_HOME={home_env or home}".encode()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
            env = (d / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if module.encode() in cmd and want in env:
            out.append(int(d.name))
    return out


def _next_open(env: dict, ahead: float) -> tuple[int, int, int, float]:
    """The next deadline with partitions that opens at least ``ahead``
    epochs from now: its index, its open and close epochs and the genesis
    (wall time; 1-s epochs)."""
    out = subprocess.run(
        [sys.executable, "-m", "prover.cli", "devnet", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    status = json.loads(out)
    period = status["challenge_window"] * status["period_deadlines"]
    now = status["epoch"]
    opens = []
    for d in status["miners"][0]["deadlines"]:
        if d["partitions"]:
            start = d["open"]
            while start < now + ahead:
                start += period
            opens.append((start, d["deadline"]))
    start, deadline = min(opens)
    return deadline, start, start + status["challenge_window"], status["genesis"]


@pytest.mark.skipif(pg_bin() is None, reason="no PostgreSQL server installed")
def test_demo_with_two_managers_lives_through_a_killed_leader_and_storage_host(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "PROVER_HOME": str(home)}
    demo = subprocess.Popen(
        [sys.executable, "-m", "prover.cli", "demo", "--managers", "2", *SHAPE],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read_until(pattern: str, timeout: float) -> re.Match:
        until = time.monotonic() + timeout
        for line in demo.stdout:
            lines.append(line)
            found = re.search(pattern, line)
            if found:
                return found
            if time.monotonic() > until:
                break
        raise AssertionError(f"no {pattern!r} within {timeout}s: {''.join(lines)}")

    try:
        read_until(r"manager-1 leads \(term 1\)", 120)
        # one epoch before a deadline opens: its partition was planned at
        # its challenge (3 epochs before) and is proven by now, but a PoSt
        # may not go before the window opens: the leader dies holding it
        deadline, open_epoch, close_epoch, genesis = _next_open(env, ahead=5)
        time.sleep(max(0.0, genesis + open_epoch - 1 - time.time()))
        (leader,) = _pids(home, "prover.cli.manager_main", home / "managers" / "manager-1")
        os.kill(leader, signal.SIGKILL)
        read_until(r"manager-1 exited \(code -9\); starting it again", 30)
        # the lease runs out (10 s) and a manager takes it: the other, or the
        # restarted one (its old term is not its own: it waits like any other)
        read_until(r"manager-[12] leads \(term 2\)", 40)
        # ... in time to send that deadline's PoSt before its Close (30 s)
        proven = read_until(
            rf"epoch +(\d+): .* deadline {deadline} partition 0 (proven|MISSED)", 60
        )
        assert proven[2] == "proven", "".join(lines)
        # with time to spare, not by luck: 10-s windows missed here now and
        # then, and made it at best an epoch before Close
        assert close_epoch - int(proven[1]) >= 5, "".join(lines)
        (host,) = _pids(home, "prover.cli.storage_main")
        os.kill(host, signal.SIGKILL)
        read_until(r"storage host exited \(code -9\); starting it again", 30)
        # proven by the new leader, through the restarted storage host
        read_until(r"deadline \d+ partition 0 proven", 90)
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=90)
    finally:
        demo.kill()
    out = "".join(lines) + rest
    assert demo.returncode == 0, out
    assert "refused:" not in out, out
    assert re.search(r"summary \(epochs \d+-\d+\): [2-9] deadlines proven", out), out
    status = subprocess.run(
        [sys.executable, "-m", "prover.cli", "devnet", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # the devnet stopped with the demo; its saved chain has no duplicate
    assert status.returncode == 1
    assert "duplicate" not in out.lower()
    # nothing of the demo is left running
    assert not _pids(home, "prover.cli")
