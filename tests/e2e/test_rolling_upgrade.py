"""Managers upgraded one at a time on one PostgreSQL, with no moment where
nothing leads: a manager of the previous release (built from its git tag by
``.ci/previous-release``) leads, the schema is upgraded under it with this
release's ``prover-manager db upgrade``, it goes on leading on the new
schema, a manager of this release joins, the old one is killed -9 and the
new one takes over; then a worker of the previous release proves for the
new manager. Deadlines go on being proven throughout: none missed, none
sent twice.

As ``prover demo --managers 2`` runs it: the devnet as its own process
(``prover devnet run``), a storage host serving its sectors, a worker given
every manager's address. The rolling-upgrade dance fits a 6 s deadline:
short leases (2 s), 8 sectors in 4 partitions, one every 3 deadlines.

And a manager of this release started on a schema newer than it knows (as
it will be when the next release upgrades the schema under it) runs and
leads, with a warning naming both revisions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from chain_fixtures import wait_for
from conftest import _postgres_admin_url
from manager_harness import (
    LoggedProcess,
    ManagerProcess,
    StorageHostProcess,
    WorkerProcess,
    free_port,
)
from pg_scratch import scratch_database
from pg_server import PrivateServer, pg_bin
from prover._proto import manager_pb2 as pb
from prover.api.tokens import make_token, new_secret, read_secret
from prover.buildinfo import build_info
from prover.cli.devnet_cmds import devnet_policy
from prover.devnet import STORAGE_NAME, init_devnet
from prover.store.engine import normalise_url
from prover.store.migrate import alembic_config, head_revision
from prover.store.releases import previous_release

ROOT = Path(__file__).resolve().parents[2]
RELEASE = previous_release()
PREVIOUS_ENV = "PROVER_TEST_PREVIOUS_RELEASE"
LEASE_TTL_S = 2.0


# ---- fixtures ---------------------------------------------------------------------


def _unavailable(why: str) -> None:
    """Fails in CI (the previous release must be tested there), skips elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def previous_venv() -> Path:
    """The previous release installed in a venv of its own: PROVER_TEST_PREVIOUS_RELEASE
    (.ci/run builds it first), else built here by .ci/previous-release (once:
    a cache under ~/.cache/prover-releases)."""
    if os.environ.get(PREVIOUS_ENV):
        venv = Path(os.environ[PREVIOUS_ENV])
        if not (venv / "bin" / "prover-manager").exists():
            pytest.fail(f"{PREVIOUS_ENV}={venv} has no bin/prover-manager")
        return venv
    proc = subprocess.run(
        ["bash", str(ROOT / ".ci" / "previous-release")],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    if proc.returncode != 0:
        _unavailable(f"release {RELEASE.version} could not be built: {proc.stderr[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def database():
    """An empty PostgreSQL database: on PROVER_TEST_POSTGRES_URL's server
    (CI), else on a server of the test's own."""
    admin = _postgres_admin_url()  # fails in CI when unset
    if admin:
        url, drop = scratch_database(admin)
        yield url
        drop()
        return
    if pg_bin() is None:
        _unavailable("no PostgreSQL: set PROVER_TEST_POSTGRES_URL or install postgresql")
    server = PrivateServer().start()
    try:
        yield server.url
    finally:
        server.close()


# ---- the processes -------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    """This environment without PYTHONPATH (a release's processes must
    import their own prover, never this checkout's)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


class DevnetRun:
    """``prover devnet run`` (this release): 8 sectors, a partition every
    third deadline of 6 s (deadlines 2, 5, 8, 11 of 12)."""

    def __init__(self, home: Path) -> None:
        init_devnet(home, sectors=8, policy=devnet_policy(6, 12), spread=True)
        self.home = home
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prover.cli", "devnet", "run", "--listen", "127.0.0.1:0"],
            env=_env(PROVER_HOME=str(home)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        printed = threading.Event()

        def read() -> None:
            for line in self.proc.stdout:
                self.lines.append(line)
                if line.startswith("path = "):  # the last line of the printed config
                    printed.set()

        threading.Thread(target=read, daemon=True).start()
        if not printed.wait(120):
            self.kill()
            raise AssertionError(f"prover devnet run did not start: {self.lines}")
        out = "".join(self.lines)
        self.config = tomllib.loads(out[out.index("[chain]\n") :])
        self.seen: set[tuple[int, int, int]] = set()  # (open epoch, deadline, partition)

    def call(self, method: str):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []})
        req = urllib.request.Request(
            self.config["chain"]["api"], body.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["result"]

    def proven_since(self, epoch: int) -> set[tuple[int, int, int]]:
        """Partitions proven in deadlines that opened at ``epoch`` or later
        (each deadline's entry lasts a period: polled often, none is lost)."""
        for d in self.call("DevnetStatus")["miners"][0]["deadlines"]:
            self.seen |= {(d["open"], d["deadline"], p) for p in d["proven"]}
        return {s for s in self.seen if s[0] >= epoch}

    def epoch(self) -> int:
        return self.call("DevnetStatus")["epoch"]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def manager_config(port: int, name: str, url: str, chain: dict) -> str:
    """A manager's config with only the keys both releases know."""
    chain_lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in chain.items())
    return (
        f'[api]\nlisten = "127.0.0.1:{port}"\n\n[http]\nlisten = ""\n\n'
        f'[database]\nurl = "{url}"\n\n'
        "[jobs]\nsweep_interval_s = 0.5\nheartbeat_interval_s = 1.0\n\n"
        f'[lease]\nname = "{name}"\nttl_s = {LEASE_TTL_S}\nrenew_s = 0.5\n\n'
        f"[log]\njson = true\n\n[chain]\n{chain_lines}"
    )


class Manager(LoggedProcess):
    """``prover-manager daemon run`` of this release, or of the one in ``venv``."""

    def __init__(self, home: Path, secret: Path, config: str, venv: Path | None = None):
        home.mkdir(parents=True)
        (home / "config.toml").write_text(config)
        (home / "secret").write_bytes(secret.read_bytes())
        self.home = home
        self.name = f"manager {home.name}"
        prefix = (
            [str(venv / "bin" / "prover-manager")]
            if venv
            else [sys.executable, "-m", "prover.cli.manager_main"]
        )
        self.prefix = prefix
        super().__init__(
            [*prefix, "daemon", "run", "--no-storage-mounts"], _env(PROVER_HOME=str(home))
        )

    def db(self, *args: str) -> subprocess.CompletedProcess:
        """``prover-manager db ...`` on this manager's home."""
        return subprocess.run(
            [*self.prefix, "db", *args],
            env=_env(PROVER_HOME=str(self.home)),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def leads(self) -> bool:
        events = [e["event"] for e in self.lines if "leader_" in str(e.get("event"))]
        return bool(events) and events[-1] == "leader_elected"


# ---- the test ----------------------------------------------------------------------------


class Fleet:
    """Everything of one test, killed at the end whatever happens."""

    def __init__(self, tmp_path: Path, url: str, venv: Path) -> None:
        self.tmp, self.url, self.venv = tmp_path, url, venv
        self.procs: list = []
        self.workers: dict[str, WorkerProcess] = {}
        self.devnet = DevnetRun(tmp_path / "devnet")
        self.secret = tmp_path / "secret"
        new_secret(self.secret)
        self.ports = {"old": free_port(), "new": free_port()}
        self.addresses = ",".join(f"127.0.0.1:{p}" for p in self.ports.values())
        self.token = make_token(read_secret(self.secret), "worker")

    def manager(self, which: str, *, previous: bool) -> Manager:
        config = manager_config(self.ports[which], which, self.url, self.devnet.config["chain"])
        return Manager(self.tmp / which, self.secret, config, self.venv if previous else None)

    def start(self, proc):
        self.procs.append(proc.start())
        return proc

    def worker(self, name: str, *, previous: bool) -> WorkerProcess:
        w = WorkerProcess(self.tmp / name, f"{self.token}:{self.addresses}", name=name)
        if previous:  # the release's own command, its own prover
            w.command = [str(self.venv / "bin" / "prover-worker"), *w.command[3:]]
            w.env = _env(PROVER_API_INFO=w.env["PROVER_API_INFO"])
        self.workers[name] = self.start(w)
        return w

    def wait_proven(self, what: str, timeout: float = 60.0) -> int:
        """Waits for a deadline that opens from now on to be proven; its open epoch."""
        mark = self.devnet.epoch()
        wait_for(lambda: self.devnet.proven_since(mark), timeout, what)
        return mark

    def kill(self) -> None:
        for p in reversed(self.procs):
            p.kill()
        self.devnet.kill()


def _managers_table(url: str) -> dict[str, str]:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT name, version FROM managers")).all())
    finally:
        engine.dispose()


@pytest.mark.timeout(1800)  # a cold build of the previous release included
def test_managers_upgraded_one_at_a_time_never_stop_proving(tmp_path, previous_venv, database):
    fleet = Fleet(tmp_path, database, previous_venv)
    try:
        old = _the_old_release_leads(fleet)
        new = _the_schema_is_upgraded_under_it(fleet, old)
        _the_new_release_takes_over(fleet, old, new)
        _an_old_worker_proves_for_the_new_manager(fleet, new)
        _nothing_missed_or_sent_twice(fleet, new)
    finally:
        fleet.kill()


def _the_old_release_leads(fleet: Fleet) -> Manager:
    old = fleet.start(fleet.manager("old", previous=True))
    old.wait_for("leader_elected", 60)
    store = fleet.devnet.config["storage"][0]["path"]
    fleet.start(
        StorageHostProcess(f"{fleet.token}:{fleet.addresses}", "storage-1", {STORAGE_NAME: store})
    )
    fleet.worker("w-new", previous=False)
    fleet.wait_proven(f"a deadline proven under the {RELEASE.version} leader", 90)
    assert old.events("post_submitted")
    return old


def _the_schema_is_upgraded_under_it(fleet: Fleet, old: Manager) -> Manager:
    new = fleet.manager("new", previous=False)
    status = json.loads(new.db("status", "--json").stdout)
    assert (status["current"], status["state"]) == (RELEASE.head, "behind"), status
    # this release will not start on the old schema by itself (PostgreSQL: migrate = never)
    refused = subprocess.run(new.command, env=new.env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "run `prover-manager db upgrade`" in refused.stderr, refused.stderr
    started = time.monotonic()
    upgraded = new.db("upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"from {RELEASE.head} to {head_revision()}" in upgraded.stdout, upgraded.stdout
    # not held up behind the old leader's transactions
    assert time.monotonic() - started < 30
    # the old release goes on leading on the new schema, and proving
    submitted = len(old.events("post_submitted"))
    fleet.wait_proven("a deadline proven by the old leader on the new schema", 60)
    assert old.proc.poll() is None and old.leads(), old.lines[-20:]
    assert len(old.events("post_submitted")) > submitted
    return new


def _the_new_release_takes_over(fleet: Fleet, old: Manager, new: Manager) -> None:
    fleet.start(new)
    new.wait_for("manager_started", 60)
    assert not new.leads()
    # each release says what it is (this one: version+commit, "-dirty" as
    # the tree was when each process asked)
    versions = {k: v.removesuffix("-dirty") for k, v in _managers_table(fleet.url).items()}
    this = build_info().short().removesuffix("-dirty")
    assert versions == {"old": RELEASE.version, "new": this}, versions
    fleet.wait_proven("a deadline proven while both run, the old one leading", 60)
    old.kill()  # kill -9
    killed = time.monotonic()
    new.wait_for("leader_elected", 4 * LEASE_TTL_S)
    assert time.monotonic() - killed <= 2 * LEASE_TTL_S + 1.0
    fleet.wait_proven("a deadline proven by the new leader", 60)
    assert new.events("post_submitted")


def _an_old_worker_proves_for_the_new_manager(fleet: Fleet, new: Manager) -> None:
    """A worker of the previous release (the worker API only grows)."""
    fleet.workers["w-new"].kill()  # idle: a deadline was just proven
    old_worker = fleet.worker("w-old", previous=True)
    old_worker.wait_for("worker_registered", 60)
    fleet.wait_proven(f"a deadline proven by a {RELEASE.version} worker", 90)
    assert old_worker.events("job_finished", success=True), old_worker.lines[-20:]


def _nothing_missed_or_sent_twice(fleet: Fleet, new: Manager) -> None:
    env = _env(PROVER_HOME=str(fleet.devnet.home))
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "prover.cli", "devnet", "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    assert status["duplicate_posts"] == 0, status["miners"][0]["duplicates"]
    refused = [(m["cid"], m["reason"]) for m in status["messages"] if m["exit_code"] != 0]
    assert refused == [] and status["miners"][0]["misses"] == [], (refused, status["miners"])
    admin = make_token(read_secret(fleet.secret), "admin")
    deadlines = json.loads(
        subprocess.run(
            [sys.executable, "-m", "prover.cli", "deadlines", "--json"],
            env=_env(PROVER_API_INFO=f"{admin}:127.0.0.1:{fleet.ports['new']}"),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    assert deadlines["misses"] == [], deadlines["misses"]
    assert len(fleet.devnet.seen) >= 5  # every phase proved a deadline


def test_a_manager_starts_and_leads_on_a_schema_newer_than_it_knows(tmp_path, database):
    """A manager of this release started again after a later release
    upgraded the schema (which only added): it runs, and says so."""
    engine = create_engine(normalise_url(database))
    try:
        command.upgrade(alembic_config(engine), "head")
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE jobs ADD COLUMN later_thing VARCHAR(32)"))
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    m = ManagerProcess(tmp_path / "m", database_url=database).start()
    try:
        (warned,) = m.events("schema_newer_than_this_build")
        assert (warned["schema"], warned["head"]) == ("9999", head_revision())
        wait_for(lambda: m.events("leader_elected"), 30, "it leads")
        with m.client() as c:
            c.call(c.admin.ListJobs, pb.ListJobsRequest(all=True))
        assert m.proc.poll() is None
    finally:
        m.kill()
