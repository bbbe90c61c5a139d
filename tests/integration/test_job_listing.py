"""Listing jobs at mainnet size, on both backends: pages in close order,
tokens that resume where the last page stopped, sector counts instead of
sectors unless asked, and pages that stay under the message limit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import job_spec
from prover._proto import manager_pb2 as pb
from prover.manager.listing import list_page
from prover.manager.requests import BadRequest
from prover.proofs import SectorRef

BIG = 2349  # sectors in a 32GiB partition
BUDGET = 4 << 20


def big_spec(partition: int, **kw):
    first = partition * BIG + 1
    sectors = [
        SectorRef(n, n.to_bytes(32, "big"), "store-1", "store-1") for n in range(first, first + BIG)
    ]
    return replace(job_spec(partition, **kw), proof_type=13, sectors=sectors)


def add(store, specs) -> list[int]:
    return [job_id for job_id, _ in store.add_jobs(specs)]


def every_page(
    store, request: pb.ListJobsRequest, budget: int = BUDGET
) -> list[pb.ListJobsResponse]:
    pages = []
    while True:
        page = list_page(store, request, budget)
        pages.append(page)
        if not page.next_page_token:
            return pages
        request.page_token = page.next_page_token


def test_pages_follow_close_order_and_resume_from_their_token(store):
    ids = add(
        store,
        [job_spec(p, close_epoch=close) for p, close in enumerate([300, None, 100, 200, 100])],
    )
    pages = every_page(store, pb.ListJobsRequest(page_size=2))
    assert [len(p.jobs) for p in pages] == [2, 2, 1]
    listed = [j.id for p in pages for j in p.jobs]
    # close 100 (by id), 200, 300, then the job without a close
    assert listed == [ids[2], ids[4], ids[3], ids[0], ids[1]]
    assert all(j.sector_count == 2 and not j.sectors for p in pages for j in p.jobs)


def test_a_page_size_of_exactly_the_rest_ends_with_an_empty_page(store):
    add(store, [job_spec(p, close_epoch=10) for p in range(4)])
    pages = every_page(store, pb.ListJobsRequest(page_size=2))
    assert [len(p.jobs) for p in pages] == [2, 2, 0]


def test_filters_hold_across_pages(store):
    ids = add(store, [job_spec(p, deadline=p % 2, close_epoch=50 + p) for p in range(6)])
    store.claim("w")  # ids[0] runs; the default lists unfinished and failed
    pages = every_page(store, pb.ListJobsRequest(page_size=1, deadline=1))
    assert [j.id for p in pages for j in p.jobs] == [ids[1], ids[3], ids[5]]
    only = list_page(store, pb.ListJobsRequest(ids=[ids[4], ids[0]], all=True), BUDGET)
    assert [j.id for j in only.jobs] == [ids[0], ids[4]] and not only.next_page_token
    running = list_page(store, pb.ListJobsRequest(states=["running"]), BUDGET)
    assert [j.id for j in running.jobs] == [ids[0]]


def test_sectors_only_when_asked_and_pages_stay_under_the_budget(store):
    add(store, [big_spec(p, close_epoch=100) for p in range(40)])
    counts = list_page(store, pb.ListJobsRequest(), BUDGET)
    assert len(counts.jobs) == 40 and not counts.next_page_token
    assert {j.sector_count for j in counts.jobs} == {BIG} and counts.ByteSize() < 64 << 10
    pages = every_page(store, pb.ListJobsRequest(include_sectors=True))
    assert len(pages) >= 2  # 40 jobs of 2349 sectors are more than 4 MiB
    assert all(p.ByteSize() <= BUDGET for p in pages)
    jobs = [j for p in pages for j in p.jobs]
    assert len(jobs) == 40 and all(len(j.sectors) == BIG for j in jobs)
    assert jobs[3].sectors[0].id == 3 * BIG + 1 and jobs[3].sectors[0].sealed_storage == "store-1"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListJobsRequest(page_token="garbage"), "page_token"),
        (pb.ListJobsRequest(page_size=10_001), "page_size"),
        (pb.ListJobsRequest(states=["done"]), "states"),
    ],
)
def test_bad_requests_name_the_field(store, request_, field):
    with pytest.raises(BadRequest) as info:
        list_page(store, request_, BUDGET)
    assert info.value.field == field


def test_the_store_reads_sectors_and_proofs_only_when_asked(store):
    (job_id,) = add(store, [big_spec(0)])
    (light,) = store.list_jobs()
    assert light.sector_count == BIG and light.id == job_id
    assert "sectors" not in light.__dict__ and "proof" not in light.__dict__  # never read
    (full,) = store.list_jobs(sectors=True, proofs=True)
    assert len(full.sectors) == BIG and full.proof is None
