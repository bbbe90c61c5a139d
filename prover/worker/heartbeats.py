"""The worker's heartbeats: how the manager knows it lives and what it
holds, and how the manager's stop and drain orders reach it.

Each beat lists every job held (``holdings.py``), even when that is none;
every tenth carries the GPUs' facts, and every beat of a cuda build its
SNARKs that went to the CPU (``ProverGpuFallback``'s source). Cadence and lease come from the
manager at Register (one number, one owner); until it answers, defaults
hold. A beat that fails is logged with how long the manager has not heard
from us: past the lease the manager requeues our jobs, whose results are
still delivered and refused if stale."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import grpc

from prover._proto import manager_pb2 as pb
from prover.api.client import ManagerClient
from prover.api.convert import gpu_fallback_to_pb
from prover.logs import get_logger
from prover.worker.holdings import Holdings
from prover.worker.metrics import GpuFallbackReport

log = get_logger("prover.worker")

GPUS_EVERY = 10  # beats between two that carry the GPUs' facts


class Heartbeats:
    """Beats every ``interval`` seconds from ``start`` to ``notify_shutdown``;
    ``on_drain`` is called when the manager orders this worker drained."""

    def __init__(
        self,
        worker: str,
        client: ManagerClient,
        holdings: Holdings,
        gpus: Callable[[], list[dict]],
        on_drain: Callable[[], None],
        gpu_fallback: Callable[[], GpuFallbackReport | None] = lambda: None,
    ) -> None:
        self.worker = worker
        self.client = client
        self.holdings = holdings
        self.gpus = gpus
        self.on_drain = on_drain
        self.gpu_fallback = gpu_fallback
        self.interval = 3.0
        self.timeout = 15.0  # the lease: a beat that arrives later is worth nothing
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def configure(self, resp: pb.RegisterResponse) -> None:
        """Cadence and lease as the manager handed them out at Register."""
        if resp.heartbeat_interval_ms > 0:
            self.interval = resp.heartbeat_interval_ms / 1000
        if resp.heartbeat_timeout_ms > 0:
            self.timeout = resp.heartbeat_timeout_ms / 1000

    def request(self, *, gpus: bool = False) -> pb.HeartbeatRequest:
        req = pb.HeartbeatRequest(
            worker=self.worker,
            jobs=[pb.JobAttempt(job_id=j, attempt=a) for j, a in self.holdings.held()],
        )
        if gpus:
            req.gpus.extend(pb.GpuInfo(**g) for g in self.gpus())
        fb = self.gpu_fallback()  # every beat of a cuda build: the alert's source
        if fb is not None:
            req.gpu_fallback.CopyFrom(
                gpu_fallback_to_pb(fb.count, fb.gpu_snarks, fb.current, fb.reason, fb.last_at)
            )
        return req

    def _obey(self, resp: pb.HeartbeatResponse) -> None:
        for stop in resp.stop:
            self.holdings.order_stop(stop.job_id, stop.attempt, stop.reason)
            log.info("stop_ordered", job_id=stop.job_id, reason=stop.reason)
        if resp.drain:
            self.on_drain()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="heartbeat", daemon=True)
        self._thread.start()

    def run(self) -> None:
        beats = 0
        last_ok = time.monotonic()
        while not self._stop.is_set():
            # sent holding nothing too: it is how the manager knows we live
            req = self.request(gpus=beats % GPUS_EVERY == 0)
            beats += 1
            try:
                resp = self.client.call(self.client.worker.Heartbeat, req, timeout=self.timeout)
                last_ok = time.monotonic()
                self._obey(resp)
            except grpc.RpcError as exc:
                silent = time.monotonic() - last_ok
                log.warning(
                    "manager_unreachable",
                    call="Heartbeat",
                    error=exc.details(),
                    silent_s=round(silent, 1),
                    lease_expired=silent > self.timeout,
                )
            self._stop.wait(self.interval)

    def notify_shutdown(self) -> None:
        self._stop.set()

    def wait_all_completed(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
