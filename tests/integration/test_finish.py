"""Accepting a worker's result, without gRPC: ``finish.accept`` over a real
store and the chain's verifier with real 2KiB proofs."""

from __future__ import annotations

import pytest

from prover.manager.finish import Report, accept
from prover.manager.requests import BadRequest
from prover.proofs import SectorRef, prove_partition, prover_id
from prover.store import JobState, NewJobSpec, TransitionRefused, UnknownJob
from proving_fixtures import MINER, RANDOMNESS, proven_set


@pytest.fixture
def proven():
    return proven_set("2KiB")


def add_job(store, proven, **kw) -> int:
    spec = NewJobSpec(
        miner=MINER,
        proof_type=proven.proof_type.chain_id,
        deadline=1,
        partition=0,
        randomness=RANDOMNESS,
        sectors=[SectorRef(r.sector_id, r.comm_r, "store-1", "store-1") for r in proven.replicas],
        **kw,
    )
    ((job_id, _),) = store.add_jobs([spec])
    return job_id


def claimed(store, proven, worker="w1", **kw):
    job_id = add_job(store, proven, **kw)
    job = store.claim(worker)
    assert job.id == job_id
    return job


def report(job, **kw) -> Report:
    return Report(**({"worker": job.worker, "job_id": job.id, "attempt": job.attempt} | kw))


def test_a_proof_that_verifies_is_accepted_and_stored(store, proven):
    job = claimed(store, proven)
    done = accept(store, report(job, success=True, proof=proven.proof, timings={"total": 1.0}))
    assert (done.success, done.outcome.state, done.outcome.duplicate) == (
        True,
        JobState.SUCCEEDED,
        False,
    )
    row = store.get(job.id)
    assert row.proof == proven.proof and row.timings["total"] == 1.0


def test_a_proof_that_does_not_verify_fails_the_attempt(store, proven):
    job = claimed(store, proven)
    forged = bytes(reversed(proven.proof))
    done = accept(store, report(job, success=True, proof=forged))
    assert not done.success and done.error.startswith("invalid proof: does not verify")
    row = store.get(job.id)
    assert row.state == JobState.READY and row.proof is None and "invalid proof" in row.error


def test_sectors_the_worker_found_faulty_are_left_out_of_the_check(store, proven):
    job = claimed(store, proven)
    pt, good = proven.proof_type, proven.replicas[0]
    proof = prove_partition(pt, RANDOMNESS, prover_id(MINER), [good], 0).proof
    faulty = frozenset({proven.replicas[1].sector_id})
    done = accept(store, report(job, success=True, proof=proof, faulty=faulty))
    assert done.success and store.get(job.id).faulty == sorted(faulty)
    # the same proof claiming every sector does not verify
    other = claimed(store, proven, period_start=2880)
    assert not accept(store, report(other, success=True, proof=proof)).success


def test_a_failure_report_is_recorded_with_its_error(store, proven):
    job = claimed(store, proven)
    done = accept(store, report(job, success=False, error="compute process died from SIGKILL"))
    assert done.outcome.state == JobState.READY and not done.success
    assert store.get(job.id).error == "compute process died from SIGKILL"


@pytest.mark.parametrize("proof", [b"", bytes(191), bytes(193)])
def test_a_success_without_whole_proofs_is_a_bad_request(store, proven, proof):
    job = claimed(store, proven)
    with pytest.raises(BadRequest, match="proof: must be a multiple of 192 bytes"):
        accept(store, report(job, success=True, proof=proof))
    assert store.get(job.id).state == JobState.RUNNING


def test_faulty_sectors_outside_the_job_are_a_bad_request(store, proven):
    job = claimed(store, proven)
    with pytest.raises(BadRequest, match=r"faulty: sectors \[99\] are not in job"):
        accept(store, report(job, success=True, proof=proven.proof, faulty=frozenset({99})))


def test_an_unknown_job_is_refused(store, proven):
    job = claimed(store, proven)
    with pytest.raises(UnknownJob):
        accept(store, report(job, job_id=job.id + 1000, success=False, error="x"))


def test_a_stale_result_is_refused_and_a_repeat_is_a_duplicate(store, proven):
    job = claimed(store, proven)
    with pytest.raises(TransitionRefused, match="stale finish"):
        accept(store, report(job, attempt=job.attempt + 1, success=True, proof=proven.proof))
    first = accept(store, report(job, success=True, proof=proven.proof))
    again = accept(store, report(job, success=True, proof=proven.proof))
    assert not first.outcome.duplicate and again.outcome.duplicate
    assert again.outcome.state == JobState.SUCCEEDED
