"""Connecting to the manager: API info (``<token>:<host:port>``, like
``lotus-miner auth api-info``), the channel, and the stubs with the token
attached to every call."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import grpc

from prover._proto import manager_pb2_grpc as pb_grpc

ENV_API_INFO = "PROVER_API_INFO"
ENV_API_CA = "PROVER_API_CA"


class ApiInfoError(ValueError):
    pass


@dataclass(frozen=True)
class ApiInfo:
    token: str
    address: str

    def __str__(self) -> str:
        return f"{self.token}:{self.address}"


def parse_api_info(value: str) -> ApiInfo:
    token, sep, address = value.strip().partition(":")
    host, colon, port = address.rpartition(":")
    if not sep or not token or not colon or not host or not port.isdigit():
        raise ApiInfoError(f"API info must look like TOKEN:HOST:PORT, got {value!r}")
    return ApiInfo(token, address)


def resolve_api_info(cli_value: str | None) -> ApiInfo:
    value = cli_value or os.environ.get(ENV_API_INFO)
    if not value:
        raise ApiInfoError(
            f"no manager to talk to: pass --api TOKEN:HOST:PORT or set {ENV_API_INFO} "
            "(prover-manager auth api-info --perm admin prints it)"
        )
    return parse_api_info(value)


class ManagerClient:
    """Both services over one channel, with the bearer token on each call."""

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
            # the heartbeat sweep although it is still proving.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.min_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        ca_file = ca_file or os.environ.get(ENV_API_CA)
        if ca_file:
            key, cert = client_cert or (None, None)
            creds = grpc.ssl_channel_credentials(
                root_certificates=Path(ca_file).read_bytes(),
                private_key=key,
                certificate_chain=cert,
            )
            self.channel = grpc.secure_channel(info.address, creds, options=options)
        else:
            self.channel = grpc.insecure_channel(info.address, options=options)
        self.token = info.token
        self.metadata = (("authorization", f"Bearer {info.token}"),)
        self.worker = pb_grpc.WorkerServiceStub(self.channel)
        self.admin = pb_grpc.AdminServiceStub(self.channel)

    def call(self, method, request, *, timeout: float = 30.0):
        return method(request, metadata=self.metadata, timeout=timeout)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> ManagerClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
