"""The worker: register, claim (long poll), prove in a child, heartbeat,
finish; hand work back on shutdown or drain; never lose a result.

Every job the worker holds is listed in every heartbeat, from the moment
its Claim returns until it is finished, released or stopped: the manager
sends a job claimed for this worker before its previous heartbeat, and not
listed, back to ready (the claim's answer was lost). A finished result is
written to the spool before its Finish is sent and removed once a manager
answered; a result still spooled is held (and listed) too, and delivered
in the background or by the next process of this worker.

Before it registers, the worker checks the parameter files of the sizes it
may take (``prover params check --quick``) and names at Register the ones
found missing, truncated or wrong: the manager hands it no job of those
sizes, and a job of one handed over anyway (by a manager that does not know
the refusal) is given back naming the file."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from prover._proto import manager_pb2 as pb
from prover.api.client import CLIENT_TOO_OLD, ManagerClient, refusal
from prover.api.convert import param_problems_to_pb, sector_from_pb, timings_to_pb
from prover.buildinfo import API_VERSION, build_info
from prover.logs import get_logger
from prover.metrics.http import HttpServer, metrics_route
from prover.proofs import MissingStorage, PoStProofType
from prover.worker.compute import ComputeSettings, ComputeSlot, Outcome, Task
from prover.worker.config import WorkerConfig, default_spool_dir
from prover.worker.gpu import gpu_facts
from prover.worker.metrics import WorkerMetrics
from prover.worker.pinning import Pinning
from prover.worker.placement import Placement, place
from prover.worker.spool import Spool

log = get_logger("prover.worker")


def check_parameters(proof_types: list[int]) -> list[dict]:
    """The quick parameter check (``prover params check --quick``) of these
    proof types in the library's directory, as problems {proof_type (chain
    id), file, problem, detail}. Test parameters generated before they were
    recorded are recorded first, so that an upgrade does not refuse them."""
    from prover.proofs.paramcheck import quick_check

    report = quick_check(proof_types, record_earlier=True)
    return [
        {
            "proof_type": f.proof_type.chain_id,
            "file": f.name,
            "problem": f.status,
            "detail": f.detail,
        }
        for f in report.problems
    ]


class WorkerTooOld(RuntimeError):
    """The managers serve only newer workers: this release must be upgraded."""


RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.CANCELLED,
}


# Past a Claim's wait the manager answers "no job"; a call unanswered this
# long after that is at a manager that hangs, and the next one is asked.
CLAIM_GRACE_S = 5.0
# How long, at start, each spooled result is retried before the worker
# claims new work and leaves it to the background delivery.
STARTUP_DELIVERY_S = 30.0
# The background delivery's longest pause between two rounds.
DELIVERY_RETRY_MAX_S = 10.0


@dataclass
class Running:
    """A job this worker holds from its Claim's answer on (placement, then
    proof, then its Finish)."""

    job: pb.Job
    slot: ComputeSlot
    stop_reason: str | None = None


@dataclass
class Undelivered:
    """A finished result in the spool whose Finish no manager has answered
    yet; ``background`` once its slot stopped waiting for it."""

    request: pb.FinishRequest
    background: bool = False


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        client: ManagerClient,
        pinning: Pinning,
        spool: Spool | None = None,
        param_check: Callable[[list[int]], list[dict]] | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.pinning = pinning
        self.spool = spool or Spool(config.spool_dir or default_spool_dir(config))
        self.stopping = threading.Event()
        self.draining = False
        self._lock = threading.Lock()
        # held jobs: claimed (placing or proving) and finished but undelivered
        self.running: dict[int, Running] = {}
        self.undelivered: dict[tuple[int, int], Undelivered] = {}
        self._delivery_wake = threading.Event()
        self.excluded: set[int] = set()
        self._claim_failures = 0
        settings = ComputeSettings(
            lock_path=pinning.tmpdir / "prover-gpu.lock",
            parallelism=config.vanilla_parallelism,
            sector_timeout=config.sector_timeout_s,
        )
        self.slots = [ComputeSlot(i, settings) for i in range(config.concurrency)]
        self.free: queue.Queue[ComputeSlot] = queue.Queue()
        for slot in self.slots:
            self.free.put(slot)
        self._threads: list[threading.Thread] = []
        # Heartbeat cadence and lease, as the manager hands them out at
        # Register (one number, one owner); these hold until it answers.
        self.heartbeat_interval = 3.0
        self.heartbeat_timeout = 15.0
        self.metrics = WorkerMetrics(config.name, lambda: gpu_facts(pinning.gpu))
        self.http: HttpServer | None = None
        self._done = threading.Event()
        # the parameter files found wrong at start ({proof_type, file,
        # problem, detail}), sent at Register: the manager hands this worker
        # no job of their proof types (the chain ids of each, refused here)
        self.param_problems: list[dict] = []
        self.refused_proof_types: frozenset[int] = frozenset()
        self._param_check = param_check or check_parameters

    # ---- its parameter files ------------------------------------------------

    def check_parameters(self) -> None:
        """The quick parameter check of the proof types this worker may take
        (``allowed_sizes``, else all): the types with a file missing,
        truncated or wrong are refused, named at Register and logged."""
        candidates = self.config.allowed_proof_types or [pt.chain_id for pt in PoStProofType]
        try:
            problems = self._param_check(candidates)
        except Exception as exc:  # the check must never stop the worker
            log.warning("parameters_check_failed", error=f"{type(exc).__name__}: {exc}")
            problems = []
        self.param_problems = problems
        self.refused_proof_types = frozenset(
            t for p in problems for t in PoStProofType.same_size_ids(p["proof_type"])
        )
        for p in problems:
            explicit = p["proof_type"] in self.config.allowed_proof_types
            quiet = p["problem"] == "missing" and not explicit
            (log.info if quiet else log.error)(
                "parameters_refused",
                proof_type=PoStProofType.from_chain_id(p["proof_type"]).size_name,
                file=p["file"],
                problem=p["problem"],
                detail=p["detail"],
            )
        able = sorted(
            {PoStProofType.from_chain_id(t).size_name for t in candidates}
            - {PoStProofType.from_chain_id(p["proof_type"]).size_name for p in problems},
            key=lambda n: PoStProofType.from_sector_size(n).value,
        )
        log.info(
            "parameters_checked", proves=able, refused=len({p["proof_type"] for p in problems})
        )

    # ---- what this worker holds --------------------------------------------

    def held(self) -> list[tuple[int, int]]:
        """(job id, attempt) of every job this worker holds, as the next
        heartbeat lists them."""
        with self._lock:
            pairs = {(jid, r.job.attempt) for jid, r in self.running.items()}
            pairs.update(self.undelivered)
        return sorted(pairs)

    def heartbeat_request(self, *, gpus: bool = False) -> pb.HeartbeatRequest:
        req = pb.HeartbeatRequest(
            worker=self.config.name,
            jobs=[pb.JobAttempt(job_id=j, attempt=a) for j, a in self.held()],
        )
        if gpus:
            req.gpus.extend(pb.GpuInfo(**g) for g in gpu_facts(self.pinning.gpu))
        return req

    def _hold(self, job: pb.Job, slot: ComputeSlot) -> Running:
        rec = Running(job, slot)
        with self._lock:
            self.running[job.id] = rec
        return rec

    def _record(self, job: pb.Job, slot: ComputeSlot) -> Running:
        """The record ``_claim`` made when the answer came (a stop order may
        be on it already)."""
        with self._lock:
            rec = self.running.get(job.id)
        if rec is not None and rec.job.attempt == job.attempt:
            return rec
        return self._hold(job, slot)

    def _let_go(self, job: pb.Job) -> None:
        with self._lock:
            rec = self.running.get(job.id)
            if rec is not None and rec.job.attempt == job.attempt:
                del self.running[job.id]

    # ---- manager calls ----------------------------------------------------

    def _call(self, method, request, timeout: float = 30.0):
        return self.client.call(method, request, timeout=timeout)

    def register(self) -> None:
        gpus = gpu_facts(self.pinning.gpu)
        info = build_info()
        req = pb.RegisterRequest(
            name=self.config.name,
            host=socket.gethostname(),
            version=info.short(),
            build=info.build,
            driver_required=info.driver_required,
            api_version=API_VERSION,
            gpus=[pb.GpuInfo(**g) for g in gpus],
            cpus=len(self.pinning.cpus),
            cpuset=",".join(map(str, sorted(self.pinning.cpus))),
            allowed_miners=self.config.allowed_miners,
            allowed_proof_types=self.config.allowed_proof_types,
            param_problems=param_problems_to_pb(self.param_problems),
        )
        delay = 0.5
        while not self.stopping.is_set():
            try:
                resp = self._call(self.client.worker.Register, req)
                if resp.heartbeat_interval_ms > 0:
                    self.heartbeat_interval = resp.heartbeat_interval_ms / 1000
                if resp.heartbeat_timeout_ms > 0:
                    self.heartbeat_timeout = resp.heartbeat_timeout_ms / 1000
                log.info(
                    "worker_registered",
                    name=self.config.name,
                    gpus=len(gpus),
                    cpus=len(self.pinning.cpus),
                    heartbeat_interval_s=self.heartbeat_interval,
                    heartbeat_timeout_s=self.heartbeat_timeout,
                )
                return
            except grpc.RpcError as exc:
                if refusal(exc) == CLIENT_TOO_OLD:
                    # both versions are named in the text; retrying cannot help
                    raise WorkerTooOld(exc.details()) from None
                if exc.code() not in RETRYABLE:
                    raise
                log.warning("manager_unreachable", call="Register", error=exc.details())
                self.stopping.wait(delay)
                delay = min(delay * 2, 10)

    def _claim(self, slot: ComputeSlot) -> pb.Job | None:
        """Long-polls for a job for ``slot``. The job is held (listed in
        heartbeats) from the moment the answer arrives, on gRPC's thread,
        not when this thread gets to it."""
        req = pb.ClaimRequest(
            worker=self.config.name,
            wait_ms=int(self.config.claim_wait_s * 1000),
            exclude=sorted(self.excluded)[-1000:],
        )
        future = self.client.worker.Claim.future(
            req, metadata=self.client.metadata, timeout=self.config.claim_wait_s + CLAIM_GRACE_S
        )
        done = threading.Event()

        def answered(f) -> None:
            if not f.cancelled() and f.exception() is None and f.result().HasField("job"):
                self._hold(f.result().job, slot)
            done.set()

        future.add_done_callback(answered)
        while not done.wait(0.05):
            if self.stopping.is_set():
                future.cancel()
                break
        try:
            resp = future.result()
        except grpc.FutureCancelledError:
            return None
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED and self.stopping.is_set():
                return None
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and "not registered" in (
                exc.details() or ""
            ):
                self.register()
                return None
            if exc.code() in RETRYABLE:
                log.warning("manager_unreachable", call="Claim", error=exc.details())
                # the client moved to the next manager: ask it at once, and
                # pause only once every manager failed in a row
                self._claim_failures += 1
                if self._claim_failures % len(self.client.addresses) == 0:
                    self.stopping.wait(1.0)
                return None
            raise
        self._claim_failures = 0
        return resp.job if resp.HasField("job") else None

    def _refusal(self, proof_type: int) -> str:
        files = [
            f"{p['file']} {p['problem']}"
            for p in self.param_problems
            if proof_type in PoStProofType.same_size_ids(p["proof_type"])
        ]
        size = PoStProofType.from_chain_id(proof_type).size_name
        return f"worker refuses {size} proofs, its parameter files are wrong: " + "; ".join(files)

    def _release(self, job: pb.Job, reason: str) -> None:
        try:
            self._call(
                self.client.worker.Release,
                pb.ReleaseRequest(
                    worker=self.config.name, job_id=job.id, attempt=job.attempt, reason=reason
                ),
            )
            log.info("job_released", job_id=job.id, reason=reason)
        except grpc.RpcError as exc:
            log.warning("release_failed", job_id=job.id, error=exc.details())

    def _finish(self, job: pb.Job, outcome: Outcome) -> None:
        """Spools the result, then delivers it until a manager answers, for
        at most ``finish_retry_s``; past that the slot moves on and the
        background delivery keeps trying. A result is never dropped because
        the managers are away, nor lost with this process."""
        success = outcome.kind == "ok"
        req = pb.FinishRequest(
            worker=self.config.name,
            job_id=job.id,
            attempt=job.attempt,
            success=success,
            proof=outcome.proof if success else b"",
            faulty=sorted(outcome.faulty),
            error="" if success else outcome.reason,
        )
        if outcome.timings:
            req.timings.CopyFrom(timings_to_pb(outcome.timings))
        self._spool(req)
        if not self._deliver(req, time.monotonic() + self.config.finish_retry_s):
            with self._lock:
                pending = self.undelivered.get((req.job_id, req.attempt))
                if pending is not None:
                    pending.background = True
            log.error(
                "finish_deferred",
                job_id=job.id,
                attempt=job.attempt,
                waited_s=self.config.finish_retry_s,
                spool=str(self.spool.path(req.job_id, req.attempt)),
                note="kept in the spool and delivered in the background",
            )
            self._delivery_wake.set()

    def _spool(self, req: pb.FinishRequest) -> None:
        """Writes the result to the spool and holds it. A spool that cannot
        be written (a full disk) is logged, and the result is delivered from
        memory all the same."""
        with self._lock:
            self.undelivered[(req.job_id, req.attempt)] = Undelivered(req)
        try:
            path = self.spool.put(req)
            log.info("result_spooled", job_id=req.job_id, attempt=req.attempt, path=str(path))
        except OSError as exc:
            log.error(
                "spool_write_failed",
                job_id=req.job_id,
                attempt=req.attempt,
                error=f"{type(exc).__name__}: {exc}",
            )

    def _delivered(self, req: pb.FinishRequest) -> None:
        with self._lock:
            self.undelivered.pop((req.job_id, req.attempt), None)
        try:
            self.spool.remove(req.job_id, req.attempt)
        except OSError as exc:  # sent again at the next start: a duplicate
            log.warning("spool_remove_failed", job_id=req.job_id, error=str(exc))

    def _deliver_once(self, req: pb.FinishRequest) -> grpc.RpcError | None:
        """Sends one Finish (to whichever manager answers). None when a
        manager answered it (accepted, a duplicate, or refused for good:
        the result is then forgotten); the error when it may be retried."""
        try:
            resp = self._call(self.client.worker.Finish, req)
        except grpc.RpcError as exc:
            if exc.code() in RETRYABLE:
                return exc
            log.warning(
                "finish_refused",
                job_id=req.job_id,
                attempt=req.attempt,
                code=exc.code().name,
                error=exc.details(),
            )
            self._delivered(req)
            return None
        log.info(
            "job_finished",
            job_id=req.job_id,
            attempt=req.attempt,
            success=req.success,
            state=resp.state,
            faulty=list(req.faulty),
            error=req.error or None,
            duplicate=resp.duplicate,
        )
        self._delivered(req)
        return None

    def _deliver(self, req: pb.FinishRequest, until: float) -> bool:
        """Retries a Finish until a manager answers it (True) or ``until``
        (monotonic) passes (False: it stays spooled and held)."""
        delay = 0.5
        while True:
            exc = self._deliver_once(req)
            if exc is None:
                return True
            if time.monotonic() + delay > until:
                return False
            log.warning(
                "manager_unreachable",
                call="Finish",
                job_id=req.job_id,
                retry_in=delay,
                error=exc.details(),
            )
            time.sleep(delay)
            delay = min(delay * 2, 10)

    def _load_spool(self) -> list[pb.FinishRequest]:
        """The results a previous process of this worker left in the spool,
        held from now on: read before Register and the first heartbeat,
        which must list them, or the manager would send their jobs (claimed
        before that heartbeat) back to ready and refuse their results."""
        spooled = self.spool.load()
        with self._lock:
            for req in spooled:
                self.undelivered[(req.job_id, req.attempt)] = Undelivered(req)
        return spooled

    def _deliver_spooled(self, spooled: list[pb.FinishRequest]) -> None:
        """At start, after Register and before any claim: the spooled
        results go to whichever manager answers, which takes those whose
        attempt is still current (the same Finish, the same checks)."""
        for req in spooled:
            log.info("spooled_result_found", job_id=req.job_id, attempt=req.attempt)
            if self.stopping.is_set() or not self._deliver(
                req, time.monotonic() + STARTUP_DELIVERY_S
            ):
                with self._lock:
                    self.undelivered[(req.job_id, req.attempt)].background = True
                self._delivery_wake.set()

    def _delivery_loop(self) -> None:
        """Keeps delivering the results whose slots stopped waiting, until
        a manager answers each; they stay spooled meanwhile."""
        delay = 0.5
        while not self._done.is_set():
            self._delivery_wake.wait(delay)
            self._delivery_wake.clear()
            with self._lock:
                todo = [u.request for u in self.undelivered.values() if u.background]
            failed = None
            for req in todo:
                failed = self._deliver_once(req) or failed
            if failed is not None:
                log.warning(
                    "manager_unreachable",
                    call="Finish",
                    undelivered=len(todo),
                    retry_in=delay,
                    error=failed.details(),
                )
                delay = min(delay * 2, DELIVERY_RETRY_MAX_S)
            else:
                delay = DELIVERY_RETRY_MAX_S

    # ---- jobs ----------------------------------------------------------------

    def _locate(self, storages: set[str]) -> list[pb.StorageHost]:
        resp = self._call(
            self.client.worker.LocateStorage, pb.LocateStorageRequest(storages=sorted(storages))
        )
        return list(resp.hosts)

    def _run_job(self, rec: Running, placement: Placement) -> None:
        job, slot = rec.job, rec.slot
        try:
            task = Task(
                job.proof_type,
                job.randomness,
                job.miner,
                job.partition,
                placement.local,
                remote=placement.remote,
                hosts=placement.hosts,
                token=self.client.token,
                ca_file=str(self.config.api_ca) if self.config.api_ca else None,
            )
            log.info(
                "proving_started",
                job_id=job.id,
                attempt=job.attempt,
                slot=slot.index,
                pid=slot.pid,
                sectors=len(task.replicas) + len(task.remote),
                remote=len(task.remote),
                hosts=sorted({h.name for h in task.hosts}) if task.remote else [],
                unreachable=len(placement.unreachable),
            )
            if not task.replicas and not task.remote:
                reason = "every sector of the job is skipped"
                if placement.unreachable:
                    reason = "no sector of the job is reachable: " + next(
                        iter(placement.unreachable.values())
                    )
                self._finish(job, Outcome("failed", faulty=placement.unreachable, reason=reason))
                return
            outcome = slot.prove(task, lambda: rec.stop_reason)
            if outcome.kind in ("ok", "failed"):
                outcome.faulty = {**placement.unreachable, **outcome.faulty}
            self.metrics.proved(outcome.kind, outcome.timings, len(outcome.faulty))
            if outcome.kind == "stopped":
                if outcome.reason == "shutdown":
                    self._release(job, "worker shutting down")
                else:
                    log.info("job_stopped", job_id=job.id, reason=outcome.reason)
                return
            for sid, why in outcome.faulty.items():
                log.warning("sector_faulty", job_id=job.id, sector=sid, reason=why)
            self._finish(job, outcome)
        finally:
            self._let_go(job)
            self.free.put(slot)

    def _heartbeat_loop(self) -> None:
        beats = 0
        last_ok = time.monotonic()
        while not self._done.is_set():
            # sent holding nothing too: it is how the manager knows we live
            req = self.heartbeat_request(gpus=beats % 10 == 0)
            beats += 1
            try:
                # a beat that arrives after the lease ran out is worth nothing
                resp = self._call(self.client.worker.Heartbeat, req, timeout=self.heartbeat_timeout)
                last_ok = time.monotonic()
                for stop in resp.stop:
                    with self._lock:
                        rec = self.running.get(stop.job_id)
                        if rec is not None and rec.job.attempt == stop.attempt:
                            rec.stop_reason = stop.reason
                    log.info("stop_ordered", job_id=stop.job_id, reason=stop.reason)
                if resp.drain and not self.stopping.is_set():
                    log.info("drain_ordered")
                    self.draining = True
                    self.stopping.set()
            except grpc.RpcError as exc:
                silent = time.monotonic() - last_ok
                log.warning(
                    "manager_unreachable",
                    call="Heartbeat",
                    error=exc.details(),
                    silent_s=round(silent, 1),
                    # past the lease the manager requeues our jobs; their
                    # results are still delivered and refused if stale
                    lease_expired=silent > self.heartbeat_timeout,
                )
            self._done.wait(self.heartbeat_interval)

    def start_metrics(self) -> None:
        """/metrics on ``metrics_listen`` (port 0: any free port), when set."""
        if self.config.metrics_listen:
            routes = {"/metrics": metrics_route(self.metrics.registry)}
            self.http = HttpServer(self.config.metrics_listen, routes).start()
            log.info("metrics_listening", listen=self.http.address)

    def run(self) -> None:
        self._done.clear()
        self.start_metrics()
        try:
            self._run()
        finally:
            if self.http is not None:
                self.http.stop()

    def _run(self) -> None:
        spooled = self._load_spool()
        self.check_parameters()
        self.register()
        hb = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        hb.start()
        self._deliver_spooled(spooled)
        delivery = threading.Thread(target=self._delivery_loop, name="delivery", daemon=True)
        delivery.start()
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
                try:
                    slot = self.free.get(timeout=0.05)
                except queue.Empty:
                    continue
                job = None if self.stopping.is_set() else self._claim(slot)
                if job is None:
                    self.free.put(slot)
                    continue
                rec = self._record(job, slot)
                if self.stopping.is_set():
                    self._release(job, "worker shutting down")
                    self._let_go(job)
                    self.free.put(slot)
                    continue
                log.info(
                    "job_claimed",
                    job_id=job.id,
                    attempt=job.attempt,
                    miner=job.miner,
                    deadline=job.deadline,
                    partition=job.partition,
                )
                if job.proof_type in self.refused_proof_types:
                    # a manager that does not know the refusal handed it over
                    self.excluded.add(job.id)
                    self._release(job, self._refusal(job.proof_type))
                    self._let_go(job)
                    self.free.put(slot)
                    continue
                try:
                    skipped = set(job.skipped)
                    placement = place(
                        (sector_from_pb(s) for s in job.sectors if s.id not in skipped),
                        job.miner,
                        self.config.storages,
                        self._locate,
                    )
                except MissingStorage as exc:
                    self.excluded.add(job.id)
                    self._release(job, str(exc))
                    self._let_go(job)
                    self.free.put(slot)
                    continue
                except grpc.RpcError as exc:  # the index could not be read: try later
                    log.warning("locate_storage_failed", job_id=job.id, error=exc.details())
                    self._release(job, f"storage hosts could not be looked up: {exc.details()}")
                    self._let_go(job)
                    self.free.put(slot)
                    continue
                if rec.stop_reason is not None:  # reset or removed while placing
                    log.info("job_stopped", job_id=job.id, reason=rec.stop_reason)
                    self._let_go(job)
                    self.free.put(slot)
                    continue
                t = threading.Thread(
                    target=self._run_job,
                    args=(rec, placement),
                    name=f"job-{job.id}",
                    daemon=True,
                )
                self._threads.append(t)
                t.start()
            self._shutdown()
        finally:
            self._done.set()
            for slot in self.slots:
                slot.kill()

    def _shutdown(self) -> None:
        grace = self.config.shutdown_grace_s
        log.info(
            "worker_stopping", running=sorted(self.running), grace_s=grace, drain=self.draining
        )
        until = time.monotonic() + grace
        while time.monotonic() < until:
            with self._lock:
                if not self.running:
                    break
            time.sleep(0.1)
        with self._lock:
            for rec in self.running.values():
                rec.stop_reason = "shutdown"
        for t in self._threads:
            t.join(30)
        log.info("worker_stopped")
