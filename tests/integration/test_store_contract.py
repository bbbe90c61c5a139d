"""The job table's contract, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import job_spec
from prover.store import (
    ClaimFilter,
    InvalidJob,
    JobState,
    JobStore,
    TransitionRefused,
    UnknownJob,
)
from prover.store.migrate import current_revision, head_revision
from prover.store.workers import claim_filter


def add(store, *specs):
    return [job_id for job_id, _ in store.add_jobs(list(specs))]


def test_schema_is_at_the_newest_migration_and_matches_the_models(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from prover.store.models import SQLModel

    assert current_revision(store.engine) == head_revision(store.engine)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_claim_takes_earliest_close_then_partition(store):
    late, early_p1, early_p0, unknown = add(
        store,
        job_spec(0, deadline=5, close_epoch=500),
        job_spec(1, deadline=1, close_epoch=100),
        job_spec(0, deadline=1, close_epoch=100),
        job_spec(0, deadline=9),
    )
    order = [store.claim("w").id for _ in range(4)]
    assert order == [early_p0, early_p1, late, unknown]
    assert store.claim("w") is None


def test_claim_makes_a_fenced_running_attempt(store, clock):
    (job_id,) = add(store, job_spec())
    job = store.claim("w1")
    assert (job.id, job.state, job.worker, job.tries, job.attempt) == (
        job_id,
        JobState.RUNNING,
        "w1",
        1,
        1,
    )
    assert job.started_at == job.heartbeat_at
    assert store.claim("w2") is None


def test_claim_honours_worker_filters(store):
    a, b = add(store, job_spec(0, miner=1000), job_spec(0, miner=2000))
    assert store.claim("w", ClaimFilter(miners=frozenset({2000}))).id == b
    assert store.claim("w", ClaimFilter(proof_types=frozenset({13}))) is None
    assert store.claim("w", ClaimFilter(proof_types=frozenset({10}))).id == a


def test_draining_worker_claims_nothing(store, workers):
    add(store, job_spec())
    workers.register("w")
    assert workers.set_draining("w")
    assert store.claim("w") is None
    workers.register("w")  # registering again ends the drain
    assert store.claim("w") is not None


def test_add_is_idempotent_per_partition_and_generation(store):
    (first,) = add(store, job_spec(0))
    assert store.add_jobs([job_spec(0)]) == [(first, False)]
    (second,) = add(store, job_spec(0, generation=1, skipped=[2]))
    assert second != first
    assert store.get(second).skipped == [2]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (job_spec(0, sectors=()), "sectors"),
        (job_spec(0, deadline=48), "deadline"),
        (job_spec(0, skipped=[7]), "skipped"),
        (job_spec(0, max_tries=0), "max_tries"),
        (job_spec(-1), "partition"),
    ],
)
def test_a_bad_job_refuses_the_whole_request(store, spec, field):
    with pytest.raises(InvalidJob) as info:
        store.add_jobs([job_spec(5), spec])
    assert info.value.index == 1
    assert info.value.field == field
    assert store.list_jobs() == []


def test_heartbeat_keeps_the_job_and_names_what_to_stop(store, clock):
    a, b, c, d = add(store, *(job_spec(p, close_epoch=100) for p in range(4)))
    jobs = {j.id: j for j in (store.claim("w") for _ in range(4))}
    clock.advance(5)
    store.reset([b])
    store.remove([c])
    store.sweep_deadlines(100)  # expires a, d (b is ready again: expires too)
    stops = store.heartbeat("w", [(j.id, j.attempt) for j in jobs.values()] + [(99, 1)])
    reasons = {s.job_id: s.reason for s in stops}
    assert reasons == {a: "expired", b: "expired", c: "removed", d: "expired", 99: "removed"}


def test_heartbeat_reports_reset_reassigned_and_refreshes(store, clock):
    a, b = add(store, job_spec(0), job_spec(1))
    ja, jb = store.claim("w"), store.claim("w")
    clock.advance(3)
    store.reset([a])
    store.reset([b])
    jb2 = store.claim("other")
    assert jb2.id == a  # same ordering: partition 0 first
    stops = {s.job_id: s.reason for s in store.heartbeat("w", [(a, ja.attempt), (b, jb.attempt)])}
    assert stops == {a: "reassigned", b: "reset"}
    clock.advance(3)
    assert store.heartbeat("other", [(a, jb2.attempt)]) == []
    assert store.get(a).heartbeat_at == clock.now


def test_finish_accepts_the_holder_once(store):
    (job_id,) = add(store, job_spec())
    job = store.claim("w")
    out = store.finish("w", job_id, job.attempt, success=True, proof=b"p" * 192, faulty=[2])
    assert (out.state, out.duplicate) == (JobState.SUCCEEDED, False)
    again = store.finish("w", job_id, job.attempt, success=True, proof=b"p" * 192)
    assert (again.state, again.duplicate) == (JobState.SUCCEEDED, True)
    done = store.get(job_id)
    assert done.proof == b"p" * 192 and done.faulty == [2] and done.finished_at is not None


def test_stale_and_foreign_finishes_are_refused(store, clock):
    (job_id,) = add(store, job_spec())
    first = store.claim("w1")
    clock.advance(16)
    assert store.sweep_heartbeats() == [job_id]
    second = store.claim("w2")
    with pytest.raises(TransitionRefused, match="stale finish"):
        store.finish("w1", job_id, first.attempt, success=True, proof=b"x")
    with pytest.raises(TransitionRefused, match="stale finish"):
        store.finish("w1", job_id, second.attempt, success=True, proof=b"x")
    with pytest.raises(UnknownJob):
        store.finish("w2", 12345, 1, success=True, proof=b"x")
    with pytest.raises(TransitionRefused, match="without a proof"):
        store.finish("w2", job_id, second.attempt, success=True, proof=b"")
    assert store.get(job_id).state == JobState.RUNNING
    store.finish("w2", job_id, second.attempt, success=True, proof=b"x")
    assert store.get(job_id).state == JobState.SUCCEEDED


def test_failures_retry_until_max_tries(store):
    (job_id,) = add(store, job_spec())
    for expected in (JobState.READY, JobState.FAILED):
        job = store.claim("w")
        out = store.finish("w", job_id, job.attempt, success=False, error="boom")
        assert out.state == expected
    failed = store.get(job_id)
    assert failed.tries == 2 and failed.error == "boom" and failed.finished_at is not None
    assert store.claim("w") is None


def test_heartbeat_timeout_requeues_then_fails(store, clock):
    (job_id,) = add(store, job_spec())
    store.claim("w")
    clock.advance(14)
    assert store.sweep_heartbeats() == []
    clock.advance(2)
    assert store.sweep_heartbeats() == [job_id]
    job = store.get(job_id)
    assert job.state == JobState.READY and "heartbeat timeout" in job.error
    store.claim("w")
    clock.advance(16)
    store.sweep_heartbeats()
    assert store.get(job_id).state == JobState.FAILED


def test_no_timeouts_during_the_grace_after_a_start(store, clock):
    (job_id,) = add(store, job_spec())
    store.claim("w")
    clock.advance(60)  # the manager was down for a minute
    grace_end = clock.now + timedelta(seconds=15)
    assert store.sweep_heartbeats(not_before=grace_end) == []
    store.heartbeat("w", [(job_id, 1)])  # the worker comes back in time
    clock.advance(15)
    assert store.sweep_heartbeats(not_before=grace_end) == []
    assert store.get(job_id).state == JobState.RUNNING


def test_closed_deadlines_expire_and_are_not_claimed(store):
    a, b = add(store, job_spec(0, close_epoch=100), job_spec(1, close_epoch=200))
    assert store.claim("w", epoch=150).id == b
    assert store.sweep_deadlines(150) == [a]
    assert store.get(a).state == JobState.EXPIRED
    assert "epoch 100" in store.get(a).error


def test_lifetime_deletes_only_old_finished_jobs(store, clock):
    a, b = add(store, job_spec(0), job_spec(1))
    job = store.claim("w")
    store.finish("w", job.id, job.attempt, success=True, proof=b"x")
    clock.advance(25 * 3600 + 1)
    assert store.sweep_lifetime() == 1
    assert store.get(a) is None and store.get(b) is not None


def test_release_requeues_at_once_without_costing_a_try(store):
    (job_id,) = add(store, job_spec())
    job = store.claim("w")
    assert store.release("w", job_id, job.attempt, "shutting down") == JobState.READY
    again = store.claim("w2")
    assert again.tries == 1 and again.attempt == 2
    with pytest.raises(TransitionRefused):
        store.release("w", job_id, job.attempt, "late")


def test_reset_and_remove_report_unknown_ids(store):
    (job_id,) = add(store, job_spec())
    job = store.claim("w")
    store.finish("w", job_id, job.attempt, success=True, proof=b"x")
    assert store.reset([job_id, 777]) == {job_id: None, 777: "unknown job"}
    fresh = store.get(job_id)
    assert (fresh.state, fresh.tries, fresh.worker, fresh.proof, fresh.error) == (
        JobState.READY,
        0,
        None,
        None,
        None,
    )
    assert fresh.attempt == job.attempt  # attempts only grow
    assert store.remove([job_id, 778]) == {job_id: None, 778: "unknown job"}
    assert store.get(job_id) is None


def test_rows_survive_a_new_connection(store_url, clock):
    first = JobStore.open(store_url, clock=clock)
    add(first, job_spec(0), job_spec(1))
    running = first.claim("w")
    first.close()
    second = JobStore.open(store_url, clock=clock)
    states = {j.id: j.state for j in second.list_jobs()}
    assert states[running.id] == JobState.RUNNING and len(states) == 2
    second.close()


def test_workers_register_and_list(store, workers):
    workers.register(
        "gpu0",
        host="h",
        gpus=[{"index": 0, "name": "H200"}],
        cpus=16,
        allowed_miners=[1000],
        allowed_proof_types=[13],
    )
    (w,) = workers.all()
    assert (w.name, w.cpus, w.allowed_miners, w.gpus[0]["name"]) == ("gpu0", 16, [1000], "H200")
    assert claim_filter(w) == ClaimFilter(frozenset({1000}), frozenset({13}))
    assert workers.set_draining("nobody") is False


def test_has_deadline_jobs_counts_the_trackers_jobs_not_dry_runs(store):
    assert not store.has_deadline_jobs(1000, 0, 3)
    add(store, job_spec(0, deadline=3, dry_run=True, generation=1))
    assert not store.has_deadline_jobs(1000, 0, 3)
    add(store, job_spec(1, deadline=3))
    assert store.has_deadline_jobs(1000, 0, 3)
    assert not store.has_deadline_jobs(1000, 2880, 3) and not store.has_deadline_jobs(1000, 0, 4)
