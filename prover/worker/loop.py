"""The worker: register, claim (long poll), prove in a child, heartbeat,
finish; hand work back on shutdown or drain; never lose a result.

``Worker`` composes collaborators with one lifecycle each, and reads as
its start-up sequence (``_run``):

- ``holdings.Holdings``: every job held, from its Claim's answer until it
  is finished, released or stopped, and every result not yet delivered;
  each heartbeat lists them all.
- ``params.ParamRefusals``: the parameter files checked before Register;
  the sizes with a file wrong are named there and refused.
- ``registration``: Register, again whenever a manager does not know us.
- ``heartbeats.Heartbeats``: the beat, and the stop and drain orders.
- ``delivery.ResultDelivery``: a result spooled before its Finish, and
  delivered until a manager answers, in the background past its slot's wait.
- ``claims.Claims``: the long poll, a slot at a time.
- ``admission.Admission``: a job just claimed is placed, or given back.
- ``proving.Proving``: the slots, a thread per job, and the one path by
  which every job leaves its slot.

The background ones (heartbeats, delivery) start after Register and stop
after the jobs: a job finishing in the shutdown grace is still listed and
delivered."""

from __future__ import annotations

import threading

from prover._proto import manager_pb2 as pb
from prover.api.client import ManagerClient
from prover.buildinfo import build_info
from prover.endpoints import remove_endpoint, this_process, write_endpoint
from prover.logs import get_logger
from prover.metrics.http import HttpServer, metrics_route
from prover.worker.admission import Admission, GiveBack
from prover.worker.claims import Claims
from prover.worker.compute import ComputeSettings, ComputeSlot
from prover.worker.config import WorkerConfig, default_spool_dir
from prover.worker.delivery import ResultDelivery
from prover.worker.gpu import gpu_facts
from prover.worker.heartbeats import Heartbeats
from prover.worker.holdings import Holdings
from prover.worker.metrics import WorkerMetrics
from prover.worker.params import ParamCheck, ParamRefusals
from prover.worker.pinning import Pinning
from prover.worker.proving import Proving
from prover.worker.registration import WorkerTooOld, register, register_request
from prover.worker.spool import Spool

__all__ = ["Worker", "WorkerTooOld"]

log = get_logger("prover.worker")

# The pause of the claim loop while every slot is busy.
SLOT_WAIT_S = 0.05


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        client: ManagerClient,
        pinning: Pinning,
        spool: Spool | None = None,
        param_check: ParamCheck | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.pinning = pinning
        self.spool = spool or Spool(config.spool_dir or default_spool_dir(config))
        self.stopping = threading.Event()
        self.draining = False
        self.holdings = Holdings()
        self.params = ParamRefusals(config.allowed_proof_types, param_check)
        self.metrics = WorkerMetrics(config.name, self._gpus)
        self.http: HttpServer | None = None
        settings = ComputeSettings(
            lock_path=pinning.tmpdir / "prover-gpu.lock",
            parallelism=config.vanilla_parallelism,
            sector_timeout=config.sector_timeout_s,
        )
        self.slots = [ComputeSlot(i, settings) for i in range(config.concurrency)]
        self.heartbeats = Heartbeats(
            config.name,
            client,
            self.holdings,
            self._gpus,
            self._drain,
            gpu_fallback=self.metrics.gpu_fallback_report,
        )
        self.delivery = ResultDelivery(
            config.name, client, self.spool, self.holdings, config.finish_retry_s, self.stopping
        )
        self.claims = Claims(
            config.name, client, self.holdings, config.claim_wait_s, self.register, self.stopping
        )
        self.admission = Admission(client, self.params, config.storages, self.stopping)
        self.proving = Proving(
            config,
            client,
            self.slots,
            self.holdings,
            self.delivery,
            self.metrics,
            self.claims.excluded,
        )

    def _gpus(self) -> list[dict]:
        return gpu_facts(self.pinning.gpu)

    # ---- what the CLI and operators see ---------------------------------------

    @property
    def param_problems(self) -> list[dict]:
        return self.params.problems

    @property
    def refused_proof_types(self) -> frozenset[int]:
        return self.params.refused

    def check_parameters(self) -> None:
        """The quick parameter check of the proof types this worker may
        take: the types with a file missing, truncated or wrong are
        refused, named at Register and logged."""
        self.params.run_check()

    def held(self) -> list[tuple[int, int]]:
        return self.holdings.held()

    def heartbeat_request(self, *, gpus: bool = False) -> pb.HeartbeatRequest:
        return self.heartbeats.request(gpus=gpus)

    def register(self) -> None:
        req = register_request(self.config, self.pinning, self._gpus(), self.params.problems)
        resp = register(self.client, req, self.stopping)
        if resp is None:  # stopped first
            return
        self.heartbeats.configure(resp)
        log.info(
            "worker_registered",
            name=self.config.name,
            gpus=len(req.gpus),
            cpus=len(self.pinning.cpus),
            heartbeat_interval_s=self.heartbeats.interval,
            heartbeat_timeout_s=self.heartbeats.timeout,
        )

    def _drain(self) -> None:
        """The manager's drain order: finish what runs, claim nothing more."""
        if not self.stopping.is_set():
            log.info("drain_ordered")
            self.draining = True
            self.stopping.set()

    def start_metrics(self) -> None:
        """/metrics on ``metrics_listen`` (port 0: any free port), when set."""
        if self.config.metrics_listen:
            routes = {"/metrics": metrics_route(self.metrics.registry)}
            self.http = HttpServer(self.config.metrics_listen, routes).start()
            log.info("metrics_listening", listen=self.http.address)

    # ---- the run ------------------------------------------------------------------

    def run(self) -> None:
        self.start_metrics()
        self._announce()
        try:
            self._run()
        finally:
            if self.config.endpoint_file is not None:
                remove_endpoint(self.config.endpoint_file)
            if self.http is not None:
                self.http.stop()

    def _announce(self) -> None:
        """The endpoint file (``endpoint_file``, prover.endpoints), once
        /metrics is bound: whoever started the worker on port 0 reads it."""
        if self.config.endpoint_file is not None:
            http = self.http.address if self.http is not None else ""
            endpoint = this_process("prover-worker", name=self.config.name, http=http)
            write_endpoint(self.config.endpoint_file, endpoint)

    def _run(self) -> None:
        """The start-up sequence, the claim loop, the shutdown."""
        spooled = self.delivery.load()  # held before Register and the first beat
        self.check_parameters()
        self.register()
        self.heartbeats.start()
        self.delivery.deliver_spooled(spooled, self.stopping)
        self.delivery.start()
        log.info(
            "worker_started",
            name=self.config.name,
            version=build_info().describe(),
            slots=len(self.slots),
            gpu=self.pinning.gpu,
            tmpdir=str(self.pinning.tmpdir),
            spool=str(self.spool.directory),
            managers=list(self.client.addresses),
        )
        try:
            while not self.stopping.is_set():
                self._take()
            self._shutdown()
        finally:
            self.heartbeats.notify_shutdown()
            self.delivery.notify_shutdown()
            self.proving.kill_slots()

    def _take(self) -> None:
        """One turn of the claim loop: a free slot, a Claim for it, and the
        job proven in it or given back."""
        slot = self.proving.free_slot(SLOT_WAIT_S)
        if slot is None:
            return
        job = None if self.stopping.is_set() else self.claims.claim(slot)
        if job is None:
            self.proving.free.put(slot)
            return
        rec = self.holdings.record(job, slot)
        admitted = self.admission.admit(rec)
        if isinstance(admitted, GiveBack):
            self.proving.end(rec, admitted)
        else:
            self.proving.start(rec, admitted)

    def _shutdown(self) -> None:
        """The jobs running get ``shutdown_grace_s`` to finish; then they are
        stopped and released, and their threads joined."""
        grace = self.config.shutdown_grace_s
        running = self.holdings.running_ids()
        log.info("worker_stopping", running=running, grace_s=grace, drain=self.draining)
        self.proving.wait_idle(grace)
        self.proving.notify_shutdown()
        self.proving.wait_all_completed()
        log.info("worker_stopped")
