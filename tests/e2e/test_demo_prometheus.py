"""A real Prometheus, started with the scrape config ``prover demo`` writes,
scrapes every process of the demo, and every query of the Grafana dashboard
in contrib/ has data: the manager's, the workers' and the storage host's
series, the chain's head lag on the devnet, and counters that had no event
yet (at 0, so ``increase()`` draws a flat line).

Prometheus is required in CI (``.ci/run`` installs Debian's package);
elsewhere the test is skipped when it is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from manager_harness import free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "contrib" / "grafana" / "prover.json"
SHAPE = ["--window", "6", "--deadlines", "12"]
PROVEN = re.compile(r"miner t01000 deadline \d+ partition \d+ proven")
# Series only a machine with an NVIDIA GPU (NVML) has.
GPU_ONLY = re.compile(r"prover_gpu_")


def prometheus() -> str:
    path = shutil.which("prometheus")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is not installed; CI must run this test (see .ci/run)")
        pytest.skip("prometheus is not installed (apt-get install prometheus); CI runs this test")
    return path


def dashboard_queries() -> list[str]:
    """Every ``expr`` of the Grafana dashboard, its variables set as
    "All" sets them and ``$__rate_interval`` as a minute."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "expr" in node:
                found.append(node["expr"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(DASHBOARD.read_text()))
    return [
        q.replace("$miner", ".*").replace("$worker", ".*").replace("$__rate_interval", "1m")
        for q in found
    ]


def query(api: str, expr: str) -> list[dict]:
    resp = httpx.get(f"{api}/api/v1/query", params={"query": expr}, timeout=10)
    body = resp.json()
    assert body.get("status") == "success", (expr, body)
    return body["data"]["result"]


def test_prometheus_with_the_demos_scrape_config_has_every_dashboard_series(tmp_path):
    binary = prometheus()  # skip (or fail in CI) before starting anything
    home = tmp_path / "home"
    env = {**os.environ, "PROVER_HOME": str(home)}
    demo = subprocess.Popen(
        [sys.executable, "-m", "prover.cli", "demo", *SHAPE],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    prom = None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 150
        for line in demo.stdout:
            lines.append(line)
            if "Prometheus scrape config" in line and prom is None:
                config = Path(line.rsplit(": ", 1)[1].strip())
                port = free_port()
                prom = subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=(tmp_path / "prometheus.log").open("w"),
                    stderr=subprocess.STDOUT,
                )
            if PROVEN.search(line) or time.monotonic() > deadline:
                break
        out = "".join(lines)
        assert prom is not None, out
        assert PROVEN.search(out), out
        api = f"http://127.0.0.1:{port}"
        # two scrapes (5 s apart) after the proof, so rates and increases
        # have two points of every series
        time.sleep(12)
        up = {r["metric"]["job"]: r["value"][1] for r in query(api, "up")}
        targets = query(api, "count by (job) (up)")
        assert up == {"prover-manager": "1", "prover-storage": "1", "prover-worker": "1"}, up
        assert {r["metric"]["job"]: r["value"][1] for r in targets}["prover-worker"] == "2"
        empty = [q for q in dashboard_queries() if not query(api, q)]
        assert all(GPU_ONLY.search(q) for q in empty), empty
        lag = float(query(api, "prover_chain_head_lag_seconds")[0]["value"][1])
        # the devnet's head trails wall time by less than an epoch or two
        assert -1 < lag < 15, lag
        # a counter that had no event is at 0 from the start, per label
        failed = query(api, 'prover_messages_failed_total{miner="1000",kind="recovery"}')
        assert len(failed) == 12 and {r["value"][1] for r in failed} == {"0"}, failed
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(30)
        demo.send_signal(signal.SIGINT)
        try:
            demo.communicate(timeout=60)
        finally:
            demo.kill()
