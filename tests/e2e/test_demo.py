"""The README's first command: devnet + manager + local workers, live; and
run again in the same home, the chain goes on and its deadlines are proven."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

# 12 deadlines of 6 s, the 4 partitions in deadlines 2, 5, 8 and 11: a proof
# every 18 s
SHAPE = ["--window", "6", "--deadlines", "12"]


PROVEN = re.compile(r"miner t01000 deadline \d+ partition \d+ proven")


def test_demo_proves_deadlines_live_and_again_after_a_restart(tmp_path):
    env = {**os.environ, "PROVER_HOME": str(tmp_path / "home")}
    demo = [sys.executable, "-m", "prover.cli", "demo", *SHAPE]
    proc = subprocess.run(
        [*demo, "--minutes", "0.5"], env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "deadline 2 partition 0 proven" in out and "accepted" in out
    assert "MISSED" not in out and "refused:" not in out
    assert re.search(r"summary \(epochs 0-\d+\): [12] deadlines proven .* 0 missed", out), out
    # proven through the storage host: the manager and the workers mount nothing
    assert "a storage host and 2 local workers without mounts" in out, out
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/", out), out
    served = (tmp_path / "home" / "logs" / "storage.log").read_text()
    assert "vanilla_served" in served and "storage_host_announced" in served
    # the workers' spools are the demo home's, not a /tmp another demo shares
    assert (tmp_path / "home" / "tmp" / "prover-spool-local-0").is_dir()
    # and each worker's own TMPDIR went with it (stopped by SIGTERM)
    assert not list((tmp_path / "home" / "tmp").glob("prover-cpu-*"))

    # again in the same home, stopped by Ctrl-C once it has proven a deadline
    second = subprocess.Popen(
        demo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines, deadline = [], time.monotonic() + 120
    try:
        for line in second.stdout:
            lines.append(line)
            # a partition proven, not a status line's "(1 partitions, 0 proven)"
            if PROVEN.search(line) or time.monotonic() > deadline:
                break
        second.send_signal(signal.SIGINT)
        rest, _ = second.communicate(timeout=60)
    finally:
        second.kill()
    out = "".join(lines) + rest
    assert second.returncode == 0, out
    resumed = int(re.search(r"the chain goes on from epoch (\d+)", out).group(1))
    assert resumed > 30, out  # not from genesis again
    assert PROVEN.search(out), out
    # only a deadline closing as the manager started may be missed
    missed = [int(c) for c in re.findall(r"MISSED .* \(closed at epoch (\d+)\)", out)]
    assert all(close < resumed + 12 for close in missed), out
    assert "refused:" not in out
    assert re.search(r"summary \(epochs \d+-\d+\): [1-9] deadlines proven", out), out
    status = subprocess.run(  # the devnet stopped with the manager
        [sys.executable, "-m", "prover.cli", "devnet", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 1 and "devnet" in status.stderr


def test_devnet_init_refuses_to_overwrite(tmp_path):
    env = {**os.environ, "PROVER_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "prover.cli", "devnet", "init", "--sectors", "4"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "4 sectors" in first.stdout
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "--force" in again.stderr
