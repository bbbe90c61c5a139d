"""Job files for ``prover jobs add``: what they may hold, and errors that
name the entry and the field; a file with an error is refused whole."""

from __future__ import annotations

import json

import pytest

from prover.api.jobfile import parse_job_file
from prover.proofs import SectorRef
from prover.store import InvalidJob

HEX = "ab" * 32


def entry(**kw):
    return {
        "miner": 1000,
        "proof_type": "2KiB",
        "deadline": 3,
        "partition": 0,
        "randomness": HEX,
        "sectors": [{"id": 1, "comm_r": HEX, "storage": "store-1"}],
    } | kw


def test_one_object_or_a_list():
    (one,) = parse_job_file(json.dumps(entry()))
    assert (one.miner, one.proof_type, one.deadline, one.partition) == (1000, 10, 3, 0)
    assert one.sectors == [SectorRef(1, bytes.fromhex(HEX), "store-1", "store-1")]
    assert len(parse_job_file(json.dumps([entry(), entry(partition=1)]))) == 2


def test_optional_fields_and_split_storages():
    (spec,) = parse_job_file(
        json.dumps(
            entry(
                proof_type=13,
                period_start=2880,
                challenge_epoch=10,
                open_epoch=30,
                close_epoch=90,
                skipped=[1],
                max_tries=5,
                sectors=[
                    {
                        "id": 1,
                        "comm_r": HEX,
                        "sealed_storage": "hdd",
                        "cache_storage": "nvme",
                        "upgraded": True,
                    }
                ],
            )
        )
    )
    assert (spec.proof_type, spec.period_start, spec.close_epoch, spec.max_tries) == (
        13,
        2880,
        90,
        5,
    )
    assert spec.skipped == [1]
    assert spec.sectors[0] == SectorRef(1, bytes.fromhex(HEX), "hdd", "nvme", True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "job 0: (file): not JSON"),
        ("[]", "job 0: (file): no jobs in the file"),
        (json.dumps([entry(), 5]), "job 1: (entry): must be a JSON object"),
        (json.dumps(entry(miner="1000")), "job 0: miner: must be an integer"),
        (json.dumps(entry(proof_type="3KiB")), "job 0: proof_type: no WindowPoSt proof type"),
        (json.dumps(entry(randomness="abc")), "job 0: randomness: must be 64 hex digits"),
        (json.dumps(entry(sectors=[])), "job 0: sectors: must be a non-empty list"),
        (json.dumps(entry(sectors=[{"id": 1}])), "job 0: sectors[0].comm_r: is required"),
        (
            json.dumps(entry(sectors=[{"id": 1, "comm_r": HEX, "colour": 1}])),
            "job 0: sectors[0].colour: unknown field",
        ),
        (json.dumps(entry(colour="red")), "job 0: colour: unknown field"),
        (json.dumps(entry(skipped=[9])), "job 0: skipped: sectors [9] are not in the job"),
        (json.dumps(entry(deadline=48)), "job 0: deadline: must be below 48"),
        (
            json.dumps(entry(challenge_epoch=50, open_epoch=40, close_epoch=90)),
            "job 0: close_epoch: need challenge_epoch <= open_epoch < close_epoch",
        ),
        (
            json.dumps({k: v for k, v in entry().items() if k != "partition"}),
            "job 0: partition: is required",
        ),
    ],
)
def test_errors_name_the_entry_and_the_field(text, message):
    with pytest.raises(InvalidJob) as info:
        parse_job_file(text)
    assert str(info.value).startswith(message), str(info.value)
