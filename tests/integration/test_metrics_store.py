"""The manager's scrape-time collectors over a real store (both backends),
and /metrics served over HTTP from the route server."""

from __future__ import annotations

import socket

import httpx
import pytest
from prometheus_client import CollectorRegistry

from conftest import job_spec
from prover.chain.clock import EpochClock
from prover.manager.metrics import StoreCollector, job_counts, manager_registry
from prover.manager.web import start_http
from prover.metrics import registry_of
from prover.metrics.http import HttpServer, Response, metrics_route


def test_jobs_by_miner_and_state_every_state_shown(store, workers):
    store.add_jobs([job_spec(0), job_spec(1), job_spec(0, miner=1001)])
    workers.register("w1")
    claimed = store.claim("w1")
    assert claimed is not None
    expected = {(1000, "ready"): 2, (1001, "ready"): 1}
    expected[(claimed.miner, "ready")] -= 1
    expected[(claimed.miner, "running")] = 1
    assert job_counts(store) == {k: n for k, n in expected.items() if n}
    reg = registry_of([StoreCollector(store, workers)])
    total = sum(
        reg.get_sample_value("prover_jobs", {"miner": m, "state": s}) or 0
        for m in ("1000", "1001")
        for s in ("ready", "running")
    )
    assert total == 3
    assert reg.get_sample_value("prover_jobs", {"miner": "1000", "state": "expired"}) == 0
    seen = reg.get_sample_value("prover_worker_last_seen_timestamp_seconds", {"worker": "w1"})
    assert seen == pytest.approx(workers.get("w1").last_seen_at.timestamp())
    assert reg.get_sample_value("prover_worker_draining", {"worker": "w1"}) == 0


def test_metrics_over_http_and_unknown_paths_404(store, workers):
    store.add_jobs([job_spec(0)])
    clock = EpochClock.following_chain()
    clock.observe(1234)
    registry = manager_registry(store, workers, clock, 0, 30.0)

    def boom(request):
        raise RuntimeError("bug")

    routes = {
        "/metrics": metrics_route(registry),
        "/boom": boom,
        "/ok": lambda r: Response(200, b""),
    }
    server = HttpServer("127.0.0.1:0", routes).start()
    try:
        base = f"http://{server.address}"
        got = httpx.get(f"{base}/metrics", timeout=10)
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("text/plain")
        assert 'prover_jobs{miner="1000",state="ready"} 1.0' in got.text
        assert "prover_chain_head_height 1234.0" in got.text
        assert "# TYPE prover_messages_pushed_total counter" in got.text
        assert httpx.get(f"{base}/nope", timeout=10).status_code == 404
        assert httpx.get(f"{base}/boom", timeout=10).status_code == 500
        assert httpx.get(f"{base}/ok?x=1", timeout=10).status_code == 200  # still serving
    finally:
        server.stop()


def test_a_busy_http_address_is_refused_naming_the_listener():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(OSError, match=rf"\[http\] listen {address}: .*in use.*empty one"):
            start_http(address, CollectorRegistry())
