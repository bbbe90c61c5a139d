"""A worker's proof outlives the worker: written to its spool before the
Finish is sent, it is delivered by the next process of that worker when no
manager took it before the first was killed. Real manager and workers,
real proofs (8MiB: a SNARK of ~3 s leaves time to stop the manager before
the proof is done, as in test_worker's mid-proof tests)."""

from __future__ import annotations

import time

from manager_harness import ManagerProcess, WorkerProcess, free_port
from prover._proto import manager_pb2 as pb
from proving_fixtures import proven_set


def _job(m: ManagerProcess, job_id: int) -> pb.Job:
    c = m.client("admin")
    (j,) = c.call(
        c.admin.ListJobs, pb.ListJobsRequest(ids=[job_id], all=True, include_proof=True)
    ).jobs
    return j


def test_a_spooled_proof_is_delivered_by_the_restarted_worker_without_proving_again(tmp_path):
    s = proven_set("8MiB")
    # the default heartbeat timeout (15 s): the restarted manager's grace
    # covers the worker's restart, as it covers any manager restart
    mgr = ManagerProcess(tmp_path / "mgr", port=free_port()).start()
    spool = tmp_path / "spool"
    workers: list[WorkerProcess] = []

    def worker() -> WorkerProcess:
        w = WorkerProcess(
            tmp_path / "w",
            mgr.api_info("worker"),
            storages={"store-1": s.root},
            args=("--spool-dir", str(spool)),
            finish_retry_s=600.0,
        )
        workers.append(w.start())
        return w

    try:
        c = mgr.client("admin")
        (job_id,) = c.call(c.admin.AddJobs, pb.AddJobsRequest(jobs=[s.new_job()])).ids
        first = worker()
        first.wait_for("proving_started", job_id=job_id, timeout=60)
        mgr.kill()  # no manager answers when the proof is done
        spooled = first.wait_for("result_spooled", job_id=job_id, timeout=60)
        first.wait_for("manager_unreachable", call="Finish", job_id=job_id, timeout=30)
        assert not first.events("job_finished")
        first.kill()  # SIGKILL: what it held in memory is gone
        (path,) = spool.iterdir()
        assert path.name == f"finish-{job_id}-1.pb" and str(path) == spooled["path"]
        sent = pb.FinishRequest.FromString(path.read_bytes())
        assert (sent.job_id, sent.attempt, sent.worker, sent.success) == (job_id, 1, "w1", True)

        mgr.start()
        second = worker()
        second.wait_for("spooled_result_found", job_id=job_id, timeout=60)
        finished = second.wait_for("job_finished", job_id=job_id, timeout=60)
        assert finished["success"] and finished["state"] == "succeeded"
        assert not finished["duplicate"]
        j = _job(mgr, job_id)
        assert (j.state, j.attempt, j.worker, j.tries) == ("succeeded", 1, "w1", 1)
        assert j.proof == sent.proof  # the spooled proof, verified by the manager
        assert not second.events("proving_started")  # nothing proven again
        assert list(spool.iterdir()) == []  # answered: forgotten
        # and the worker goes on to claim new work
        second.wait_for("worker_started", timeout=10)
    finally:
        for w in workers:
            w.kill()
        mgr.kill()


def test_a_result_refused_for_good_is_dropped_from_the_spool(tmp_path):
    """A spooled result whose attempt is no longer current (the job was
    reset meanwhile) is answered with a refusal: logged and forgotten, and
    the worker goes on."""
    s = proven_set()
    mgr = ManagerProcess(tmp_path / "mgr", port=free_port()).start()
    spool = tmp_path / "spool"
    spool.mkdir()
    try:
        c = mgr.client("admin")
        (job_id,) = c.call(c.admin.AddJobs, pb.AddJobsRequest(jobs=[s.new_job()])).ids
        stale = pb.FinishRequest(worker="w1", job_id=job_id, attempt=7, success=True, proof=s.proof)
        (spool / f"finish-{job_id}-7.pb").write_bytes(stale.SerializeToString())
        w = WorkerProcess(
            tmp_path / "w",
            mgr.api_info("worker"),
            storages={"store-1": s.root},
            args=("--spool-dir", str(spool)),
        ).start()
        try:
            refused = w.wait_for("finish_refused", job_id=job_id, timeout=60)
            assert refused["code"] == "FAILED_PRECONDITION"
            assert list(spool.iterdir()) == []
            # the job itself is then claimed and proven as usual
            w.wait_for("job_finished", job_id=job_id, timeout=60)
            deadline = time.monotonic() + 30
            while _job(mgr, job_id).state != "succeeded" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _job(mgr, job_id).state == "succeeded"
        finally:
            w.kill()
    finally:
        mgr.kill()
