"""``ListJobs`` in pages: at most ``page_size`` jobs and at most what fits in
one gRPC message, so that listing works with tens of thousands of jobs of
2349 sectors each. Jobs carry their sector count; their sectors (and
proofs) only when asked for, and only those rows are read with them.

The page token is opaque to clients: the sort key of the last job sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from prover._proto import manager_pb2 as pb
from prover.api.convert import job_to_pb
from prover.manager.requests import BadRequest
from prover.store import JobState, JobStore

DEFAULT_PAGE = 1000
MAX_PAGE = 10_000
# Rows read at a time when each carries its sectors (a 32GiB job is ~140 kB
# on the wire): enough to fill a 4 MiB message without reading a thousand.
CHUNK_WITH_SECTORS = 32
VALID_STATES = {s.value for s in JobState}
DEFAULT_STATES = (JobState.READY, JobState.RUNNING, JobState.FAILED)


def page_token(key: tuple[int, int]) -> str:
    return f"{key[0]}:{key[1]}"


def parse_page_token(token: str) -> tuple[int, int] | None:
    if not token:
        return None
    close, sep, job_id = token.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(close), int(job_id)
    except ValueError:
        raise BadRequest("page_token", f"not a token this manager gave out: {token!r}") from None


def list_page(store: JobStore, request: pb.ListJobsRequest, budget: int) -> pb.ListJobsResponse:
    """One page of jobs for ``request``; ``budget`` is the most bytes of jobs
    a response may carry (under the server's message limit)."""
    states: Sequence[str] = list(request.states)
    if bad := [s for s in states if s not in VALID_STATES]:
        raise BadRequest("states", f"unknown state(s) {bad}; known: {sorted(VALID_STATES)}")
    if not states and not request.all:
        states = DEFAULT_STATES
    size = request.page_size or DEFAULT_PAGE
    if size > MAX_PAGE:
        raise BadRequest("page_size", f"at most {MAX_PAGE}, got {size}")
    after = parse_page_token(request.page_token)
    out = pb.ListJobsResponse()
    used = 0
    previous = None  # the last job put in the page
    while len(out.jobs) < size:
        want = size - len(out.jobs)
        if request.include_sectors:
            want = min(want, CHUNK_WITH_SECTORS)
        rows = store.list_jobs(
            states=states or None,
            miner=request.miner if request.HasField("miner") else None,
            deadline=request.deadline if request.HasField("deadline") else None,
            ids=list(request.ids) or None,
            after=after,
            limit=want,
            sectors=request.include_sectors,
            proofs=request.include_proof,
        )
        for row in rows:
            msg = job_to_pb(
                row,
                include_proof=request.include_proof,
                include_sectors=request.include_sectors,
            )
            cost = msg.ByteSize() + 8  # the field's tag and length
            if previous is not None and used + cost > budget:
                out.next_page_token = page_token(store.page_key(previous))
                return out
            out.jobs.append(msg)
            used += cost
            previous = row
        if len(rows) < want or previous is None:
            return out  # the last page
        after = store.page_key(previous)
    out.next_page_token = page_token(store.page_key(previous))
    return out
