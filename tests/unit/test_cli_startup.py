"""Operator commands start fast: the CLI talks to the manager over gRPC and
never loads the database layer (SQLAlchemy, alembic, SQLModel), which cost
every `prover ...` command most of a second before the store loaded lazily."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_does_not_load_the_database_layer():
    code = (
        "import sys, prover.cli.main, prover.api.convert, prover.store; "
        "from prover.store import NewJobSpec, JobState; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'sqlmodel') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_store_still_offers_every_name_it_lists():
    import prover.store

    for name in prover.store.__all__:
        assert getattr(prover.store, name) is not None
