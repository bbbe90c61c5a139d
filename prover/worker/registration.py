"""Register: who this worker is, what it may take and what it refuses.

Sent at start and again whenever a manager answers that it does not know
this worker (``Refusal.UNKNOWN_WORKER``: a new database, a worker removed
by an operator). Retried with backoff while no manager answers; a manager
that refuses this release as too old stops the worker, as retrying cannot
help."""

from __future__ import annotations

import socket
import threading

import grpc

from prover._proto import manager_pb2 as pb
from prover.api.client import ManagerClient
from prover.api.convert import param_problems_to_pb
from prover.api.refusals import Refusal, refusal
from prover.backoff import Backoff
from prover.buildinfo import API_VERSION, build_info
from prover.logs import get_logger
from prover.worker.config import WorkerConfig
from prover.worker.pinning import Pinning
from prover.worker.retry import RETRYABLE

log = get_logger("prover.worker")


class WorkerTooOld(RuntimeError):
    """The managers serve only newer workers: this release must be upgraded."""


def register_request(
    config: WorkerConfig, pinning: Pinning, gpus: list[dict], param_problems: list[dict]
) -> pb.RegisterRequest:
    info = build_info()
    return pb.RegisterRequest(
        name=config.name,
        host=socket.gethostname(),
        version=info.short(),
        build=info.build,
        driver_required=info.driver_required,
        api_version=API_VERSION,
        gpus=[pb.GpuInfo(**g) for g in gpus],
        cpus=len(pinning.cpus),
        cpuset=",".join(map(str, sorted(pinning.cpus))),
        allowed_miners=config.allowed_miners,
        allowed_proof_types=config.allowed_proof_types,
        param_problems=param_problems_to_pb(param_problems),
    )


def register(
    client: ManagerClient, req: pb.RegisterRequest, stopping: threading.Event
) -> pb.RegisterResponse | None:
    """The manager's answer, once one answers; None if the worker stops first."""
    backoff = Backoff(0.5, 10)
    while not stopping.is_set():
        try:
            return client.call(client.worker.Register, req)
        except grpc.RpcError as exc:
            if refusal(exc) is Refusal.CLIENT_TOO_OLD:
                # both versions are named in the text; retrying cannot help
                raise WorkerTooOld(exc.details()) from None
            if exc.code() not in RETRYABLE:
                raise
            log.warning("manager_unreachable", call="Register", error=exc.details())
            backoff.wait(stopping)
    return None
