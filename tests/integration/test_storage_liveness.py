"""A storage host silent only because the database was away keeps its
sectors (issue 27, item 1): its silence counts from when its announcements
could have been written again, not from before the outage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from prover.store import StorageHosts, StoreUnavailable


@pytest.fixture
def hosts(store, clock):
    return StorageHosts(store.db, clock=clock, timeout_s=15)


def test_an_outage_does_not_count_against_a_hosts_silence(hosts, clock):
    row = hosts.announce("s1", address="127.0.0.1:9", storages=["a"])
    clock.advance(20)
    assert not hosts.live(row)  # silent for 20 s, no outage: gone

    # the database was away until 2 s ago: the host could not announce
    hosts.db.unavailable_at = clock() - timedelta(seconds=2)
    assert hosts.live(row)
    assert [h.name for h in hosts.serving(["a"]) if hosts.live(h)] == ["s1"]
    clock.advance(14)  # 16 s since the database came back: now its own silence
    assert not hosts.live(row)


def test_a_lost_database_is_noted_when_it_is_refused(hosts, monkeypatch):
    def refused(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(hosts.db, "session", refused)
    assert hosts.db.unavailable_at is None
    with pytest.raises(StoreUnavailable, match="database unavailable: connection refused"):
        hosts.list()
    assert hosts.db.unavailable_at is not None
