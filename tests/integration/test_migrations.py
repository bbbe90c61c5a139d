"""Migrations carry existing rows forward, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import MetaData, Table, delete, insert, select

from conftest import job_spec
from prover.proofs.layout import SectorRef
from prover.store import JobStore
from prover.store.engine import make_engine
from prover.store.migrate import alembic_config, upgrade

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _refs(count: int, first: int = 1) -> list[SectorRef]:
    return [
        SectorRef(n, bytes([n % 256]) * 32, f"sealed-{n % 3}", "cache", upgraded=n % 5 == 0)
        for n in range(first, first + count)
    ]


def _jobs_as_of_0003(engine, counts: list[int]) -> Table:
    """Jobs stored the way releases before 0004 stored them: sectors as JSON."""
    command.upgrade(alembic_config(engine), "0003")
    jobs = Table("jobs", MetaData(), autoload_with=engine)
    assert "sector_count" not in jobs.c
    rows = [
        {
            "miner": 1000,
            "proof_type": 13,
            "period_start": 0,
            "deadline": 3,
            "partition": p,
            "generation": 0,
            "randomness": bytes(32),
            "sectors": [r.to_json() for r in _refs(count, first=10_000 * p + 1)],
            "skipped": [],
            "state": "ready",
            "tries": 0,
            "max_tries": 2,
            "attempt": 0,
            "faulty": [],
            "created_at": NOW,
            "updated_at": NOW,
        }
        for p, count in enumerate(counts)
    ]
    with engine.begin() as conn:
        conn.execute(insert(jobs), rows)
    return jobs


def test_jobs_stored_as_json_come_back_identical_after_packing(store_url):
    engine = make_engine(store_url)
    try:
        _jobs_as_of_0003(engine, [3, 2349])
        upgrade(engine)
        jobs = Table("jobs", MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            got = conn.execute(
                select(jobs.c.partition, jobs.c.sector_count, jobs.c.min_sector, jobs.c.max_sector)
            ).all()
        assert sorted(tuple(r) for r in got) == [(0, 3, 1, 3), (1, 2349, 10_001, 12_349)]
    finally:
        engine.dispose()
    store = JobStore.open(store_url)
    try:
        listed = store.list_jobs(sectors=True)
        assert [j.sectors for j in listed] == [_refs(3), _refs(2349, first=10_001)]
        # packed, a 2349-sector job is about its comm_rs: 32 bytes a sector
        with store.engine.connect() as conn:
            table = Table("jobs", MetaData(), autoload_with=conn)
            sizes = [len(b) for (b,) in conn.execute(select(table.c.sectors)).all()]
        assert max(sizes) < 2349 * 32 + 1000
    finally:
        store.close()


def test_packing_never_hands_out_a_removed_jobs_id_again(store_url):
    engine = make_engine(store_url)
    try:
        jobs = _jobs_as_of_0003(engine, [2, 2, 2])
        with engine.begin() as conn:
            top = max(conn.execute(select(jobs.c.id)).scalars())
            conn.execute(delete(jobs).where(jobs.c.id == top))
        upgrade(engine)
    finally:
        engine.dispose()
    store = JobStore.open(store_url)
    try:
        [(new_id, created)] = store.add_jobs([job_spec(7)])
        assert created and new_id > top
    finally:
        store.close()


def test_downgrading_unpacks_the_sectors_again(store_url):
    engine = make_engine(store_url)
    try:
        _jobs_as_of_0003(engine, [4])
        upgrade(engine)
        command.downgrade(alembic_config(engine), "0004")
        jobs = Table("jobs", MetaData(), autoload_with=engine)
        assert "min_sector" not in jobs.c
        with engine.connect() as conn:
            (stored,) = conn.execute(select(jobs.c.sectors)).one()
        stored = json.loads(stored) if isinstance(stored, str) else stored
        assert [SectorRef.from_json(d) for d in stored] == _refs(4)
    finally:
        engine.dispose()
