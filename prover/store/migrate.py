"""Schema migrations with Alembic, applied under a database lock, and the
schema's standing against this build (``prover-manager db status``).

Why a lock: several managers on one PostgreSQL may start at once (a fleet
restarted, two hosts booting), and ``prover-manager db upgrade`` may run
while one starts. Alembic takes no lock of its own: two runs would both
read the same revision and both apply the next migration. A session-level
advisory lock, taken on a connection of its own and held across alembic's
run, makes exactly one migrate; the others wait, then find the schema at
head and do nothing. On SQLite (one manager per home, under the home lock)
a lock file beside the database does the same for anything else that opens
it at the same time (``db upgrade``, tests).

Why a schema may be newer than this build: managers are upgraded one at a
time, so a manager of the previous release may be started again after the
schema was upgraded. Migrations within a release line only add
(``prover.store.migrations``), so it runs on that schema as it is; alembic
would refuse the revision it does not know, so ``upgrade`` leaves such a
schema alone and warns, naming both revisions.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from prover import __version__
from prover.logs import get_logger
from prover.store.releases import release_of

log = get_logger("prover.store")

#: The advisory lock every migration runs under on PostgreSQL ("prover" in
#: ASCII: any fixed key of ours, the same in every release).
MIGRATION_LOCK_KEY = 0x70726F766572
LOCK_WAIT_S = 600.0

Policy = Literal["auto", "never"]
State = Literal["empty", "behind", "current", "ahead"]


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "prover.store:migrations")
    cfg.attributes["engine"] = engine
    return cfg


@cache
def _script() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", "prover.store:migrations")
    return ScriptDirectory.from_config(cfg)


def revisions() -> list[str]:
    """This build's revisions, oldest first (one line of history)."""
    return [s.revision for s in reversed(list(_script().walk_revisions()))]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine | None = None) -> str | None:
    """This build's newest revision (the engine is not asked: kept for callers)."""
    return _script().get_current_head()


def _named(revision: str | None) -> str:
    """``0012 (release 0.1.0)``, ``0013``, or ``none``."""
    if revision is None:
        return "none"
    release = release_of(revision)
    return f"{revision} (release {release.version})" if release else revision


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands against this build."""

    current: str | None
    head: str
    pending: tuple[str, ...] = field(default=())  # what `upgrade` would apply, oldest first
    known: bool = True  # False: a revision of a newer release

    @property
    def state(self) -> State:
        if self.current is None:
            return "empty"
        if not self.known:
            return "ahead"
        return "behind" if self.pending else "current"

    def describe(self) -> str:
        """One line for an operator."""
        cur, head = _named(self.current), _named(self.head)
        match self.state:
            case "empty":
                return f"no schema yet; `prover-manager db upgrade` creates it at {head}"
            case "behind":
                return (
                    f"schema {cur} is behind this build ({__version__}, head {head}): "
                    f"{len(self.pending)} migration(s) to apply: {', '.join(self.pending)}"
                )
            case "ahead":
                return (
                    f"schema {cur} is newer than this build ({__version__}) knows "
                    f"(head {head}); it runs on it as it is (migrations within a release "
                    "line only add)"
                )
        return f"schema {cur} is this build's head"

    def as_dict(self) -> dict:
        return {
            "current": self.current,
            "head": self.head,
            "state": self.state,
            "pending": list(self.pending),
            "release": (r.version if (r := release_of(self.current)) else None),
            "version": __version__,
        }


def schema_status(engine: Engine) -> SchemaStatus:
    current, known = current_revision(engine), revisions()
    head = known[-1]
    if current is None:
        return SchemaStatus(None, head, tuple(known))
    if current not in known:
        return SchemaStatus(current, head, (), known=False)
    return SchemaStatus(current, head, tuple(known[known.index(current) + 1 :]))


class SchemaBehind(Exception):
    """The schema is older than this build needs and this daemon may not
    migrate it (``[database] migrate = "never"``): the message says what to run."""

    def __init__(self, status: SchemaStatus) -> None:
        self.status = status
        super().__init__(
            f"the database schema is at {_named(status.current)}, older than this manager "
            f"({__version__}) needs ({status.head}): run `prover-manager db upgrade` (once, "
            'from any host of this release), or set [database] migrate = "auto"'
        )


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade`` found and did."""

    before: SchemaStatus
    after: str | None
    applied: tuple[str, ...] = ()


_warned: set[tuple[str, str]] = set()


def _warn_ahead(engine: Engine, status: SchemaStatus) -> None:
    """Once per database and revision in a process (the daemon's start-up
    check and its store both look)."""
    key = (engine.url.render_as_string(hide_password=True), str(status.current))
    if key not in _warned:
        _warned.add(key)
        log.warning(
            "schema_newer_than_this_build",
            schema=status.current,
            head=status.head,
            version=__version__,
            note="running on it as it is: migrations within a release line only add",
        )


def upgrade(
    engine: Engine, *, policy: Policy = "auto", lock_wait_s: float = LOCK_WAIT_S
) -> Upgrade:
    """Brings the schema to this build's head under the migration lock.

    ``policy="never"`` still sets up an empty database (nothing runs on it
    yet) but raises ``SchemaBehind`` for an older schema. A newer schema is
    left as it is, with a warning. Whoever waited for the lock while another
    migrated finds the schema at head and applies nothing."""
    with migration_lock(engine, lock_wait_s):
        before = schema_status(engine)
        if before.state == "ahead":
            _warn_ahead(engine, before)
            return Upgrade(before, before.current)
        if before.state == "current":
            return Upgrade(before, before.current)
        if before.state == "behind" and policy == "never":
            raise SchemaBehind(before)
        command.upgrade(alembic_config(engine), "head")
        after = current_revision(engine)
    log.info("schema_upgraded", before=before.current, after=after, applied=list(before.pending))
    return Upgrade(before, after, before.pending)


@contextlib.contextmanager
def migration_lock(engine: Engine, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Held while one process migrates; others wait up to ``wait_s``."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, wait_s):
            yield
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with _file_lock(Path(f"{engine.url.database}.migrate-lock"), wait_s):
            yield
    else:
        yield


class MigrationLockTimeout(Exception):
    pass


def _lock_holder(conn: Connection) -> str:
    """Who holds the advisory lock, for the log: ``pid 123 (host 10.0.0.2)``."""
    row = conn.execute(
        text(
            "SELECT l.pid, a.client_addr FROM pg_locks l "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"
        ),
        {"hi": MIGRATION_LOCK_KEY >> 32, "lo": MIGRATION_LOCK_KEY & 0xFFFFFFFF},
    ).first()
    conn.commit()
    if row is None:
        return "a session that has just let go"
    return f"pid {row[0]}" + (f" (host {row[1]})" if row[1] else "")


@contextlib.contextmanager
def _advisory_lock(engine: Engine, wait_s: float) -> Iterator[None]:
    """A session-level advisory lock on a connection of its own, so that it
    spans alembic's own connection and transactions; released (or the
    connection discarded, which releases it) however the run ends."""
    conn = engine.connect()
    try:
        until, told = time.monotonic() + wait_s, False
        while True:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}
            ).scalar()
            conn.commit()  # no transaction left open while migrating
            if got:
                break
            if not told:
                log.warning("migration_lock_waiting", holder=_lock_holder(conn))
                told = True
            if time.monotonic() > until:
                raise MigrationLockTimeout(
                    f"another process has held the migration lock for over {wait_s:.0f}s "
                    f"({_lock_holder(conn)}); try again when it is done"
                )
            time.sleep(0.2)
    except BaseException:
        conn.invalidate()
        conn.close()
        raise
    try:
        yield
    finally:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
        except Exception:
            conn.invalidate()  # the server ends the session, and its lock with it
        conn.close()


@contextlib.contextmanager
def _file_lock(path: Path, wait_s: float) -> Iterator[None]:
    """An flock on a file beside the SQLite database (never on the database
    file itself: closing another descriptor of it would drop SQLite's own
    POSIX locks held by this process)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        until = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > until:
                    raise MigrationLockTimeout(
                        f"another process has migrated {path.with_suffix('')} for over "
                        f"{wait_s:.0f}s; try again when it is done"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # drops the flock
