"""Staying under the gRPC message limit: AddJobs requests cut by size, and
ListJobs page tokens."""

from __future__ import annotations

import pytest

from prover._proto import manager_pb2 as pb
from prover.cli.jobs_cmds import add_batches
from prover.manager.listing import page_token, parse_page_token
from prover.manager.requests import BadRequest


def new_job(partition: int, sectors: int) -> pb.NewJob:
    return pb.NewJob(
        miner=1000,
        proof_type=13,
        partition=partition,
        randomness=bytes(32),
        sectors=[
            pb.SectorRef(id=n, comm_r=bytes(32), sealed_storage="s", cache_storage="s")
            for n in range(sectors)
        ],
    )


def test_add_batches_keep_order_and_stay_under_the_budget():
    jobs = [new_job(p, 2349) for p in range(60)]  # about 8 MiB in all
    batches = add_batches(jobs)
    assert len(batches) >= 3
    assert [j.partition for b in batches for j in b] == list(range(60))
    assert all(pb.AddJobsRequest(jobs=b).ByteSize() <= 3 << 20 for b in batches)


def test_small_jobs_go_in_one_request():
    assert len(add_batches([new_job(p, 2) for p in range(100)])) == 1


def test_a_job_bigger_than_a_request_is_refused_naming_it():
    with pytest.raises(ValueError, match="job 1 alone is"):
        add_batches([new_job(0, 2), new_job(1, 2349)], budget=50_000)


@pytest.mark.parametrize("key", [(100, 7), (1 << 62, 12345), (-5, 1)])
def test_page_tokens_round_trip(key):
    assert parse_page_token(page_token(key)) == key


@pytest.mark.parametrize("token", ["x", "1", "1:x", ":"])
def test_a_token_we_did_not_give_is_a_bad_request(token):
    with pytest.raises(BadRequest, match="page_token"):
        parse_page_token(token)


def test_no_token_is_the_first_page():
    assert parse_page_token("") is None
