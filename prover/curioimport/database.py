"""Reading Curio's database (PostgreSQL's wire protocol: YugabyteDB, or
PostgreSQL): its config layers (``curio.harmony_config``) and the layers
and task types each machine runs (``curio.harmony_machine_details``).

Curio keeps its tables in the schema ``curio`` and connects with
``search_path=curio``; a URL as an operator writes it has no search_path,
so every name here is qualified with the schema. Only reads: the
connection is read-only."""

from __future__ import annotations

from typing import Any

import psycopg

from prover.curioimport.model import SCHEMA, CurioDatabase, CurioImportError, Machine

CONNECT_TIMEOUT_S = 10


def psycopg_url(url: str) -> str:
    """The URL as psycopg takes it (``postgresql+psycopg://`` as SQLAlchemy
    writes it is accepted too)."""
    for driver in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(driver):
            return "postgresql://" + url[len(driver) :]
    if not url.startswith("postgresql://"):
        raise CurioImportError(
            f"--db {shown_url(url)!r}: expected a PostgreSQL URL, "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (Curio's defaults: "
            "yugabyte:yugabyte@127.0.0.1:5433/yugabyte)"
        )
    return url


def shown_url(url: str) -> str:
    """The URL without its password, for messages and the written config."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{host}"


def read_database(url: str) -> CurioDatabase:
    """Every layer in ``curio.harmony_config``, and the machines (when the
    table is there: an older or fresh cluster may have none)."""
    where = shown_url(url)
    try:
        conn = psycopg.connect(psycopg_url(url), connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise CurioImportError(f"cannot connect to Curio's database at {where}: {exc}") from None
    try:
        conn.read_only = True
        with conn.cursor() as cur:
            _require_table(cur, where, "harmony_config")
            cur.execute(f"SELECT title, config FROM {SCHEMA}.harmony_config ORDER BY id")
            layers = {title: text for title, text in cur.fetchall()}
            machines = _machines(cur) if _has_table(cur, "harmony_machine_details") else []
    except psycopg.Error as exc:
        raise CurioImportError(f"reading Curio's database at {where}: {exc}") from None
    finally:
        conn.close()
    return CurioDatabase(where, layers, machines)


def _has_table(cur: Any, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{table}",))
    return cur.fetchone()[0] is not None


def _require_table(cur: Any, where: str, table: str) -> None:
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,))
    if cur.fetchone() is None:
        raise CurioImportError(
            f"{where} has no schema {SCHEMA!r}: Curio keeps its tables there "
            "(is this Curio's database? Curio's default is the database yugabyte on port 5433)"
        )
    if not _has_table(cur, table):
        raise CurioImportError(
            f"{where}: the schema {SCHEMA!r} has no table {table} (Curio's config layers; "
            "has Curio run against this database yet?)"
        )


def _machines(cur: Any) -> list[Machine]:
    cur.execute(
        f"SELECT m.host_and_port, d.layers, d.tasks, d.miners "
        f"FROM {SCHEMA}.harmony_machine_details d "
        f"JOIN {SCHEMA}.harmony_machines m ON m.id = d.machine_id ORDER BY m.host_and_port"
    )
    return [
        Machine(host, _csv(layers), _csv(tasks), _csv(miners))
        for host, layers, tasks, miners in cur.fetchall()
    ]


def _csv(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())
