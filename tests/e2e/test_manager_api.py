"""The manager over real gRPC on loopback, as workers and operators use it."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from prover._proto import manager_pb2 as pb
from prover.api.client import ApiInfo, ManagerClient
from proving_fixtures import proven_set


def new_job(partition=0, close_epoch=None, **kw) -> pb.NewJob:
    """A job over two real sectors whose proof (PROOF) the manager accepts."""
    job = proven_set().new_job(partition, **kw)
    if close_epoch is not None:
        job.close_epoch = close_epoch
    return job


def proof() -> bytes:
    return proven_set().proof


def add(client, *jobs) -> list[int]:
    return list(client.call(client.admin.AddJobs, pb.AddJobsRequest(jobs=list(jobs))).ids)


def register(client, name="w1", **kw):
    return client.call(client.worker.Register, pb.RegisterRequest(name=name, host="h", **kw))


def claim(client, name="w1", wait_ms=0, timeout=30):
    resp = client.call(
        client.worker.Claim, pb.ClaimRequest(worker=name, wait_ms=wait_ms), timeout=timeout
    )
    return resp.job if resp.HasField("job") else None


def code_of(fn) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value.code(), info.value.details()


# ---- auth ---------------------------------------------------------------


def test_missing_and_wrong_tokens_are_unauthenticated(manager):
    channel = grpc.insecure_channel(f"127.0.0.1:{manager.port}")
    from prover._proto import manager_pb2_grpc as pb_grpc

    stub = pb_grpc.AdminServiceStub(channel)
    code, msg = code_of(lambda: stub.Status(pb.StatusRequest(), timeout=10))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "missing" in msg
    for header in ("Bearer admin.0000", "Bearer nonsense", "Basic abc", "Bearer "):
        code, _ = code_of(
            lambda h=header: stub.Status(
                pb.StatusRequest(), metadata=(("authorization", h),), timeout=10
            )
        )
        assert code == grpc.StatusCode.UNAUTHENTICATED
    other_secret = ManagerClient(ApiInfo("admin." + "ab" * 32, f"127.0.0.1:{manager.port}"))
    code, _ = code_of(lambda: other_secret.call(other_secret.admin.Status, pb.StatusRequest()))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_worker_token_cannot_call_admin_methods(manager):
    worker = manager.client("worker")
    code, msg = code_of(lambda: worker.call(worker.admin.ListJobs, pb.ListJobsRequest()))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "worker token" in msg
    # the harness's manager hands out 0.5 s ([jobs] heartbeat_interval_s)
    assert register(worker).heartbeat_interval_ms == 500
    admin = manager.client("admin")
    assert claim(admin) is None or True  # admin may act as a worker too
    assert admin.call(admin.admin.Status, pb.StatusRequest()).database == "sqlite"


# ---- claims -------------------------------------------------------------


def test_claim_needs_registration(manager):
    w = manager.client("worker")
    code, msg = code_of(lambda: claim(w, "ghost"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "not registered" in msg


def test_long_poll_answers_the_moment_a_job_arrives(manager):
    admin, w = manager.client("admin"), manager.client("worker")
    register(w)
    got = {}

    def wait_for_job():
        start = time.monotonic()
        got["job"] = claim(w, wait_ms=20_000)
        got["waited"] = time.monotonic() - start

    t = threading.Thread(target=wait_for_job)
    t.start()
    time.sleep(1.0)
    assert "job" not in got  # still held by the server
    job = new_job()
    added_at = time.monotonic()
    (job_id,) = add(admin, job)
    t.join(10)
    assert got["job"].id == job_id and got["job"].attempt == 1
    assert time.monotonic() - added_at < 1.0  # notified, not polled
    assert 1.0 <= got["waited"] < 5


def test_long_poll_ends_empty_after_the_wait(manager):
    w = manager.client("worker")
    register(w)
    start = time.monotonic()
    assert claim(w, wait_ms=500) is None
    assert 0.45 <= time.monotonic() - start < 3


def test_claim_respects_registered_filters(manager):
    admin, w = manager.client("admin"), manager.client("worker")
    add(admin, new_job(0))
    register(w, "big-only", allowed_proof_types=[13])
    assert claim(w, "big-only") is None
    register(w, "any")
    assert claim(w, "any") is not None


# ---- heartbeat and finish --------------------------------------------------


def test_heartbeat_tells_the_worker_to_stop_a_reset_job(manager):
    admin, w = manager.client("admin"), manager.client("worker")
    register(w)
    (job_id,) = add(admin, new_job())
    job = claim(w)
    hb = pb.HeartbeatRequest(worker="w1", jobs=[pb.JobAttempt(job_id=job_id, attempt=job.attempt)])
    assert list(w.call(w.worker.Heartbeat, hb).stop) == []
    admin.call(admin.admin.ResetJobs, pb.JobIdsRequest(ids=[job_id]))
    (stop,) = w.call(w.worker.Heartbeat, hb).stop
    assert (stop.job_id, stop.reason) == (job_id, "reset")


def test_finish_duplicate_is_ok_and_stale_is_refused(manager):
    admin, w = manager.client("admin"), manager.client("worker")
    register(w, "a")
    register(w, "b")
    (job_id,) = add(admin, new_job())
    first = claim(w, "a")
    admin.call(admin.admin.ResetJobs, pb.JobIdsRequest(ids=[job_id]))
    second = claim(w, "b")
    fin = pb.FinishRequest(
        worker="a", job_id=job_id, attempt=first.attempt, success=True, proof=proof()
    )
    code, msg = code_of(lambda: w.call(w.worker.Finish, fin))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "stale finish" in msg
    ok = pb.FinishRequest(
        worker="b", job_id=job_id, attempt=second.attempt, success=True, proof=proof()
    )
    assert w.call(w.worker.Finish, ok).duplicate is False
    again = w.call(w.worker.Finish, ok)
    assert again.duplicate is True and again.state == "succeeded"
    code, _ = code_of(
        lambda: w.call(
            w.worker.Finish,
            pb.FinishRequest(worker="b", job_id=9999, attempt=1, success=False, error="x"),
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


def test_release_requeues_at_once(manager):
    admin, w = manager.client("admin"), manager.client("worker")
    register(w, "a")
    register(w, "b")
    (job_id,) = add(admin, new_job())
    job = claim(w, "a")
    resp = w.call(
        w.worker.Release,
        pb.ReleaseRequest(worker="a", job_id=job_id, attempt=job.attempt, reason="SIGTERM"),
    )
    assert resp.state == "ready"
    assert claim(w, "b").id == job_id


def test_silent_worker_times_out_and_the_job_goes_to_a_waiting_one(tmp_path):
    from manager_harness import ManagerProcess

    m = ManagerProcess(
        tmp_path / "home", replace={"heartbeat_timeout_s = 15.0": "heartbeat_timeout_s = 1.0"}
    ).start()
    try:
        admin, w = m.client("admin"), m.client("worker")
        register(w, "silent")
        register(w, "waiting")
        (job_id,) = add(admin, new_job())
        assert claim(w, "silent").id == job_id
        start = time.monotonic()
        job = claim(w, "waiting", wait_ms=15_000)
        assert job is not None and job.id == job_id and job.attempt == 2
        assert time.monotonic() - start < 5  # grace after start (1 s) + timeout (1 s) + sweep
        assert m.events("sweep")[0]["sweep"] == "heartbeat"
    finally:
        m.kill()


# ---- malformed requests ---------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.call(c.worker.Register, pb.RegisterRequest(name="")), "worker"),
        (lambda c: c.call(c.worker.Register, pb.RegisterRequest(name="a b")), "worker"),
        (
            lambda c: c.call(
                c.worker.Register, pb.RegisterRequest(name="w", allowed_proof_types=[99])
            ),
            "allowed_proof_types",
        ),
        (
            lambda c: c.call(
                c.worker.Finish,
                pb.FinishRequest(worker="w", job_id=1, attempt=1, success=True, proof=b"short"),
            ),
            "proof",
        ),
        (lambda c: c.call(c.worker.Finish, pb.FinishRequest(worker="w", job_id=0)), "job_id"),
        (lambda c: c.call(c.admin.ListJobs, pb.ListJobsRequest(states=["done"])), "states"),
        (
            lambda c: c.call(
                c.admin.AddJobs,
                pb.AddJobsRequest(jobs=[new_job(0), new_job(1, randomness=b"")])
                if False
                else pb.AddJobsRequest(
                    jobs=[new_job(0), pb.NewJob(miner=1, proof_type=10, randomness=bytes(32))]
                ),
            ),
            "job 1: sectors",
        ),
        (lambda c: c.call(c.admin.RemoveJobs, pb.JobIdsRequest(ids=[1], all=True)), "ids"),
    ],
)
def test_malformed_requests_name_the_field(manager, call, field):
    code, msg = code_of(lambda: call(manager.client("admin")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert msg.startswith(field)


def test_oversized_messages_are_refused(manager):
    admin = manager.client("admin")
    huge = new_job(0)
    huge.sectors.extend(
        pb.SectorRef(id=n, comm_r=bytes(32), sealed_storage="x" * 200) for n in range(2, 30_000)
    )
    code, _ = code_of(lambda: admin.call(admin.admin.AddJobs, pb.AddJobsRequest(jobs=[huge])))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert admin.call(admin.admin.ListJobs, pb.ListJobsRequest()).jobs == []


def test_reset_and_remove_report_each_id(manager):
    admin = manager.client("admin")
    (job_id,) = add(admin, new_job())
    res = admin.call(admin.admin.ResetJobs, pb.JobIdsRequest(ids=[job_id, 424242])).results
    assert [(r.id, r.ok, r.reason) for r in res] == [
        (job_id, True, ""),
        (424242, False, "unknown job"),
    ]


# ---- process lifecycle ------------------------------------------------------


def test_sigterm_stops_cleanly(manager):
    assert manager.terminate() == 0
    assert manager.events("manager_stopped")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_and_restart_keeps_every_row_and_running_work(request, backend):
    m = request.getfixturevalue("manager" if backend == "sqlite" else "pg_manager")
    admin, w = m.client("admin"), m.client("worker")
    register(w)
    ids = add(admin, *(new_job(p) for p in range(4)))
    # one job in each state: succeeded, failed (max_tries 1), running (2), ready (2)
    (done_id,) = add(admin, new_job(7, close_epoch=10**9))
    (fail_id,) = add(admin, new_job(8, close_epoch=10**9 + 1, max_tries=1))
    done = claim(w)
    assert done.id == done_id
    w.call(
        w.worker.Finish,
        pb.FinishRequest(
            worker="w1", job_id=done_id, attempt=done.attempt, success=True, proof=proof()
        ),
    )
    failing = claim(w)
    assert failing.id == fail_id
    w.call(
        w.worker.Finish,
        pb.FinishRequest(
            worker="w1", job_id=fail_id, attempt=failing.attempt, success=False, error="x"
        ),
    )
    claim(w)
    claim(w)
    before = {
        j.id: (j.state, j.attempt)
        for j in admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
    }
    assert {s for s, _ in before.values()} == {"succeeded", "failed", "running", "ready"}

    m.restart()
    admin, w = m.client("admin"), m.client("worker")
    after = {
        j.id: (j.state, j.attempt)
        for j in admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
    }
    assert after == before
    # The holders of running jobs come back within the grace and carry on.
    running = [i for i, (s, _) in before.items() if s == "running"]
    hb = pb.HeartbeatRequest(
        worker="w1", jobs=[pb.JobAttempt(job_id=i, attempt=before[i][1]) for i in running]
    )
    time.sleep(1.0)  # several sweeps run meanwhile
    assert list(w.call(w.worker.Heartbeat, hb).stop) == []
    for i in running:
        out = w.call(
            w.worker.Finish,
            pb.FinishRequest(
                worker="w1", job_id=i, attempt=before[i][1], success=True, proof=proof()
            ),
        )
        assert out.state == "succeeded"
    assert set(ids) <= set(after)


def test_database_outage_is_unavailable_and_recovers(pg_manager):
    from sqlalchemy import create_engine, text

    from prover.store.engine import normalise_url

    admin = pg_manager.client("admin")
    add(admin, new_job())
    root = create_engine(normalise_url(pg_manager.admin_url), isolation_level="AUTOCOMMIT")
    name = pg_manager.database_name
    with root.connect() as c:
        c.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        c.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
    try:
        code, msg = code_of(lambda: admin.call(admin.admin.ListJobs, pb.ListJobsRequest()))
        assert code == grpc.StatusCode.UNAVAILABLE and "unavailable" in msg
        assert pg_manager.proc.poll() is None  # still serving
    finally:
        with root.connect() as c:
            c.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        root.dispose()
    deadline = time.monotonic() + 10
    while True:
        try:
            jobs = admin.call(admin.admin.ListJobs, pb.ListJobsRequest()).jobs
            break
        except grpc.RpcError:
            assert time.monotonic() < deadline, "manager did not recover"
            time.sleep(0.2)
    assert len(jobs) == 1


# ---- claims whose answer cannot arrive -------------------------------------


def test_a_claim_whose_call_has_gone_is_never_made(manager):
    """A worker's Claim that timed out on its side (the manager loaded, the
    network slow) must not leave a job running for a worker that never got
    it: the dispatcher skips the gone call and the job waits for the next."""
    with manager.client("worker") as w, manager.client() as admin:
        register(w)
        code, _ = code_of(lambda: claim(w, wait_ms=10_000, timeout=0.5))
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        (job_id,) = add(admin, new_job(0))
        time.sleep(1.5)  # the dispatcher's passes, and its once-a-second poll
        (job,) = admin.call(admin.admin.ListJobs, pb.ListJobsRequest(ids=[job_id])).jobs
        assert job.state == "ready" and job.tries == 0, job
        got = claim(w, wait_ms=0)
        assert got is not None and got.id == job_id and got.attempt == 1


def test_a_claim_the_worker_never_lists_is_ready_at_its_next_heartbeat(manager):
    """The answer was sent but lost (or the worker restarted): the worker's
    heartbeats do not list the job, so it is ready again after at most two
    heartbeats rather than after the heartbeat timeout."""
    with manager.client("worker") as w, manager.client() as admin:
        register(w)
        (job_id,) = add(admin, new_job(0))
        lost = claim(w)
        assert lost.id == job_id
        beat = pb.HeartbeatRequest(worker="w1")
        time.sleep(0.05)
        w.call(w.worker.Heartbeat, beat)  # may cross the answer: kept
        (job,) = admin.call(admin.admin.ListJobs, pb.ListJobsRequest(ids=[job_id])).jobs
        assert job.state == "running"
        time.sleep(0.05)
        w.call(w.worker.Heartbeat, beat)  # claimed before the previous beat, not listed
        (job,) = admin.call(admin.admin.ListJobs, pb.ListJobsRequest(ids=[job_id])).jobs
        assert job.state == "ready" and "claim lost" in job.error, job
        # a Finish of the lost attempt is refused; the next claim proves it
        code, _ = code_of(
            lambda: w.call(
                w.worker.Finish,
                pb.FinishRequest(
                    worker="w1", job_id=job_id, attempt=lost.attempt, success=True, proof=proof()
                ),
            )
        )
        assert code == grpc.StatusCode.FAILED_PRECONDITION
        assert claim(w).attempt == lost.attempt + 1
