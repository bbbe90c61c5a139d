"""Scratch PostgreSQL databases for tests and benchmarks: one per use,
dropped afterwards."""

from __future__ import annotations

import uuid


def scratch_database(admin_url: str, prefix: str = "prover_t"):
    """Creates an empty database on the server of ``admin_url``; returns
    (its URL, a function that drops it)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from prover.store.engine import normalise_url

    base = make_url(normalise_url(admin_url))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop
