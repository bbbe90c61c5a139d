"""Workers end to end: a real manager, real workers, real gRPC on loopback,
the real proof core on 2KiB and 8MiB sectors."""

from __future__ import annotations

import os
import signal
import time

import grpc
import pytest

from manager_harness import ManagerProcess, WorkerProcess, free_port
from prover._proto import manager_pb2 as pb
from prover.proofs import PoStProofType, mask_randomness, prover_id, verify_window_post
from proving_fixtures import fresh_set, proven_set


@pytest.fixture
def mgr(tmp_path):
    m = ManagerProcess(
        tmp_path / "mgr",
        port=free_port(),
        replace={"heartbeat_timeout_s = 15.0": "heartbeat_timeout_s = 3.0"},
    ).start()
    yield m
    m.kill()


@pytest.fixture
def workers(tmp_path):
    started: list[WorkerProcess] = []

    def start(m: ManagerProcess, name="w1", storages=None, **kw) -> WorkerProcess:
        w = WorkerProcess(tmp_path / name, m.api_info("worker"), name=name, storages=storages, **kw)
        started.append(w.start())
        return w

    yield start
    for w in started:
        w.kill()


def add(m, *jobs) -> list[int]:
    c = m.client("admin")
    return list(c.call(c.admin.AddJobs, pb.AddJobsRequest(jobs=list(jobs))).ids)


def job(m, job_id) -> pb.Job:
    c = m.client("admin")
    jobs = c.call(c.admin.ListJobs, pb.ListJobsRequest(all=True, include_proof=True)).jobs
    return next(j for j in jobs if j.id == job_id)


def wait_state(m, job_id, state, timeout=60.0) -> pb.Job:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        j = job(m, job_id)
        if j.state == state:
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is {j.state} ({j.error}), not {state}")


def verifies(j: pb.Job, public) -> bool:
    pt = PoStProofType.from_chain_id(j.proof_type)
    return verify_window_post(
        pt, mask_randomness(j.randomness), prover_id(j.miner), public, j.proof
    )


def test_a_job_is_proven_verified_and_succeeds(mgr, workers):
    s = proven_set()
    (job_id,) = add(mgr, s.new_job())
    w = workers(mgr, storages={"store-1": s.root})
    done = wait_state(mgr, job_id, "succeeded")
    assert done.attempt == 1 and done.worker == "w1" and list(done.faulty) == []
    assert verifies(done, [r.public for r in s.replicas])
    assert w.events("no_gpu")  # no driver here: the worker says it runs on CPU
    admin = mgr.client("admin")
    (info,) = admin.call(admin.admin.ListWorkers, pb.ListWorkersRequest()).workers
    assert info.name == "w1" and list(info.gpus) == []


def test_workers_heartbeat_at_the_interval_the_manager_hands_out(tmp_path, workers):
    m = ManagerProcess(
        tmp_path / "fast",
        heartbeat_interval_s=0.25,
        replace={"heartbeat_timeout_s = 15.0": "heartbeat_timeout_s = 4.0"},
    ).start()
    try:
        w = workers(m, name="hb")
        until = time.monotonic() + 30
        while not w.events("worker_registered") and time.monotonic() < until:
            time.sleep(0.05)
        (registered,) = w.events("worker_registered")
        assert (registered["heartbeat_interval_s"], registered["heartbeat_timeout_s"]) == (
            0.25,
            4.0,
        )
        admin = m.client("admin")
        seen = set()
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            (worker,) = admin.call(admin.admin.ListWorkers, pb.ListWorkersRequest()).workers
            seen.add(worker.last_seen_at.ToNanoseconds())
            time.sleep(0.05)
        assert len(seen) >= 5  # the worker's own default (3 s) would give one or two
    finally:
        m.kill()


def test_a_deleted_sector_is_skipped_and_the_job_succeeds(mgr, workers, tmp_path):
    s = fresh_set(tmp_path / "store")
    s.replicas[1].sealed_path.unlink()
    (job_id,) = add(mgr, s.new_job())
    workers(mgr, storages={"store-1": s.root})
    done = wait_state(mgr, job_id, "succeeded")
    assert list(done.faulty) == [2]
    assert verifies(done, [s.replicas[0].public])


def test_a_missing_storage_is_handed_back_at_once(mgr, workers):
    s = proven_set()
    (job_id,) = add(mgr, s.new_job(storage="store-9"))
    w = workers(mgr, storages={"store-1": s.root})
    w.wait_for("job_released", job_id=job_id, timeout=30)
    j = job(mgr, job_id)
    assert j.state == "ready" and j.tries == 0
    assert "store-9 not attached" in j.error
    time.sleep(1.5)
    assert len(w.events("job_claimed", job_id=job_id)) == 1  # not claimed again and again


def test_random_bytes_as_a_proof_never_succeed(mgr, workers):
    s = proven_set()
    (job_id,) = add(mgr, s.new_job())
    rogue = mgr.client("worker")
    rogue.call(rogue.worker.Register, pb.RegisterRequest(name="rogue"))
    claimed = rogue.call(rogue.worker.Claim, pb.ClaimRequest(worker="rogue")).job
    resp = rogue.call(
        rogue.worker.Finish,
        pb.FinishRequest(
            worker="rogue",
            job_id=job_id,
            attempt=claimed.attempt,
            success=True,
            proof=os.urandom(192),
        ),
    )
    assert resp.state == "ready"
    j = job(mgr, job_id)
    assert "invalid proof" in j.error and not j.proof
    # A valid proof over the wrong sectors is no better.
    other = proven_set("8MiB")
    claimed = rogue.call(rogue.worker.Claim, pb.ClaimRequest(worker="rogue")).job
    resp = rogue.call(
        rogue.worker.Finish,
        pb.FinishRequest(
            worker="rogue", job_id=job_id, attempt=claimed.attempt, success=True, proof=other.proof
        ),
    )
    assert resp.state == "failed"  # two tries spent, never succeeded
    assert "invalid proof" in job(mgr, job_id).error


def test_a_stale_worker_finish_is_refused(mgr):
    s = proven_set()
    (job_id,) = add(mgr, s.new_job())
    c = mgr.client("worker")
    for name in ("slow", "fast"):
        c.call(c.worker.Register, pb.RegisterRequest(name=name))
    slow = c.call(c.worker.Claim, pb.ClaimRequest(worker="slow")).job
    admin = mgr.client("admin")
    admin.call(admin.admin.ResetJobs, pb.JobIdsRequest(ids=[job_id]))
    fast = c.call(c.worker.Claim, pb.ClaimRequest(worker="fast")).job
    with pytest.raises(grpc.RpcError) as info:
        c.call(
            c.worker.Finish,
            pb.FinishRequest(
                worker="slow", job_id=job_id, attempt=slow.attempt, success=True, proof=s.proof
            ),
        )
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    c.call(
        c.worker.Finish,
        pb.FinishRequest(
            worker="fast", job_id=job_id, attempt=fast.attempt, success=True, proof=s.proof
        ),
    )
    assert job(mgr, job_id).state == "succeeded"


# ---- failures mid-proof (8MiB: a SNARK of ~3 s leaves time to act) --------


def test_kill_9_mid_proof_requeues_to_another_worker(mgr, workers):
    s = proven_set("8MiB")
    (job_id,) = add(mgr, s.new_job())
    a = workers(mgr, "a", storages={"store-1": s.root})
    a.wait_for("proving_started", job_id=job_id)
    a.kill()
    b = workers(mgr, "b", storages={"store-1": s.root})
    done = wait_state(mgr, job_id, "succeeded", timeout=60)
    assert done.worker == "b" and done.attempt == 2
    b.wait_for("job_finished", job_id=job_id, timeout=10)


def test_sigterm_mid_proof_hands_the_job_back_at_once(mgr, workers):
    s = proven_set("8MiB")
    (job_id,) = add(mgr, s.new_job())
    w = workers(mgr, storages={"store-1": s.root}, shutdown_grace_s=0.2)
    w.wait_for("proving_started", job_id=job_id)
    t0 = time.monotonic()
    w.signal(signal.SIGTERM)
    assert w.proc.wait(30) == 0
    j = job(mgr, job_id)
    assert j.state == "ready" and "worker shutting down" in j.error and j.tries == 0
    assert time.monotonic() - t0 < 5  # handed back, not left to time out
    w.wait_for("job_released", job_id=job_id, timeout=10)


def test_manager_restart_mid_proof_keeps_the_result(mgr, workers):
    s = proven_set("8MiB")
    (job_id,) = add(mgr, s.new_job())
    w = workers(mgr, storages={"store-1": s.root})
    w.wait_for("proving_started", job_id=job_id)
    mgr.kill()
    time.sleep(1.0)  # the worker's heartbeats fail meanwhile
    mgr.start()
    done = wait_state(mgr, job_id, "succeeded", timeout=60)
    assert done.attempt == 1 and done.worker == "w1"
    w.wait_for("manager_unreachable", timeout=10)


def test_reset_while_running_stops_the_child_and_frees_the_slot(mgr, workers):
    s = proven_set("8MiB")
    (job_id,) = add(mgr, s.new_job())
    w = workers(mgr, storages={"store-1": s.root})
    first = w.wait_for("proving_started", job_id=job_id)
    admin = mgr.client("admin")
    admin.call(admin.admin.ResetJobs, pb.JobIdsRequest(ids=[job_id]))
    killed = w.wait_for("compute_killed", timeout=10)
    assert killed["reason"] == "reset" and killed["pid"] == first["pid"]
    done = wait_state(mgr, job_id, "succeeded", timeout=60)  # the freed slot takes it again
    assert done.attempt == 2
    second = w.events("proving_started", job_id=job_id)[1]
    assert second["pid"] != first["pid"]


def test_a_crashed_child_fails_the_attempt_and_the_worker_lives_on(mgr, workers):
    s = proven_set("8MiB")
    (job_id,) = add(mgr, s.new_job())
    w = workers(mgr, storages={"store-1": s.root})
    started = w.wait_for("proving_started", job_id=job_id)
    os.kill(started["pid"], signal.SIGKILL)
    failed = w.wait_for("job_finished", job_id=job_id, success=False)
    assert "compute process died from SIGKILL" in failed["error"]
    done = wait_state(mgr, job_id, "succeeded", timeout=60)
    assert done.attempt == 2 and w.proc.poll() is None


def test_drain_finishes_the_running_job_then_exits(mgr, workers):
    s = proven_set("8MiB")
    first, second = add(mgr, s.new_job(0), s.new_job(1))
    w = workers(mgr, storages={"store-1": s.root}, shutdown_grace_s=60)
    w.wait_for("proving_started", job_id=first)
    admin = mgr.client("admin")
    admin.call(admin.admin.DrainWorker, pb.DrainWorkerRequest(name="w1"))
    assert w.proc.wait(60) == 0
    assert job(mgr, first).state == "succeeded"
    assert job(mgr, second).state == "ready"  # not claimed while draining
