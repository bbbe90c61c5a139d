"""The README's first command: devnet + manager + local workers, live."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_proves_deadlines_live(tmp_path):
    env = {**os.environ, "PROVER_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "prover.cli", "demo", "--minutes", "0.5", "--window", "6"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "deadline 2 partition 0 proven" in out and "accepted" in out
    assert "MISSED" not in out and "refused" not in out
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
