"""Several managers on one PostgreSQL database, following one chain: one
leads, the others stand by; the leader killed, paused or cut off from the
database is replaced, and nothing is proven twice, lost or missed.

Real manager processes, a real PostgreSQL (the shared one, or one of the
test's own where it is stopped), real workers and proofs, the devnet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from chain_fixtures import start_devnet, wait_for
from manager_harness import WorkerProcess
from pg_server import PrivateServer, pg_bin
from prover._proto import manager_pb2 as pb

# Short leases, so that a failover fits a 6-epoch (6 s) devnet deadline.
LEASE = {"ttl_s": 2.0, "renew_s": 0.5}


@pytest.fixture
def chain(tmp_path):
    # a partition every other deadline from deadline 2 (12 s after genesis)
    setup = start_devnet(tmp_path, {d: [[d, d + 100]] for d in range(2, 22, 2)})
    yield setup
    setup.server.stop()


def _leader_of(*managers):
    """The manager whose last lease event says it leads, or None."""
    for m in managers:
        events = [e for e in m.lines if e.get("event") in ("leader_elected", "leader_stepped_down")]
        if events and events[-1]["event"] == "leader_elected":
            return m
    return None


def _two_managers(tmp_path, chain, url):
    """m1 leading, m2 standing by (the same token secret), and a worker
    given both addresses."""
    m1 = chain.manager(tmp_path / "m1", database_url=url, lease=LEASE)
    wait_for(lambda: _leader_of(m1), 10, "the first manager leads")
    m2 = chain.manager(tmp_path / "m2", database_url=url, lease=LEASE, secret=m1.secret)
    w = WorkerProcess(
        tmp_path / "w1",
        f"{m1.token('worker')}:127.0.0.1:{m1.port},127.0.0.1:{m2.port}",
        storages={"store-1": chain.store},
    ).start()
    return m1, m2, w


def _next_deadline(chain) -> int:
    """The next deadline with a partition (every other one) after the open one."""
    d = chain.net.deadline_of(chain.miner, chain.net.epoch()).index
    return d + 2 + d % 2


def _job_states(m) -> dict[int, str]:
    with m.client() as c:
        return {j.id: j.state for j in c.call(c.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs}


def _no_duplicates_or_refusals(chain) -> None:
    refused = [(m.cid, m.reason) for m in chain.net.messages.values() if m.exit_code != 0]
    assert refused == [], refused
    assert not chain.miner.misses


def test_a_killed_leader_is_replaced_within_two_leases_and_nothing_is_missed(
    tmp_path, chain, pg_url
):
    m1 = chain.manager(tmp_path / "m1", database_url=pg_url, lease=LEASE)
    wait_for(lambda: _leader_of(m1), 10, "the first manager leads")
    m2 = chain.manager(tmp_path / "m2", database_url=pg_url, lease=LEASE)
    # the worker long-polls the standby only: jobs the leader plans reach it
    w = WorkerProcess(
        tmp_path / "w1", m2.api_info("worker"), storages={"store-1": chain.store}
    ).start()
    try:
        wait_for(lambda: chain.proven(0, 2) == {0}, 40, "deadline 2 proven")
        assert _leader_of(m1, m2) is m1
        assert m2.events("manager_started")[0]["leader"] is False
        # operators see who leads, from either manager
        with m2.client() as c:
            status = c.call(c.admin.Status, pb.StatusRequest())
            assert status.leader.name == m1.events("manager_started")[0]["name"]
            assert status.leader.answered_by != status.leader.name
            assert {x.name for x in status.leader.managers if x.live} == {
                m1.events("manager_started")[0]["name"],
                m2.events("manager_started")[0]["name"],
            }
            # a chain call at the standby names the leader (clients move on)
            with pytest.raises(Exception) as refused:
                c.call(c.admin.Deadlines, pb.DeadlinesRequest())
            assert "standby" in str(refused.value) and "the leader is" in str(refused.value)

        # and the CLI says so too, asked at the standby
        out = subprocess.run(
            [sys.executable, "-m", "prover.cli", "workers", "list"],
            env={**os.environ, "PROVER_API_INFO": m2.api_info()},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        m1_name = m1.events("manager_started")[0]["name"]
        assert f"leader: {m1_name} at 127.0.0.1:{m1.port} (term 1" in out, out
        # and the standby's dashboard (open on loopback)
        page = httpx.get(f"http://127.0.0.1:{m2.http_port}/", timeout=10).text
        assert f"Leader: <strong>{m1_name}</strong>" in page and "stands by" in page
        metrics = httpx.get(f"http://127.0.0.1:{m2.http_port}/metrics", timeout=10).text
        assert "prover_manager_leader{" in metrics and '"} 0.0' in metrics

        m1.kill()  # kill -9
        killed = time.monotonic()
        wait_for(lambda: m2.events("leader_elected"), 3 * LEASE["ttl_s"], "m2 takes over")
        took = time.monotonic() - killed
        assert took <= 2 * LEASE["ttl_s"] + LEASE["renew_s"], took
        assert m2.events("leader_elected")[0]["term"] == 2

        # the next deadlines are proven and submitted by the new leader
        later = _next_deadline(chain)
        wait_for(lambda: chain.proven(0, later) == {0}, 40, f"deadline {later} proven")
        _no_duplicates_or_refusals(chain)
        assert m2.events("post_submitted")
    finally:
        w.kill()
        m1.kill()
        m2.kill()


def test_a_paused_leader_is_fenced_when_it_resumes(tmp_path, chain, pg_url):
    m1, m2, w = _two_managers(tmp_path, chain, pg_url)
    try:
        wait_for(lambda: chain.proven(0, 2) == {0}, 40, "deadline 2 proven")
        m1.proc.send_signal(signal.SIGSTOP)  # a long GC pause, a hung host
        paused_at = len(m1.lines)
        try:
            wait_for(lambda: m2.events("leader_elected"), 10, "m2 takes over")
            later = _next_deadline(chain)
            wait_for(lambda: chain.proven(0, later) == {0}, 40, f"deadline {later} proven")
        finally:
            m1.proc.send_signal(signal.SIGCONT)
        # the old leader notices at its next step and acts on nothing
        try:
            wait_for(lambda: m1.events("leader_stepped_down"), 20, "m1 steps down")
        except AssertionError as exc:  # say what m1 did instead
            raise AssertionError(f"{exc}; m1 since SIGCONT: {m1.lines[paused_at:][-30:]}") from None
        assert _leader_of(m1, m2) is m2
        after = later + 2
        wait_for(lambda: chain.proven(0, after) == {0}, 40, f"deadline {after} proven")
        _no_duplicates_or_refusals(chain)
        # nothing m1 did after it resumed reached the chain
        resumed = [e.get("event") for e in m1.lines[paused_at:]]
        assert "post_submitted" not in resumed and "recovery_declared" not in resumed
    finally:
        w.kill()
        m1.kill()
        m2.kill()


@pytest.mark.skipif(pg_bin() is None, reason="no PostgreSQL server installed")
def test_managers_and_workers_live_through_a_database_restart(tmp_path, chain):
    pg = PrivateServer().start()
    try:
        m1, m2, w = _two_managers(tmp_path, chain, pg.url)
        try:
            wait_for(lambda: chain.proven(0, 2) == {0}, 40, "deadline 2 proven")
            before = _job_states(m1)
            pg.stop("fast")
            time.sleep(10)  # a restart that takes a while
            assert m1.proc.poll() is None and m2.proc.poll() is None, "a manager died"
            pg.start()
            # a leader leads again (the same or the other) and proves on
            wait_for(lambda: _leader_of(m1, m2) is not None, 20, "a leader again")
            later = _next_deadline(chain)
            wait_for(lambda: chain.proven(0, later) == {0}, 60, f"deadline {later} proven")
            after = _job_states(m1)
            assert set(before) <= set(after), "jobs lost"
            assert all(after[i] == "succeeded" for i, s in before.items() if s == "succeeded")
            assert m1.proc.poll() is None and m2.proc.poll() is None
            # a deadline that closed while nobody could record a message is
            # missed (and recorded); nothing is sent twice or refused
            refused = [m.cid for m in chain.net.messages.values() if m.exit_code != 0]
            assert refused == []
        finally:
            w.kill()
            m1.kill()
            m2.kill()
    finally:
        pg.close()
