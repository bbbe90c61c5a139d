"""Many processes claiming at once never claim one job twice."""

from __future__ import annotations

import multiprocessing as mp

from conftest import job_spec
from prover.store import JobState, JobStore

PROCESSES = 6
JOBS = 120


def _claim_until_empty(url: str, name: str, out) -> None:
    store = JobStore.open(url)
    got = []
    misses = 0
    while misses < 3:  # SKIP LOCKED may hide a job another claim holds briefly
        job = store.claim(name)
        if job is None:
            misses += 1
            continue
        misses = 0
        got.append((job.id, job.attempt))
    store.close()
    out.put((name, got))


def test_concurrent_processes_never_share_a_job(store):
    store.add_jobs([job_spec(p, deadline=p % 48, close_epoch=1000 + p) for p in range(JOBS)])
    url = store.engine.url.render_as_string(hide_password=False)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_claim_until_empty, args=(url, f"w{i}", out)) for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    claimed = [job_id for got in results.values() for job_id, _ in got]
    assert len(claimed) == len(set(claimed)) == JOBS
    rows = store.list_jobs()
    assert all(r.state == JobState.RUNNING and r.attempt == 1 for r in rows)
    holders = {job_id: name for name, got in results.items() for job_id, _ in got}
    assert all(holders[r.id] == r.worker for r in rows)
