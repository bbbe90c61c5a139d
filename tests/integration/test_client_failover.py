"""ManagerClient over several managers, against real gRPC servers on
loopback (stand-in servicers, in process): a call a manager cannot serve
goes to the next at once, which stays the current one; a refusal does not
move; a call whose deadline ran out moves only if it may run twice; a
server stream moves until its first message; when every manager fails the
last error is raised."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from prover._proto import manager_pb2 as pb
from prover._proto import manager_pb2_grpc as pb_grpc
from prover.api.client import ApiInfo, ManagerClient
from prover.api.keepalive import SERVER_KEEPALIVE_OPTIONS


class Stub(pb_grpc.WorkerServiceServicer, pb_grpc.AdminServiceServicer):
    """A manager that answers with its own name, counts calls per method and
    refuses or stalls the methods it is told to."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: dict[str, int] = {}
        self.tokens: set[str] = set()
        self.refuse: dict[str, tuple[grpc.StatusCode, str]] = {}
        self.stall: set[str] = set()
        self.release = threading.Event()

    def _enter(self, method: str, context) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        self.tokens.update(v for k, v in context.invocation_metadata() if k == "authorization")
        if method in self.refuse:
            context.abort(*self.refuse[method])
        if method in self.stall:
            self.release.wait(30)

    def Status(self, request, context):
        self._enter("Status", context)
        return pb.StatusResponse(version=self.name)

    def Heartbeat(self, request, context):
        self._enter("Heartbeat", context)
        return pb.HeartbeatResponse()

    def Deadlines(self, request, context):
        self._enter("Deadlines", context)
        return pb.DeadlinesResponse(current_epoch=7)

    def AddJobs(self, request, context):
        self._enter("AddJobs", context)
        return pb.AddJobsResponse(ids=[1])

    def Claim(self, request, context):
        self._enter("Claim", context)
        return pb.ClaimResponse(job=pb.Job(id=1, attempt=1, worker=self.name))

    def CheckSectors(self, request, context):
        self._enter("CheckSectors", context)
        for s in range(3):
            yield pb.SectorCheck(sector=s, status="good", reason=self.name)


class Server:
    def __init__(self, name: str) -> None:
        self.stub = Stub(name)
        self.server = grpc.server(
            ThreadPoolExecutor(max_workers=8), options=SERVER_KEEPALIVE_OPTIONS
        )
        pb_grpc.add_WorkerServiceServicer_to_server(self.stub, self.server)
        pb_grpc.add_AdminServiceServicer_to_server(self.stub, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.stub.release.set()
        self.server.stop(0).wait()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(name: str) -> Server:
        started.append(Server(name))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def client_of(*addresses: str) -> ManagerClient:
    return ManagerClient(ApiInfo.of("admin.secret", addresses))


def status(c: ManagerClient, timeout: float = 5.0) -> str:
    return c.call(c.admin.Status, pb.StatusRequest(), timeout=timeout).version


def test_a_dead_first_address_is_skipped_and_the_second_stays_current(servers):
    b = servers("b")
    with client_of(closed_port(), b.address) as c:
        t0 = time.monotonic()
        assert status(c) == "b"
        assert time.monotonic() - t0 < 3  # connection refused: moved at once
        assert c.address == b.address
        c.call(c.worker.Heartbeat, pb.HeartbeatRequest(worker="w"))
        assert b.stub.calls == {"Status": 1, "Heartbeat": 1}
        assert b.stub.tokens == {"Bearer admin.secret"}


def test_a_manager_stopped_mid_run_hands_over_to_the_next(servers):
    a, b = servers("a"), servers("b")
    with client_of(a.address, b.address) as c:
        assert [status(c) for _ in range(3)] == ["a"] * 3
        a.stop()
        assert [status(c) for _ in range(3)] == ["b"] * 3
        assert b.stub.calls["Status"] == 3


def test_every_manager_down_raises_the_last_error():
    with client_of(closed_port(), closed_port()) as c:
        with pytest.raises(grpc.RpcError) as info:
            status(c)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_one_address_is_not_retried(servers):
    a = servers("a")
    a.stub.refuse["Status"] = (grpc.StatusCode.UNAVAILABLE, "busy")
    with client_of(a.address) as c, pytest.raises(grpc.RpcError):
        status(c)
    assert a.stub.calls["Status"] == 1


def test_a_standby_refusal_moves_to_the_leader(servers):
    a, b = servers("standby"), servers("leader")
    a.stub.refuse["Deadlines"] = (
        grpc.StatusCode.UNAVAILABLE,
        "standby: this manager does not follow the chain now; the leader is m2 at x:1",
    )
    with client_of(a.address, b.address) as c:
        assert c.call(c.admin.Deadlines, pb.DeadlinesRequest()).current_epoch == 7
        assert (a.stub.calls["Deadlines"], b.stub.calls["Deadlines"]) == (1, 1)


def test_a_refusal_is_the_answer_and_does_not_move(servers):
    a, b = servers("a"), servers("b")
    a.stub.refuse["Status"] = (grpc.StatusCode.PERMISSION_DENIED, "admin only")
    with client_of(a.address, b.address) as c:
        with pytest.raises(grpc.RpcError) as info:
            status(c)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert c.address == a.address and b.stub.calls == {}


def test_a_stalled_call_moves_on_only_if_it_may_run_twice(servers):
    a, b = servers("a"), servers("b")
    a.stub.stall = {"Heartbeat", "AddJobs"}
    with client_of(a.address, b.address) as c:
        c.call(c.worker.Heartbeat, pb.HeartbeatRequest(worker="w"), timeout=0.5)
        assert b.stub.calls == {"Heartbeat": 1} and c.address == b.address
    with client_of(a.address, b.address) as c:
        with pytest.raises(grpc.RpcError) as info:
            c.call(c.admin.AddJobs, pb.AddJobsRequest(), timeout=0.5)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "AddJobs" not in b.stub.calls  # it may have been done at a: not twice


def test_a_future_that_fails_moves_the_next_call_on(servers):
    b = servers("b")
    with client_of(closed_port(), b.address) as c:
        first = c.worker.Claim.future(pb.ClaimRequest(worker="w"), metadata=c.metadata, timeout=5)
        with pytest.raises(grpc.RpcError):
            first.result()
        deadline = time.monotonic() + 2
        while c.address != b.address and time.monotonic() < deadline:
            time.sleep(0.01)  # the done callback runs on gRPC's thread
        second = c.worker.Claim.future(pb.ClaimRequest(worker="w"), metadata=c.metadata, timeout=5)
        assert second.result().job.worker == "b"


def test_a_stream_moves_on_until_its_first_message(servers):
    a, b = servers("a"), servers("b")
    a.stub.refuse["CheckSectors"] = (grpc.StatusCode.UNAVAILABLE, "standby: the leader is b")
    with client_of(a.address, b.address) as c:
        got = list(c.admin.CheckSectors(pb.CheckSectorsRequest(), metadata=c.metadata))
        assert [(s.sector, s.reason) for s in got] == [(0, "b"), (1, "b"), (2, "b")]
