"""The manager's gRPC server: its options, its credentials and its port.

Both services sit behind one token check (``auth.TokenInterceptor``); the
servicers are made by the manager, which knows what they call."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from prover._proto import manager_pb2_grpc as pb_grpc
from prover.api.keepalive import SERVER_KEEPALIVE_OPTIONS
from prover.config import ManagerConfig
from prover.manager.auth import TokenInterceptor
from prover.manager.servicers import AdminServicer, WorkerServicer


def server_credentials(config: ManagerConfig) -> grpc.ServerCredentials | None:
    tls = config.api.tls
    if not tls.enabled:
        return None
    if tls.key is None:
        raise ValueError("api.tls.cert is set but api.tls.key is not")
    pair = [(tls.key.read_bytes(), tls.cert.read_bytes())]
    if tls.client_ca is not None:
        return grpc.ssl_server_credentials(
            pair, root_certificates=tls.client_ca.read_bytes(), require_client_auth=True
        )
    return grpc.ssl_server_credentials(pair)


def serve_grpc(
    config: ManagerConfig, secret: bytes, worker: WorkerServicer, admin: AdminServicer
) -> tuple[grpc.Server, int]:
    """The server, started, and the port it bound on ``[api] listen`` (port
    0: any free port). Raises OSError when the address cannot be bound."""
    api = config.api
    options = [
        ("grpc.max_receive_message_length", api.max_message_bytes),
        ("grpc.max_send_message_length", api.max_message_bytes),
        ("grpc.so_reuseport", 0),
        *SERVER_KEEPALIVE_OPTIONS,
    ]
    server = grpc.server(
        ThreadPoolExecutor(max_workers=api.threads, thread_name_prefix="grpc"),
        interceptors=[TokenInterceptor(secret)],
        options=options,
    )
    pb_grpc.add_WorkerServiceServicer_to_server(worker, server)
    pb_grpc.add_AdminServiceServicer_to_server(admin, server)
    creds = server_credentials(config)
    if creds is None:
        port = server.add_insecure_port(api.listen)
    else:
        port = server.add_secure_port(api.listen, creds)
    if not port:
        raise OSError(f"cannot listen on {api.listen}")
    server.start()
    return server, port
