"""Records cross the wire in one way each: what the servicers send is what
the worker and the CLI read back."""

from __future__ import annotations

from datetime import UTC, datetime

from prover._proto import manager_pb2 as pb
from prover.api.convert import (
    from_timestamp,
    job_to_pb,
    miss_to_pb,
    new_job_from_pb,
    new_job_to_pb,
    sector_from_pb,
    sector_to_pb,
    timings_from_pb,
    timings_to_pb,
)
from prover.proofs import SectorRef
from prover.store import JobState, Miss, NewJobSpec
from prover.store.models import JobRow

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
REFS = [SectorRef(1, bytes(32), "a", "b", True), SectorRef(2, bytes([1]) * 32, "a", "a")]


def test_sectors_round_trip():
    assert [sector_from_pb(sector_to_pb(s)) for s in REFS] == REFS


def test_new_jobs_round_trip_with_optional_fields_kept_unset():
    spec = NewJobSpec(
        miner=1000,
        proof_type=13,
        deadline=5,
        partition=2,
        randomness=bytes(range(32)),
        sectors=REFS,
        period_start=2880,
        close_epoch=3240,
        skipped=[2],
    )
    back = new_job_from_pb(new_job_to_pb(spec))
    assert back == spec
    assert back.challenge_epoch is None and back.max_tries is None


def test_a_job_row_on_the_wire():
    row = JobRow(
        id=7,
        miner=1000,
        proof_type=10,
        period_start=0,
        deadline=3,
        partition=1,
        close_epoch=240,
        randomness=bytes(32),
        sectors=REFS,
        skipped=[2],
        faulty=[1],
        state=JobState.SUCCEEDED,
        tries=1,
        max_tries=2,
        attempt=1,
        worker="w1",
        created_at=T0,
        updated_at=T0,
        finished_at=T0,
        proof=bytes(192),
        timings={"challenges": 0.1, "vanilla": 1.0, "snark": 2.0, "total": 3.1},
    )
    msg = job_to_pb(row)
    assert [sector_from_pb(s) for s in msg.sectors] == REFS
    assert msg.close_epoch == 240 and not msg.HasField("open_epoch")
    assert from_timestamp(msg, "finished_at") == T0 and from_timestamp(msg, "started_at") is None
    assert timings_from_pb(msg.timings) == row.timings
    assert msg.proof == bytes(192) and job_to_pb(row, include_proof=False).proof == b""


def test_timings_fill_missing_steps_with_zero():
    assert timings_from_pb(timings_to_pb({"total": 2})) == {
        "challenges": 0.0,
        "vanilla": 0.0,
        "snark": 0.0,
        "total": 2.0,
    }


def test_a_planned_miss_goes_out_without_a_record_time():
    msg = miss_to_pb(Miss(1000, 0, 3, 1, 240, [4, 3], "no sector found"))
    assert (msg.partition, list(msg.sectors), msg.reason) == (1, [4, 3], "no sector found")
    assert not msg.HasField("recorded_at")
    assert isinstance(msg, pb.Miss)
