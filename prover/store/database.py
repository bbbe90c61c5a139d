"""The database every store module shares: one engine, migrated at open
(under the migration lock, see ``prover.store.migrate``), and on SQLite one
writer lock for the process.

SQLite has one writer: queueing this process's writers on a lock, instead of
letting them collide on the file lock and sleep in SQLite's busy handler,
keeps claims fast under many concurrent workers. The job store, the worker
registry, the ledger and the rest must share that lock, so they share this
object, and reach the database only through ``transaction``, ``begin`` and
``connect``, which take it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Session

from prover.store.engine import backend_name, make_engine
from prover.store.errors import StoreUnavailable
from prover.store.migrate import Policy, upgrade

P = ParamSpec("P")
R = TypeVar("R")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _unavailable(args: tuple, exc: BaseException, what: str) -> StoreUnavailable:
    """The refusal, its time noted on the database it concerns (the first
    argument's ``db``: a store, the ledger, the lease, the hosts' index)."""
    db = getattr(args[0], "db", None) if args else None
    if isinstance(db, Database):
        db.unavailable_at = utcnow()
    return StoreUnavailable(f"{what}: {getattr(exc, 'orig', None) or exc}")


def unavailable_on_db_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """A lost or unreachable database becomes ``StoreUnavailable`` (callers
    retry later), and its time is noted (``Database.unavailable_at``); any
    other database error is a bug and propagates."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            raise _unavailable(args, exc, "database unavailable") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise _unavailable(args, exc, "database connection lost") from exc
            raise

    return wrapper


class Database:
    """An engine with the schema at the newest migration."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # when this process last found the database unavailable: what others
        # could not write meanwhile (a storage host's announcements) is
        # judged from then, not from before the outage
        self.unavailable_at: datetime | None = None
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def open(cls, url: str, *, migrate: Policy = "auto") -> Database:
        """Connects and brings the schema to this build's newest migration.

        ``migrate="never"`` refuses an older schema (``SchemaBehind``) instead
        of upgrading it; an empty database is set up either way. A schema
        newer than this build (a later release's, which only added) is used
        as it is, with a warning."""
        engine = make_engine(url)
        try:
            unavailable_on_db_errors(upgrade)(engine, policy=migrate)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def backend(self) -> str:
        return backend_name(self.engine)

    def write(self) -> contextlib.AbstractContextManager:
        """Held around every transaction (reads too: on SQLite every
        transaction begins IMMEDIATE)."""
        return self._write_lock or contextlib.nullcontext()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction under the writer lock: committed
        when the block ends, rolled back if it raises. Its rows stay
        readable after the block (``expire_on_commit=False``)."""
        with self.write(), self.session() as s, s.begin():
            yield s

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """``transaction`` for Core statements (``engine.begin()`` under the
        writer lock): the hot paths, a claim and a finish, skip the ORM."""
        with self.write(), self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reads under the writer lock (``engine.connect()``:
        its transaction is rolled back at the end, nothing is committed)."""
        with self.write(), self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()
