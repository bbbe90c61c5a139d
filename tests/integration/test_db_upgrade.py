"""``prover-manager db upgrade`` and the daemon's start-up schema check.

Managers are upgraded one at a time on one database: the schema upgrade
runs once, under a lock (two started at once: one migrates, the other finds
it done); a daemon on an older schema migrates it only where configured to
(``[database] migrate``), else refuses and says what to run; a daemon on a
newer schema (the previous release's, started again after the upgrade)
runs on it, warning with both revisions."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import text
from structlog.testing import capture_logs

from conftest import job_spec
from prover.cli.manager_main import cli
from prover.config import ConfigError, DatabaseConfig, load_manager_config
from prover.store import JobStore
from prover.store.database import Database
from prover.store.engine import make_engine
from prover.store.migrate import (
    MigrationLockTimeout,
    SchemaBehind,
    alembic_config,
    current_revision,
    head_revision,
    migration_lock,
    revisions,
    schema_status,
    upgrade,
)
from prover.store.releases import previous_release

PREVIOUS = previous_release().head  # 0.1.0's schema: "0012"
HEAD = head_revision()
# what upgrading from the previous release applies, oldest first
SINCE_PREVIOUS = tuple(revisions()[revisions().index(PREVIOUS) + 1 :])
NEWER = "9999"  # a revision of a release after this one


def _at(url: str, revision: str) -> None:
    """The schema as a release that ended at ``revision`` left it."""
    engine = make_engine(url)
    try:
        command.upgrade(alembic_config(engine), revision)
    finally:
        engine.dispose()


def _newer(url: str) -> None:
    """The schema a later release left: this head, and what it added."""
    _at(url, "head")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE workers ADD COLUMN later_thing VARCHAR(32)"))
            conn.execute(text("CREATE TABLE later_table (id INTEGER PRIMARY KEY)"))
            conn.execute(text(f"UPDATE alembic_version SET version_num = '{NEWER}'"))
    finally:
        engine.dispose()


def _home(tmp_path: Path, url: str, migrate: str = "") -> Path:
    """A manager home whose config names ``url`` (and ``migrate``, when given)."""
    home = tmp_path / "home"
    assert CliRunner().invoke(cli, ["--home", str(home), "daemon", "init"]).exit_code == 0
    config = home / "config.toml"
    line = f'url = "{url}"\n' + (f'migrate = "{migrate}"\n' if migrate else "")
    config.write_text(config.read_text().replace('url = ""\n', line, 1))
    return home


def _db(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), "db", *args])


# ---- the lock -----------------------------------------------------------------


def test_upgrades_racing_on_postgresql_one_migrates_and_both_end_at_head(pg_url):
    _at(pg_url, PREVIOUS)
    engines = [make_engine(pg_url) for _ in range(4)]
    results: list = [None] * len(engines)
    start = threading.Barrier(len(engines))

    def run(i: int) -> None:
        start.wait()
        results[i] = upgrade(engines[i])

    try:
        with capture_logs() as logs:
            threads = [threading.Thread(target=run, args=(i,)) for i in range(len(engines))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        assert all(r is not None for r in results), results
        migrated = [r for r in results if r.applied]
        assert len(migrated) == 1, results
        assert migrated[0].applied == SINCE_PREVIOUS and migrated[0].before.current == PREVIOUS
        assert all(r.after == HEAD for r in results)
        assert [e["event"] for e in logs].count("schema_upgraded") == 1
        assert all(current_revision(e) == HEAD for e in engines)
    finally:
        for e in engines:
            e.dispose()


def test_two_db_upgrade_commands_at_once_one_migrates(tmp_path, pg_url):
    """As two operators (or two hosts' start-up scripts) would run them."""
    _at(pg_url, PREVIOUS)
    home = _home(tmp_path, pg_url)
    argv = [sys.executable, "-m", "prover.cli.manager_main", "--home", str(home), "db", "upgrade"]
    env = {**os.environ, "PROVER_HOME": str(home)}
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = sorted(out for out, _ in outs)
    assert said[0].startswith(f"schema {HEAD} is this build's head"), outs
    assert said[1].startswith(f"upgraded the schema from {PREVIOUS} to {HEAD}"), outs


def test_the_lock_is_held_for_the_whole_run_and_released_after(pg_url):
    engine, other = make_engine(pg_url), make_engine(pg_url)
    try:
        with (
            migration_lock(engine),
            pytest.raises(MigrationLockTimeout, match="held the migration lock"),
            migration_lock(other, wait_s=0.5),
        ):
            pass
        with migration_lock(other, wait_s=0.5):
            pass  # free again
    finally:
        engine.dispose()
        other.dispose()


# ---- an older schema ------------------------------------------------------------


def test_db_status_and_upgrade_say_where_the_schema_stands(tmp_path, pg_url):
    _at(pg_url, PREVIOUS)
    home = _home(tmp_path, pg_url)
    before = _db(home, "status")
    assert before.exit_code == 0, before.output
    assert f"current: {PREVIOUS}" in before.output and f"head:    {HEAD}" in before.output
    assert f"schema {PREVIOUS} (release {previous_release().version}) is behind" in before.output
    done = _db(home, "upgrade")
    assert done.exit_code == 0 and f"from {PREVIOUS} to {HEAD}" in done.output, done.output
    after = _db(home, "status", "--json")
    assert '"state": "current"' in after.output, after.output


def test_a_daemon_on_an_older_postgresql_schema_refuses_and_says_what_to_run(tmp_path, pg_url):
    _at(pg_url, PREVIOUS)
    home = _home(tmp_path, pg_url)  # migrate unset: "never" on PostgreSQL
    proc = subprocess.run(
        [sys.executable, "-m", "prover.cli.manager_main", "--home", str(home), "daemon", "run"],
        env={**os.environ, "PROVER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"the database schema is at {PREVIOUS}" in proc.stderr, proc.stderr
    assert "run `prover-manager db upgrade`" in proc.stderr
    assert "manager_started" not in proc.stdout + proc.stderr
    engine = make_engine(pg_url)
    try:
        assert current_revision(engine) == PREVIOUS  # left as it was
    finally:
        engine.dispose()


def test_migrate_auto_upgrades_at_start_and_never_refuses(pg_url):
    _at(pg_url, PREVIOUS)
    with pytest.raises(SchemaBehind, match="prover-manager db upgrade"):
        Database.open(pg_url, migrate="never")
    db = Database.open(pg_url, migrate="auto")
    try:
        assert current_revision(db.engine) == HEAD
    finally:
        db.close()
    Database.open(pg_url, migrate="never").close()  # at head: nothing to refuse


def test_an_empty_database_is_set_up_even_with_migrate_never(pg_url):
    db = Database.open(pg_url, migrate="never")
    try:
        assert current_revision(db.engine) == HEAD
    finally:
        db.close()


def test_sqlite_homes_migrate_themselves_by_default_postgresql_does_not(tmp_path):
    sqlite = f"sqlite:///{tmp_path / 'prover.db'}"
    assert DatabaseConfig().migrate_policy(sqlite) == "auto"
    assert DatabaseConfig().migrate_policy("postgresql://h/db") == "never"
    assert DatabaseConfig(migrate="auto").migrate_policy("postgresql://h/db") == "auto"
    assert DatabaseConfig(migrate="never").migrate_policy(sqlite) == "never"
    _at(sqlite, PREVIOUS)
    engine = make_engine(sqlite)
    try:
        done = upgrade(engine, policy=DatabaseConfig().migrate_policy(sqlite))
        assert done.applied == SINCE_PREVIOUS
    finally:
        engine.dispose()


def test_a_misspelt_migrate_value_names_the_key(tmp_path):
    home = _home(tmp_path, "", migrate="sometimes")
    with pytest.raises(ConfigError, match=r"database\.migrate"):
        load_manager_config(home / "config.toml")


# ---- a newer schema -------------------------------------------------------------


def test_a_newer_schema_is_run_on_with_a_warning_naming_both_revisions(store_url, clock):
    _newer(store_url)
    engine = make_engine(store_url)
    try:
        status = schema_status(engine)
        assert (status.state, status.current, status.head) == ("ahead", NEWER, HEAD)
    finally:
        engine.dispose()
    with capture_logs() as logs:
        store = JobStore.open(store_url, clock=clock)  # Database.open: alembic is not run
    try:
        warned = [e for e in logs if e["event"] == "schema_newer_than_this_build"]
        assert warned and warned[0]["schema"] == NEWER and warned[0]["head"] == HEAD
        [(_, created)] = store.add_jobs([job_spec(0)])
        assert created and store.claim("w1") is not None
        assert current_revision(store.engine) == NEWER  # never downgraded
    finally:
        store.close()
    Database.open(store_url, migrate="never").close()  # newer is not older


def test_db_commands_on_a_newer_schema_change_nothing(tmp_path, pg_url):
    _newer(pg_url)
    home = _home(tmp_path, pg_url)
    status = _db(home, "status", "--json")
    assert '"state": "ahead"' in status.output and f'"current": "{NEWER}"' in status.output
    done = _db(home, "upgrade")
    assert done.exit_code == 0, done.output
    assert f"schema {NEWER} is newer than this build" in done.output and HEAD in done.output
