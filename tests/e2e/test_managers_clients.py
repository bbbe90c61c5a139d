"""Clients given several managers (``TOKEN:HOST:PORT,HOST:PORT``): two real
manager processes on one PostgreSQL database, a manager paused (SIGSTOP)
or killed under a client and under a proving worker. A paused manager is
found out by gRPC keepalive in seconds, and the calls go to the other one;
the worker's heartbeats follow, so its job is never sent back for silence.
"""

from __future__ import annotations

import secrets
import signal
import time

import pytest

from manager_harness import ManagerProcess, WorkerProcess
from prover._proto import manager_pb2 as pb
from prover.api.client import ManagerClient, parse_api_info
from proving_fixtures import proven_set


@pytest.fixture
def managers(tmp_path, pg_url):
    """start(name, heartbeat_timeout_s) -> a manager on the shared database;
    the first started leads (the sweeps run there)."""
    secret = secrets.token_bytes(32)  # one token is good at every manager
    started: list[ManagerProcess] = []

    def start(name: str, heartbeat_timeout_s: float = 15.0) -> ManagerProcess:
        m = ManagerProcess(
            tmp_path / name,
            database_url=pg_url,
            secret=secret,
            replace={"heartbeat_timeout_s = 15.0": f"heartbeat_timeout_s = {heartbeat_timeout_s}"},
        ).start()
        started.append(m)
        return m

    yield start
    for m in started:
        if m.proc and m.proc.poll() is None:
            m.proc.send_signal(signal.SIGCONT)
        m.kill()


def name_of(m: ManagerProcess) -> str:
    return m.events("manager_started")[0]["name"]


def api_info(perm: str, *ms: ManagerProcess) -> str:
    return f"{ms[0].token(perm)}:" + ",".join(f"127.0.0.1:{m.port}" for m in ms)


def answered_by(c: ManagerClient) -> str:
    return c.call(c.admin.Status, pb.StatusRequest(), timeout=30).leader.answered_by


def test_a_client_moves_on_from_a_paused_and_from_a_killed_manager(managers):
    m1 = managers("m1")
    m2 = managers("m2")
    with ManagerClient(parse_api_info(api_info("admin", m1, m2))) as c:
        assert answered_by(c) == name_of(m1)

        m1.proc.send_signal(signal.SIGSTOP)  # hung: TCP still accepted, nothing answered
        t0 = time.monotonic()
        assert answered_by(c) == name_of(m2)
        took = time.monotonic() - t0
        assert took < 8, took  # keepalive (2 s + 2 s), not the call's 30 s deadline
        assert c.address == f"127.0.0.1:{m2.port}"
        assert answered_by(c) == name_of(m2)  # it stays there, at once
        m1.proc.send_signal(signal.SIGCONT)

        m2.kill()  # kill -9: connection refused, back to the first
        t0 = time.monotonic()
        assert answered_by(c) == name_of(m1)
        assert time.monotonic() - t0 < 3


def test_a_worker_keeps_its_job_when_its_manager_hangs_mid_proof(managers):
    s = proven_set("8MiB")
    # a short heartbeat timeout at the leader, whose sweeps requeue silent jobs
    leader = managers("leader", heartbeat_timeout_s=8.0)
    standby = managers("standby", heartbeat_timeout_s=8.0)
    assert leader.events("manager_started")[0]["leader"] is True
    assert standby.events("manager_started")[0]["leader"] is False
    admin = leader.client("admin")
    (job_id,) = admin.call(admin.admin.AddJobs, pb.AddJobsRequest(jobs=[s.new_job()])).ids
    # the worker talks to the standby first, and to the leader when it must
    w = WorkerProcess(
        standby.home.parent / "w1",
        api_info("worker", standby, leader),
        storages={"store-1": s.root},
    ).start()
    try:
        w.wait_for("proving_started", job_id=job_id, timeout=60)
        standby.proc.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        moved = w.wait_for("manager_failover", timeout=30)
        took = time.monotonic() - t0
        assert moved["to"] == f"127.0.0.1:{leader.port}" and took < 6.5, (moved, took)
        done = w.wait_for("job_finished", job_id=job_id, timeout=60)
        assert done["state"] == "succeeded"
        (j,) = admin.call(admin.admin.ListJobs, pb.ListJobsRequest(ids=[job_id], all=True)).jobs
        # proven once, never sent back for a silent worker
        assert (j.state, j.attempt, j.worker) == ("succeeded", 1, "w1")
        assert not leader.events("sweep")
    finally:
        w.kill()
