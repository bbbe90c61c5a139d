"""A worker registers again when a manager refuses its Claim for not
knowing it, and it knows so from the refusal's reason (``prover-refusal:
unknown-worker``, set by the manager's one error map), never from the
English text: a refusal that merely reads "not registered" is not one.

Over real gRPC, so that the reason travels as trailing metadata on an
aborted call; the manager side is a stand-in whose Claim refuses through
the servicers' ``status_mapping``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from prover._proto import manager_pb2 as pb
from prover._proto import manager_pb2_grpc as pb_grpc
from prover.api.client import ApiInfo, ManagerClient
from prover.api.refusals import Refusal, refusal, refusal_metadata
from prover.manager.servicers import status_mapping
from prover.store import UnknownWorker
from prover.worker import loop
from prover.worker.config import WorkerConfig
from prover.worker.pinning import Pinning
from prover.worker.spool import Spool


class _Slot:
    def __init__(self, index, _settings) -> None:
        self.index = index
        self.pid = None

    def kill(self) -> None:
        pass


class Manager(pb_grpc.WorkerServiceServicer):
    """Refuses Claims until the worker registers: as the real manager does
    (``UnknownWorker`` through ``status_mapping``); with ``text_only``, with
    the same words and no reason (a manager of API 2, before reasons); with
    ``other_reason``, with the same words and another reason."""

    def __init__(self, *, text_only: bool, other_reason: bool = False) -> None:
        self.text_only = text_only
        self.other_reason = other_reason
        self.registered: list[str] = []
        self.claims = 0

    def Register(self, request, context):
        self.registered.append(request.name)
        return pb.RegisterResponse(heartbeat_interval_ms=500, heartbeat_timeout_ms=5000)

    def Claim(self, request, context):
        self.claims += 1
        if not self.registered:
            if self.text_only or self.other_reason:
                words = str(UnknownWorker(request.worker))
                if self.other_reason:
                    context.set_trailing_metadata(refusal_metadata(Refusal.TRANSITION_REFUSED))
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, words)
            with status_mapping(context):
                raise UnknownWorker(request.worker)
        return pb.ClaimResponse(job=pb.Job(id=1, attempt=1))


@pytest.fixture
def serve():
    servers: list[grpc.Server] = []

    def start(manager: Manager) -> str:
        server = grpc.server(ThreadPoolExecutor(4))
        pb_grpc.add_WorkerServiceServicer_to_server(manager, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(0)


def worker_at(address: str, tmp_path, monkeypatch) -> loop.Worker:
    monkeypatch.setattr(loop, "ComputeSlot", _Slot)
    monkeypatch.setattr(loop, "gpu_facts", lambda _gpu: [])
    config = WorkerConfig(name="w1", claim_wait_s=1.0)
    pinning = Pinning(None, frozenset({0}), tmp_path / "tmp")
    client = ManagerClient(ApiInfo("t", address))
    return loop.Worker(config, client, pinning, Spool(tmp_path / "spool"))


def test_the_managers_refusal_carries_the_reason(serve):
    address = serve(Manager(text_only=False))
    with ManagerClient(ApiInfo("t", address)) as client, pytest.raises(grpc.RpcError) as info:
        client.call(client.worker.Claim, pb.ClaimRequest(worker="w1"))
    exc = info.value
    assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refusal(exc) is Refusal.UNKNOWN_WORKER
    assert "not registered" in exc.details()  # the words stay, for people


def test_a_worker_registers_again_on_the_reason(serve, tmp_path, monkeypatch):
    manager = Manager(text_only=False)
    w = worker_at(serve(manager), tmp_path, monkeypatch)
    assert w.claims.claim(w.slots[0]) is None  # refused: registered, then asks again
    assert manager.registered == ["w1"] and w.heartbeats.interval == 0.5
    job = w.claims.claim(w.slots[0])
    assert job is not None and job.id == 1 and manager.claims == 2
    w.client.close()


def test_the_words_alone_are_not_a_reason_to_register(serve, tmp_path, monkeypatch):
    manager = Manager(text_only=False, other_reason=True)
    w = worker_at(serve(manager), tmp_path, monkeypatch)
    with pytest.raises(grpc.RpcError) as info:
        w.claims.claim(w.slots[0])
    assert "not registered" in info.value.details()
    assert refusal(info.value) is Refusal.TRANSITION_REFUSED
    assert manager.registered == []
    w.client.close()


def test_a_manager_from_before_reasons_still_gets_the_worker_registered(
    serve, tmp_path, monkeypatch
):
    """A rolling upgrade may move workers first: a manager of API 2 gives no
    reason, and its one FAILED_PRECONDITION to a Claim is an unknown worker
    (known by the code, not the words)."""
    manager = Manager(text_only=True)
    w = worker_at(serve(manager), tmp_path, monkeypatch)
    assert w.claims.claim(w.slots[0]) is None
    assert manager.registered == ["w1"]
    assert w.claims.claim(w.slots[0]).id == 1
    w.client.close()
