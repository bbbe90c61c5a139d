"""Migrations carry existing rows forward, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import MetaData, Table, insert, select

from prover.store.engine import make_engine
from prover.store.migrate import alembic_config, upgrade


def test_sector_counts_are_filled_in_for_jobs_stored_before_0004(store_url):
    engine = make_engine(store_url)
    try:
        command.upgrade(alembic_config(engine), "0003")
        jobs = Table("jobs", MetaData(), autoload_with=engine)
        assert "sector_count" not in jobs.c
        now = datetime(2026, 1, 1, tzinfo=UTC)
        sector = {"id": 1, "comm_r": "00" * 32, "sealed_storage": "s", "cache_storage": "s"}
        rows = [
            {
                "miner": 1000,
                "proof_type": 13,
                "period_start": 0,
                "deadline": 3,
                "partition": p,
                "generation": 0,
                "randomness": bytes(32),
                "sectors": [dict(sector, id=n, upgraded=False) for n in range(count)],
                "skipped": [],
                "state": "ready",
                "tries": 0,
                "max_tries": 2,
                "attempt": 0,
                "faulty": [],
                "created_at": now,
                "updated_at": now,
            }
            for p, count in enumerate([3, 2349])
        ]
        with engine.begin() as conn:
            conn.execute(insert(jobs), rows)
        upgrade(engine)
        jobs = Table("jobs", MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            got = conn.execute(select(jobs.c.partition, jobs.c.sector_count, jobs.c.sectors)).all()
        counts = {p: c for p, c, _ in got}
        assert counts == {0: 3, 1: 2349}
        stored = got[0][2]
        assert len(json.loads(stored) if isinstance(stored, str) else stored) == 3
    finally:
        engine.dispose()
