"""Shared fixtures. Every proof in the suite is real: 2KiB sectors, random
test parameters for the real circuit, the chain's verifier.

Tests come in tiers, one folder each, marked by the folder they sit in:
``unit`` (no processes, no proofs, no database: seconds in all),
``integration`` (a real database, real gRPC or real proofs in process) and
``e2e`` (real daemons, workers and the devnet). ``pytest -m unit`` runs the
fast tier.

The proofs library reads FIL_PROOFS_PARAMETER_CACHE once per process, so it
is set here, before anything loads the native module: test parameters go to
a cache of their own (kept between runs), never into a production directory.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

if "FIL_PROOFS_PARAMETER_CACHE" not in os.environ:
    _cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    os.environ["FIL_PROOFS_PARAMETER_CACHE"] = str(_cache / "prover" / "test-proof-parameters")

from prover.proofs import (
    PoStProofType,
    create_test_sectors,
    ensure_test_params,
    mask_randomness,
    prover_id,
)

KIB2 = PoStProofType.WINDOW_2KIB
MINER = 1000
TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = item.path.parent.name
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/{{{','.join(TIERS)}}}/")
        item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def params_2kib():
    return ensure_test_params(KIB2)


@pytest.fixture
def randomness() -> bytes:
    return mask_randomness(secrets.token_bytes(32))


@pytest.fixture
def pid() -> bytes:
    return prover_id(MINER)


@pytest.fixture
def make_sectors(tmp_path, params_2kib):
    """make_sectors(ids, seal=False, upgrade=False) -> replicas under a fresh
    storage root."""

    def make(ids, *, seal: bool = False, upgrade: bool = False, root: Path | None = None):
        return create_test_sectors(root or make.root, MINER, ids, KIB2, seal=seal, upgrade=upgrade)

    make.root = tmp_path / "store"
    return make


# ---- job store backends -------------------------------------------------

from pg_scratch import scratch_database  # noqa: E402

PG_URL_ENV = "PROVER_TEST_POSTGRES_URL"


class FakeClock:
    """Time as a dependency: tests move it instead of sleeping."""

    def __init__(self) -> None:
        from datetime import UTC, datetime

        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


def _postgres_admin_url() -> str | None:
    url = os.environ.get(PG_URL_ENV)
    if not url and os.environ.get("CI") == "true":
        pytest.fail(f"{PG_URL_ENV} must be set in CI: the store suite runs on PostgreSQL too")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """Each store test runs on both backends; PostgreSQL needs
    PROVER_TEST_POSTGRES_URL (set by .ci/run, which starts a server)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    admin = _postgres_admin_url()
    if not admin:
        pytest.skip(f"{PG_URL_ENV} not set")
    url, drop = scratch_database(admin)
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store(store_url, clock):
    from prover.store import JobStore

    s = JobStore.open(store_url, clock=clock, heartbeat_timeout=15, max_tries=2)
    yield s
    s.close()


@pytest.fixture
def workers(store, clock):
    """The worker registry on the store's database, on the store's clock."""
    from prover.store import WorkerRegistry

    return WorkerRegistry(store.db, clock=clock)


@pytest.fixture
def ledger(store, clock):
    """The ledger on the store's database (both backends, like the store)."""
    from prover.store import Ledger

    return Ledger(store.db, clock=clock)


def job_spec(partition=0, *, miner=MINER, deadline=0, close_epoch=None, sectors=(1, 2), **kw):
    from prover.proofs import SectorRef
    from prover.store import NewJobSpec

    return NewJobSpec(
        miner=miner,
        proof_type=KIB2.chain_id,
        deadline=deadline,
        partition=partition,
        randomness=bytes(32),
        sectors=[SectorRef(n, bytes([n]) + bytes(31), "store-1", "store-1") for n in sectors],
        close_epoch=close_epoch,
        **kw,
    )


@pytest.fixture
def manager(tmp_path):
    """A running manager daemon (SQLite) in a subprocess."""
    from manager_harness import ManagerProcess

    m = ManagerProcess(tmp_path / "home").start()
    yield m
    m.kill()


@pytest.fixture
def pg_url():
    """A fresh database on the PostgreSQL of PROVER_TEST_POSTGRES_URL (for
    several managers at once), dropped afterwards."""
    admin = _postgres_admin_url()
    if not admin:
        pytest.skip(f"{PG_URL_ENV} not set")
    url, drop = scratch_database(admin)
    yield url
    drop()


@pytest.fixture
def pg_manager(tmp_path):
    """A running manager daemon on a fresh PostgreSQL database."""
    from manager_harness import ManagerProcess

    admin = _postgres_admin_url()
    if not admin:
        pytest.skip(f"{PG_URL_ENV} not set")
    url, drop = scratch_database(admin)
    m = ManagerProcess(tmp_path / "home", database_url=url).start()
    m.admin_url = admin
    m.database_name = url.rpartition("/")[2]
    yield m
    m.kill()
    drop()


# ---- Alertmanager ----------------------------------------------------------

AM_URL_ENV = "PROVER_TEST_ALERTMANAGER_URL"


@pytest.fixture
def alertmanager_url() -> str:
    """A real Prometheus Alertmanager (Debian's prometheus-alertmanager),
    started by .ci/run; locally, start one and set PROVER_TEST_ALERTMANAGER_URL."""
    url = os.environ.get(AM_URL_ENV)
    if not url and os.environ.get("CI") == "true":
        pytest.fail(f"{AM_URL_ENV} must be set in CI: alerts are tested against Alertmanager")
    if not url:
        pytest.skip(f"{AM_URL_ENV} not set")
    return url.rstrip("/")
