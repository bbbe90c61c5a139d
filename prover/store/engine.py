"""Database engines for the two backends, set up for a single-writer job
queue: on SQLite every transaction begins IMMEDIATE (takes the write lock
up front, so a claim's read and update cannot interleave with another's) in
WAL mode with full sync; PostgreSQL uses psycopg 3 with connection checks so
the daemon recovers when the server comes back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def backend_name(engine: Engine) -> str:
    return engine.dialect.name


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:
            dbapi_conn.isolation_level = None  # transactions are begun below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        # No pre-ping: it would cost a round trip per transaction. A dropped
        # connection fails one call (answered UNAVAILABLE), which invalidates
        # the pool, and the next call reconnects.
        return create_engine(
            url,
            # A fixed pool: threads queue for a connection instead of opening
            # and closing overflow connections (a PostgreSQL connect costs
            # more than the claim it serves).
            pool_size=20,
            max_overflow=0,
            pool_timeout=30,
            pool_recycle=1800,
            connect_args={"connect_timeout": 5},
        )
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///PATH or postgresql://..."
    )
