"""Connecting to the managers: API info (``<token>:<host:port>``, like
``lotus-miner auth api-info``, or ``<token>:<host:port>,<host:port>,...``
for several managers on one database), a channel per manager, and the stubs
with the token attached to every call.

With several managers a call that cannot be served where it was sent
(UNAVAILABLE: connection refused, a manager gone or hung, a standby that
leaves chain calls to the leader) is sent again at once to the next one,
so that a worker never misses a heartbeat window because one manager died.
Callers keep the stub shape (``client.worker.Finish``,
``client.admin.ListJobs``, ``.future``) and do not know how many managers
there are."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from prover._proto import manager_pb2 as pb
from prover._proto import manager_pb2_grpc as pb_grpc
from prover.api.keepalive import CLIENT_KEEPALIVE_OPTIONS
from prover.api.refusals import Refusal, refusal
from prover.logs import get_logger

ENV_API_INFO = "PROVER_API_INFO"
ENV_API_CA = "PROVER_API_CA"

API_INFO_SHAPE = "TOKEN:HOST:PORT[,HOST:PORT...]"

log = get_logger("prover.api")


class ApiInfoError(ValueError):
    pass


@dataclass(frozen=True)
class ApiInfo:
    """A token and the managers it is good for, in the order they are
    tried. ``ApiInfo(token, "host:port")`` is one manager; ``address`` is
    always the first (what single-manager code knew)."""

    token: str
    address: str
    addresses: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.addresses:
            parts = tuple(a.strip() for a in self.address.split(","))
            object.__setattr__(self, "addresses", parts)
        object.__setattr__(self, "address", self.addresses[0])

    @classmethod
    def of(cls, token: str, addresses: Sequence[str]) -> ApiInfo:
        return cls(token, addresses[0], tuple(addresses))

    def __str__(self) -> str:
        return f"{self.token}:{','.join(self.addresses)}"


def _address_problem(address: str) -> str | None:
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        return "is not HOST:PORT"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"has no valid port ({port!r})"
    if any(c.isspace() for c in host):
        return "has a space in its host"
    return None


def parse_api_info(value: str) -> ApiInfo:
    """``TOKEN:HOST:PORT[,HOST:PORT...]`` -> ApiInfo. The error names the
    part that is wrong, never the token (it is a secret)."""
    token, sep, rest = value.strip().partition(":")
    if not sep or not token:
        raise ApiInfoError(f"API info must look like {API_INFO_SHAPE}: no token before the ':'")
    if not rest.strip():
        raise ApiInfoError(f"API info must look like {API_INFO_SHAPE}: no manager address")
    addresses = [a.strip() for a in rest.split(",")]
    for n, address in enumerate(addresses, 1):
        where = f"address {n} of {len(addresses)}" if len(addresses) > 1 else "the address"
        if not address:
            raise ApiInfoError(f"API info: {where} is empty (a stray ',')")
        if problem := _address_problem(address):
            raise ApiInfoError(f"API info: {where}, {address!r}, {problem}")
    seen: set[str] = set()
    for address in addresses:
        if address in seen:
            raise ApiInfoError(f"API info: {address!r} is listed twice")
        seen.add(address)
    return ApiInfo.of(token, addresses)


def resolve_api_info(cli_value: str | None) -> ApiInfo:
    value = cli_value or os.environ.get(ENV_API_INFO)
    if not value:
        raise ApiInfoError(
            f"no manager to talk to: pass --api {API_INFO_SHAPE} or set {ENV_API_INFO} "
            "(prover-manager auth api-info --perm admin prints it)"
        )
    return parse_api_info(value)


# Calls that may run twice without harm (the store recognises a repeated
# Finish, Release or Register; the rest only read): one whose deadline ran
# out at one manager is sent to the next. Anything else moves on only when
# the manager said UNAVAILABLE (it did not serve the call).
IDEMPOTENT = frozenset(
    {
        "Register",
        "Heartbeat",
        "Finish",
        "Release",
        "AnnounceStorage",
        "LocateStorage",
        "ListJobs",
        "ListWorkers",
        "DrainWorker",
        "Status",
        "Deadlines",
        "ListAlerts",
        "ListStorageHosts",
    }
)

_SERVICES = {
    "worker": (pb.DESCRIPTOR.services_by_name["WorkerService"], pb_grpc.WorkerServiceStub),
    "admin": (pb.DESCRIPTOR.services_by_name["AdminService"], pb_grpc.AdminServiceStub),
}


def _failover_codes(method: str) -> frozenset[grpc.StatusCode]:
    if method in IDEMPOTENT:
        return frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
    return frozenset({grpc.StatusCode.UNAVAILABLE})


class FailoverMethod:
    """One RPC of a service, sent to the client's current manager and, when
    that one cannot serve it, to the next (see ``ManagerClient``)."""

    def __init__(self, client: ManagerClient, service: str, name: str, streaming: bool) -> None:
        self._client = client
        self._service = service
        self._name = name
        self._streaming = streaming
        self._codes = _failover_codes(name)

    def __repr__(self) -> str:
        return f"<{self._service}.{self._name} over {len(self._client.addresses)} manager(s)>"

    def _stub_method(self, index: int):
        return getattr(self._client._stubs[index][self._service], self._name)

    def __call__(self, request, timeout: float | None = None, metadata=None, **kw: Any):
        metadata = self._client.metadata if metadata is None else metadata
        if self._streaming:
            return self._stream(request, timeout, metadata, kw)
        return self._client._with_failover(
            self._name,
            self._codes,
            lambda i: self._stub_method(i)(request, timeout=timeout, metadata=metadata, **kw),
        )

    def with_call(self, request, timeout: float | None = None, metadata=None, **kw: Any):
        metadata = self._client.metadata if metadata is None else metadata
        return self._client._with_failover(
            self._name,
            self._codes,
            lambda i: self._stub_method(i).with_call(
                request, timeout=timeout, metadata=metadata, **kw
            ),
        )

    def future(self, request, timeout: float | None = None, metadata=None, **kw: Any):
        """The call at the current manager, as gRPC's future. It is not
        sent again (the caller waits on it, and a long poll such as Claim is
        not repeated behind its back), but when it fails with a code that
        means this manager is away, the client moves to the next, so the
        caller's next try goes there."""
        metadata = self._client.metadata if metadata is None else metadata
        index = self._client.current
        fut = self._stub_method(index).future(request, timeout=timeout, metadata=metadata, **kw)

        def done(f: grpc.Future) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if isinstance(exc, grpc.RpcError) and exc.code() in self._codes:
                self._client._move_on(index, self._name, exc)

        fut.add_done_callback(done)
        return fut

    def _stream(self, request, timeout, metadata, kw) -> Iterator:
        """A server stream fails over only until its first message: after
        that the answer is half given and the caller sees the error."""
        client = self._client
        n = len(client.addresses)
        start = client.current
        last: grpc.RpcError | None = None
        for step in range(n):
            i = (start + step) % n
            call = self._stub_method(i)(request, timeout=timeout, metadata=metadata, **kw)
            try:
                first = next(call)
            except StopIteration:
                return
            except grpc.RpcError as exc:
                if exc.code() not in self._codes or n == 1:
                    raise
                last = exc
                client._move_on(i, self._name, exc)
                continue
            yield first
            yield from call
            return
        assert last is not None
        raise last


class ServiceProxy:
    """``client.worker`` / ``client.admin``: the service's methods, each a
    ``FailoverMethod``."""

    def __init__(self, client: ManagerClient, service: str) -> None:
        descriptor, _ = _SERVICES[service]
        self._methods = {
            m.name: FailoverMethod(client, service, m.name, m.server_streaming)
            for m in descriptor.methods
        }

    def __getattr__(self, name: str) -> FailoverMethod:
        try:
            return self.__dict__["_methods"][name]
        except KeyError:
            raise AttributeError(name) from None


class ManagerClient:
    """Both services, over one channel per manager, with the bearer token on
    each call.

    Calls go to the current manager; a call it cannot serve (UNAVAILABLE,
    or DEADLINE_EXCEEDED for a call that may run twice, see ``IDEMPOTENT``)
    is sent at once to the next, which becomes the current one, until every
    manager has been tried; then the last error is raised. With one
    address nothing is retried. Channels use gRPC keepalive so that a hung
    manager fails its calls in seconds instead of at each call's deadline.
    Safe to share between threads."""

    def __init__(
        self,
        info: ApiInfo,
        *,
        ca_file: str | Path | None = None,
        client_cert: tuple[bytes, bytes] | None = None,
        max_message_bytes: int = 4 << 20,
    ) -> None:
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # Reconnect within a second of a manager restart: gRPC's default
            # backoff grows past the heartbeat timeout, and a worker that
            # cannot reach the restarted manager in time loses its job to
            # the heartbeat sweep although it is still proving. (The minimum
            # is also the connect timeout: a manager that accepts TCP but
            # never answers, being stopped, is given up on quickly.)
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.min_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 1000),
            *CLIENT_KEEPALIVE_OPTIONS,
        ]
        ca_file = ca_file or os.environ.get(ENV_API_CA)
        creds = None
        if ca_file:
            key, cert = client_cert or (None, None)
            creds = grpc.ssl_channel_credentials(
                root_certificates=Path(ca_file).read_bytes(),
                private_key=key,
                certificate_chain=cert,
            )
        self.addresses = info.addresses
        self.channels: list[grpc.Channel] = [
            grpc.secure_channel(a, creds, options=options)
            if creds is not None
            else grpc.insecure_channel(a, options=options)
            for a in self.addresses
        ]
        self._stubs = [
            {name: stub(ch) for name, (_, stub) in _SERVICES.items()} for ch in self.channels
        ]
        self._lock = threading.Lock()
        self._current = 0
        self.token = info.token
        self.metadata = (("authorization", f"Bearer {info.token}"),)
        self.worker = ServiceProxy(self, "worker")
        self.admin = ServiceProxy(self, "admin")

    @property
    def current(self) -> int:
        """Index of the manager calls go to now."""
        with self._lock:
            return self._current

    @property
    def address(self) -> str:
        """The manager calls go to now."""
        return self.addresses[self.current]

    @property
    def channel(self) -> grpc.Channel:
        return self.channels[self.current]

    def _move_on(self, failed: int, method: str, exc: grpc.RpcError) -> bool:
        """Makes the manager after ``failed`` the current one, unless
        another thread moved already (two calls failing at once move one
        step, not two). True if there is another manager to go to."""
        n = len(self.addresses)
        if n == 1:
            return False
        with self._lock:
            if self._current != failed:
                return True
            self._current = (failed + 1) % n
            to = self.addresses[self._current]
        # a standby sending a chain call on to the leader is how it works;
        # a manager that does not answer is worth a warning
        standby = refusal(exc) is Refusal.NOT_LEADER
        (log.info if standby else log.warning)(
            "manager_failover",
            call=method,
            failed=self.addresses[failed],
            to=to,
            code=exc.code().name,
            error=exc.details(),
        )
        return True

    def _with_failover(self, method: str, codes: frozenset[grpc.StatusCode], send):
        n = len(self.addresses)
        start = self.current
        last: grpc.RpcError | None = None
        for step in range(n):
            i = (start + step) % n
            try:
                return send(i)
            except grpc.RpcError as exc:
                if exc.code() not in codes or n == 1:
                    raise
                last = exc
                self._move_on(i, method, exc)
        assert last is not None
        raise last

    def call(self, method, request, *, timeout: float = 30.0):
        return method(request, metadata=self.metadata, timeout=timeout)

    def close(self) -> None:
        for ch in self.channels:
            ch.close()

    def __enter__(self) -> ManagerClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
