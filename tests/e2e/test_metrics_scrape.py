"""Metrics move as jobs run: a real manager following the devnet and a real
worker, both scraped over HTTP before and after a proven deadline."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chain_fixtures import MINER, start_devnet, wait_for
from prover.worker.gpu import gpu_facts


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) -> value of one /metrics scrape."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of ``name`` over the series whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def test_a_proven_deadline_moves_the_managers_and_the_workers_metrics(tmp_path):
    chain = start_devnet(tmp_path, {2: [[1, 2]]})
    m = chain.manager(tmp_path / "mgr")
    w = None
    try:
        assert m.http_port, "its endpoint file names the HTTP listener"
        before = scrape(m.http_port)
        endpoint = tmp_path / "w1" / "endpoint.json"
        w = chain.worker(
            tmp_path / "w1", m, metrics_listen="127.0.0.1:0", endpoint_file=str(endpoint)
        )
        worker_port = w.wait_for_endpoint(endpoint, 30).http_port
        assert total(scrape(worker_port), "prover_worker_jobs_total") == 0
        wait_for(lambda: chain.proven(0, 2) == {0}, 90, "deadline 2 proven")
        wait_for(lambda: m.events("post_landed"), 30, "the PoSt message landed")

        def moved() -> bool:
            after = scrape(m.http_port)
            return (
                total(after, "prover_partitions_proven_total")
                > total(before, "prover_partitions_proven_total")
                and total(after, "prover_jobs", state="succeeded") >= 1
            )

        wait_for(moved, 30, "manager metrics moved")
        after = scrape(m.http_port)
        miner = str(MINER)
        for name in (
            "prover_messages_pushed_total",
            "prover_messages_landed_total",
            "prover_partitions_proven_total",
            "prover_fees_paid_fil_total",
            "prover_gas_used_total",
            "prover_jobs_finished_total",
            "prover_worker_heartbeats_total",
            "prover_proof_step_seconds_count",
            "prover_job_duration_seconds_count",
        ):
            assert total(after, name) > total(before, name), name
        assert total(after, "prover_messages_landed_total", miner=miner, deadline="2") >= 1
        assert total(after, "prover_proof_step_seconds_count", step="verify") >= 1
        assert total(after, "prover_proof_step_seconds_count", step="snark") >= 1
        assert total(after, "prover_jobs", miner=miner, state="succeeded") >= 1
        assert total(after, "prover_chain_head_height") > total(before, "prover_chain_head_height")
        assert total(after, "prover_partitions_missed_total") == 0
        assert total(after, "prover_proofs_refused_total") == 0
        assert total(after, "prover_worker_last_seen_timestamp_seconds", worker="w1") > 0

        worker = scrape(worker_port)
        assert total(worker, "prover_worker_jobs_total", worker="w1", result="proven") >= 1
        assert total(worker, "prover_worker_proof_step_seconds_count", step="snark") >= 1
        # GPU series exactly where NVML sees a GPU (none on a machine without one)
        has_gpu = any(n == "prover_gpu_memory_total_bytes" for n, _ in worker)
        assert has_gpu == bool(gpu_facts())
    finally:
        if w is not None:
            w.kill()
        m.kill()
        chain.server.stop()
