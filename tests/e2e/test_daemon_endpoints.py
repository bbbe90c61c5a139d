"""Each daemon's endpoint file (prover.endpoints): written once it listens,
naming the ports it answers on, and gone after SIGTERM. Whoever started a
daemon on port 0 (the demo, these tests) learns its ports there, not from
its log."""

from __future__ import annotations

import signal

import grpc
import httpx

from manager_harness import StorageHostProcess, WorkerProcess
from prover._proto import manager_pb2 as pb
from prover._proto import storage_pb2 as spb
from prover._proto import storage_pb2_grpc as spb_grpc
from prover.api.client import ApiInfo, ManagerClient

TOKEN = "worker.0123456789abcdef"
NO_MANAGER = f"{TOKEN}:127.0.0.1:9"  # announcing and registering: not under test


def metrics_answer(address: str) -> bool:
    resp = httpx.get(f"http://{address}/metrics", timeout=10)
    return resp.status_code == 200 and "# TYPE" in resp.text


def test_a_managers_endpoint_file_names_its_ports_and_goes_at_sigterm(manager):
    endpoint = manager.endpoint()
    (started,) = manager.events("manager_started")
    assert endpoint.daemon == "prover-manager"
    assert endpoint.grpc == started["listen"] and endpoint.http == started["http"]
    assert (endpoint.name, endpoint.version) == (started["name"], started["version"])
    client = ManagerClient(ApiInfo(manager.token("admin"), endpoint.grpc))
    try:
        assert client.call(client.admin.Status, pb.StatusRequest(), timeout=10).version
    finally:
        client.close()
    assert metrics_answer(endpoint.http)
    assert manager.terminate() == 0
    assert not manager.endpoint_file.exists()
    # no step of its start-up or stop failed on a thread of its own (the
    # scheduler's passes start before the lease's first step)
    raw = [e["line"] for e in manager.lines if e.get("event") == "raw"]
    assert not [line for line in raw if "Traceback" in line], raw


def test_a_storage_hosts_endpoint_file_names_its_ports_and_goes_at_sigterm(tmp_path):
    store = tmp_path / "store"
    for sub in ("sealed", "cache"):
        (store / sub).mkdir(parents=True)
    host = StorageHostProcess(
        NO_MANAGER, "host-e", {"store-a": store}, args=("--metrics-listen", "127.0.0.1:0")
    ).start()
    try:
        endpoint = host.wait_for_endpoint(host.endpoint_file, 30)
        assert (endpoint.daemon, endpoint.name, endpoint.lotus) == ("prover-storage", "host-e", "")
        with grpc.insecure_channel(endpoint.grpc) as channel:
            listed = spb_grpc.StorageServiceStub(channel).ListSectors(
                spb.ListSectorsRequest(miner=1000),
                metadata=(("authorization", f"Bearer {TOKEN}"),),
                timeout=10,
            )
        assert [s.storage for s in listed.storages] == ["store-a"]
        assert metrics_answer(endpoint.http)
        host.signal(signal.SIGTERM)
        assert host.proc.wait(30) == 0
        assert not host.endpoint_file.exists()
    finally:
        host.kill()


def test_a_workers_endpoint_file_names_its_metrics_and_goes_at_sigterm(tmp_path):
    path = tmp_path / "run" / "worker.json"
    worker = WorkerProcess(
        tmp_path / "w", NO_MANAGER, metrics_listen="127.0.0.1:0", endpoint_file=str(path)
    ).start()
    try:
        endpoint = worker.wait_for_endpoint(path, 60)
        assert (endpoint.daemon, endpoint.name, endpoint.grpc) == ("prover-worker", "w1", "")
        assert metrics_answer(endpoint.http)
        worker.signal(signal.SIGTERM)
        assert worker.proc.wait(30) == 0
        assert not path.exists()
    finally:
        worker.kill()
