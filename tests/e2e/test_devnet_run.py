"""``prover devnet run``: the devnet as a process of its own, one per home
(a second on the same home is refused, naming the first's pid), serving the
Lotus API that managers follow through ``[chain] api`` exactly as printed,
one manager on SQLite or several on PostgreSQL, with no duplicate PoSt.

Real processes: the devnet, managers, a worker, real 2KiB proofs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from chain_fixtures import wait_for
from conftest import _postgres_admin_url
from manager_harness import ManagerProcess, WorkerProcess
from pg_scratch import scratch_database
from prover.cli.devnet_cmds import devnet_policy
from prover.config import default_config_text
from prover.devnet import endpoint_path, init_devnet


class DevnetRun:
    """``prover devnet run`` on ``home`` in a subprocess; its printed
    config.toml lines (from ``[chain]`` to the storage path) read back."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc = subprocess.Popen(
            _prover("devnet", "run", "--listen", "127.0.0.1:0"),
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        printed = threading.Event()

        def read() -> None:
            for line in self.proc.stdout:
                self.lines.append(line)
                if line.startswith("path = "):  # the last line of the config
                    printed.set()

        threading.Thread(target=read, daemon=True).start()
        if not printed.wait(60):
            self.kill()
            raise AssertionError(f"prover devnet run did not start: {self.lines}")
        text = "".join(self.lines)
        self.config_text = text[text.index("[chain]\n") :]
        self.config = tomllib.loads(self.config_text)
        self.api = self.config["chain"]["api"]

    def call(self, method: str, *params):
        """A JSON-RPC call as any Lotus client makes it."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        req = urllib.request.Request(self.api, body.encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.loads(resp.read())
        assert "error" not in answer, answer
        return answer["result"]

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _prover(*args: str) -> list[str]:
    return [sys.executable, "-m", "prover.cli", *args]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "PROVER_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def _devnet_home(tmp_path: Path) -> Path:
    """A devnet of 4 sectors, two partitions in deadline 2 (12-epoch
    deadlines of 1 s: it opens 24 s after the devnet starts, time to start
    managers and a worker, and one worker proves both on a busy CPU)."""
    home = tmp_path / "devnet-home"
    init_devnet(home, sectors=4, policy=devnet_policy(12))
    return home


def _following(home: Path, run: DevnetRun, database_url: str = "") -> ManagerProcess:
    """A manager whose config.toml has the lines ``prover devnet run``
    printed: its [chain] keys in place of the template's, its [[storage]]."""
    template = default_config_text()
    chain = run.config_text[: run.config_text.index("\n\n") + 1]
    replace = {}
    for key in run.config["chain"]:
        (line,) = re.findall(rf"^{key} = .*\n", template, flags=re.M)
        replace[line] = ""
    replace["[chain]\n"] = chain
    replace["# [[storage]]\n"] = run.config_text[run.config_text.index("[[storage]]") :]
    return ManagerProcess(home, replace=replace, database_url=database_url).start()


def _status(home: Path) -> dict:
    """``prover devnet status --json``, as an operator (or a test) asks."""
    out = subprocess.run(
        _prover("devnet", "status", "--json"),
        env=_env(home),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def _proven(run: DevnetRun, deadline: int) -> list[int]:
    """Partitions of ``deadline`` proven, asked over JSON-RPC (polled: a
    command each time would take the CPU the worker proves with)."""
    status = run.call("DevnetStatus")
    (d,) = [d for d in status["miners"][0]["deadlines"] if d["deadline"] == deadline]
    return d["proven"]


def _no_duplicates_or_refusals(home: Path) -> None:
    status = _status(home)
    assert status["duplicate_posts"] == 0, status["miners"][0]["duplicates"]
    refused = [(m["cid"], m["reason"]) for m in status["messages"] if m["exit_code"] != 0]
    assert refused == [], refused
    assert not status["miners"][0]["misses"]


def test_devnet_run_serves_chain_head_and_a_second_on_the_home_is_refused(tmp_path):
    home = _devnet_home(tmp_path)
    run = DevnetRun(home)
    try:
        head = run.call("Filecoin.ChainHead")
        assert head["Height"] >= 0 and head["Cids"]
        assert run.config["chain"]["miners"] == [1000]
        assert run.config["chain"]["network"] == "t"
        assert endpoint_path(home).read_text().strip() == run.api

        started = time.monotonic()
        second = subprocess.run(
            _prover("devnet", "run", "--listen", "127.0.0.1:0"),
            env=_env(home),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert (
            f"home {home} is in use by prover devnet run pid {run.proc.pid} "
            f"(lock {home / 'devnet' / 'devnet.lock'})"
        ) in second.stderr, second.stderr
        assert time.monotonic() - started < 30  # refused at once, not after a wait
        assert run.proc.poll() is None  # the first goes on
        # and a new chain is not made under it
        init = subprocess.run(
            _prover("devnet", "init", "--force"),
            env=_env(home),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert init.returncode != 0 and "is in use by prover devnet run" in init.stderr

        printed = subprocess.run(
            _prover("devnet", "chain-config"),
            env=_env(home),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        assert printed == run.config_text
    finally:
        assert run.terminate() == 0
    assert "devnet stopped at epoch" in "".join(run.lines)
    assert not endpoint_path(home).exists()
    # the chain persists: a new run goes on from it
    state = json.loads((home / "devnet" / "chain.json").read_text())
    again = DevnetRun(home)
    try:
        assert "going on from epoch" in "".join(again.lines)
        assert again.call("Filecoin.ChainHead")["Height"] >= state["epoch"]
    finally:
        again.kill()


def test_a_manager_follows_the_external_devnet_as_printed_and_proves(tmp_path):
    home = _devnet_home(tmp_path)
    run = DevnetRun(home)
    m = w = None
    try:
        m = _following(tmp_path / "mgr", run)
        assert not (m.home / "devnet").exists()  # followed, not embedded
        store = run.config["storage"][0]
        w = WorkerProcess(
            tmp_path / "w1", m.api_info("worker"), storages={store["name"]: store["path"]}
        ).start()
        wait_for(
            lambda: any(e["deadline"] == 2 for e in m.events("deadline_jobs_created")),
            40,
            "deadline 2 planned",
        )
        wait_for(lambda: _proven(run, 2) == [0, 1], 60, "deadline 2 proven")
        _no_duplicates_or_refusals(home)
    finally:
        for p in (w, m):
            if p is not None:
                p.kill()
        run.kill()


def test_several_managers_on_postgresql_follow_one_external_devnet(tmp_path):
    admin = _postgres_admin_url()
    if not admin:
        pytest.skip("PROVER_TEST_POSTGRES_URL not set")
    url, drop = scratch_database(admin)
    home = _devnet_home(tmp_path)
    run = DevnetRun(home)
    managers: list[ManagerProcess] = []
    w = None
    try:
        managers = [_following(tmp_path / name, run, url) for name in ("m1", "m2")]
        leading = [m for m in managers if m.events("manager_started")[0]["leader"]]
        assert len(leading) == 1
        standby = next(m for m in managers if m not in leading)
        store = run.config["storage"][0]
        w = WorkerProcess(
            tmp_path / "w1", standby.api_info("worker"), storages={store["name"]: store["path"]}
        ).start()
        wait_for(lambda: _proven(run, 2) == [0, 1], 60, "deadline 2 proven")
        assert not standby.events("post_submitted")  # the leader alone submits
        _no_duplicates_or_refusals(home)
    finally:
        if w is not None:
            w.kill()
        for m in managers:
            m.kill()
        run.kill()
        drop()
