"""gRPC servicers: check the request's shape, call a plain function (the
store, ``finish.accept``, the tracker), log, and answer. Every refusal
becomes a status code in ``status_mapping`` and nowhere else."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime

import grpc

from prover import metrics
from prover._proto import manager_pb2 as pb
from prover._proto import manager_pb2_grpc as pb_grpc
from prover.alerts import Alert
from prover.api.convert import (
    alert_to_pb,
    gpu_fallback_from_pb,
    gpu_to_dict,
    job_to_pb,
    miss_to_pb,
    new_job_from_pb,
    param_problems_from_pb,
    shadow_to_pb,
    storage_host_to_pb,
    timings_from_pb,
    worker_to_pb,
)
from prover.api.refusals import Refusal, refusal_metadata
from prover.buildinfo import API_VERSION, MIN_CLIENT_API, build_info
from prover.chain.clock import EpochClock
from prover.chain.lotus import LotusError
from prover.config import check_listen
from prover.logs import get_logger
from prover.manager.deadline_view import deadlines_view
from prover.manager.dispatch import Dispatcher
from prover.manager.finish import CannotVerify, Report, accept
from prover.manager.listing import list_page
from prover.manager.requests import BadRequest, ClientTooOld
from prover.manager.sector_check import check_sectors
from prover.proofs import InvalidInput, PoStProofType
from prover.store import (
    InvalidJob,
    JobState,
    JobStore,
    StorageHosts,
    StoreUnavailable,
    TransitionRefused,
    UnknownJob,
    UnknownWorker,
    WorkerRegistry,
)
from prover.store.database import utcnow
from prover.store.lease import ChainLease, Leadership
from prover.tracker import Tracker, TrackerRefused

log = get_logger("prover.manager.api")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,254}$")


class NoChain(Exception):
    """A chain call on a manager that follows no chain."""

    def __init__(self) -> None:
        super().__init__(
            "this manager follows no chain ([chain] api unset and no devnet in its home)"
        )


class NotLeader(Exception):
    """A chain call (deadlines, sectors check, dry run) at a standby: the
    leader answers it. UNAVAILABLE, so that a client given several managers
    tries the next."""

    def __init__(self, who: Leadership | None) -> None:
        if who is None or not who.holder:
            where = "no manager leads now"
        else:
            where = f"the leader is {who.holder} at {who.address or '(no address)'}"
        super().__init__(f"standby: this manager does not follow the chain now; {where}")


def leader_to_pb(
    who: Leadership | None, answered_by: str, managers: list, now: datetime, live_s: float
) -> pb.Leader:
    """Who leads and which managers are on the database, for operators."""
    msg = pb.Leader(answered_by=answered_by)
    if who is not None and who.holder:
        msg.name, msg.address, msg.term = who.holder, who.address, who.term
        msg.expires_in_s = (who.expires_at - now).total_seconds()
    for m in managers:
        age = (now - m.last_seen_at).total_seconds()
        msg.managers.append(
            pb.ManagerInfo(
                name=m.name,
                address=m.address,
                http=m.http,
                live=age <= live_s,
                last_seen_age_s=age,
                version=m.version,
            )
        )
    return msg


class WorkerNotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown worker {name}")


def _refuse(
    context: grpc.ServicerContext, code: grpc.StatusCode, reason: Refusal, message: str
) -> None:
    """Aborts the call: the code, the reason for programs, the text for people."""
    context.set_trailing_metadata(refusal_metadata(reason))
    context.abort(code, message)


@contextlib.contextmanager
def status_mapping(context: grpc.ServicerContext) -> Iterator[None]:
    """The one place domain refusals become gRPC status codes, each with
    its reason (``prover.api.refusals``): a client acts on the reason, as
    a code such as FAILED_PRECONDITION answers refusals that want
    different reactions."""
    invalid, precondition = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
    unavailable = grpc.StatusCode.UNAVAILABLE
    try:
        yield
    except BadRequest as exc:
        _refuse(context, invalid, Refusal.BAD_REQUEST, str(exc))
    except InvalidJob as exc:
        _refuse(context, invalid, Refusal.INVALID_JOB, str(exc))
    except TrackerRefused as exc:
        _refuse(context, invalid, Refusal.TRACKER_REFUSED, str(exc))
    except UnknownJob as exc:
        _refuse(context, grpc.StatusCode.NOT_FOUND, Refusal.UNKNOWN_JOB, str(exc))
    except WorkerNotFound as exc:
        _refuse(context, grpc.StatusCode.NOT_FOUND, Refusal.WORKER_NOT_FOUND, str(exc))
    except TransitionRefused as exc:
        _refuse(context, precondition, Refusal.TRANSITION_REFUSED, str(exc))
    except UnknownWorker as exc:
        _refuse(context, precondition, Refusal.UNKNOWN_WORKER, str(exc))
    except NoChain as exc:
        _refuse(context, precondition, Refusal.NO_CHAIN, str(exc))
    except ClientTooOld as exc:
        # a client stops rather than retries
        _refuse(context, precondition, Refusal.CLIENT_TOO_OLD, str(exc))
    except NotLeader as exc:
        _refuse(context, unavailable, Refusal.NOT_LEADER, str(exc))
    except StoreUnavailable as exc:
        log.warning("database_unavailable", error=str(exc))
        message = "job database unavailable; retry later"
        _refuse(context, unavailable, Refusal.STORE_UNAVAILABLE, message)
    except CannotVerify as exc:
        log.error("proof_unverifiable", error=str(exc))
        _refuse(context, unavailable, Refusal.CANNOT_VERIFY, str(exc))
    except LotusError as exc:
        _refuse(context, unavailable, Refusal.CHAIN_NODE, f"chain node: {exc}")


def _worker_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise BadRequest("worker", f"must be 1-255 of [A-Za-z0-9._:@/-], got {name!r}")
    return name


def client_api(kind: str, name: str, version: str, api_version: int) -> int:
    """The API a registering client speaks (0.1.0 sent none: API 1), refused
    when older than this manager serves."""
    api = api_version or 1
    if api < MIN_CLIENT_API:
        raise ClientTooOld(kind, name, version, api)
    return api


def _log_parameter_problems(worker: str, problems: list[dict], allowed_ids: Iterable[int]) -> None:
    """One line at info saying which sizes a worker can prove; an error only
    for a file that is there and wrong, or missing for a size the worker was
    told to take (its allowed sizes). A host that holds only the sizes it
    proves is normal: an error per absent file of every other size was noise
    (issue 27)."""
    explicit = {PoStProofType.from_chain_id(t) for t in allowed_ids}
    refused = {PoStProofType.from_chain_id(p["proof_type"]) for p in problems}
    provable = sorted((explicit or set(PoStProofType)) - refused, key=lambda t: t.chain_id)
    absent = sorted(
        {
            t
            for t in refused
            if all(p["problem"] == "missing" for p in problems if p["proof_type"] == t.chain_id)
        },
        key=lambda t: t.chain_id,
    )
    log.info(
        "worker_sizes",
        worker=worker,
        provable=[t.size_name for t in provable],
        without_files=[t.size_name for t in absent],
    )
    for p in problems:
        if p["problem"] == "missing" and not explicit:
            continue
        log.error("worker_parameters_refused", worker=worker, **p)


def _param_problems(msgs) -> list[dict]:
    """A worker's parameter problems, checked: known proof types, short text."""
    if len(msgs) > 50:
        raise BadRequest("param_problems", "at most 50")
    for m in msgs:
        try:
            PoStProofType.from_chain_id(m.proof_type)
        except InvalidInput as exc:
            raise BadRequest("param_problems", str(exc)) from None
        if len(m.file) > 255 or len(m.problem) > 64 or len(m.detail) > 1000:
            raise BadRequest("param_problems", "file, problem or detail too long")
    return param_problems_from_pb(msgs)


def _job_id(value: int, field: str = "job_id") -> int:
    if value <= 0:
        raise BadRequest(field, "must be a job id (positive)")
    return value


class WorkerServicer(pb_grpc.WorkerServiceServicer):
    def __init__(
        self,
        store: JobStore,
        dispatcher: Dispatcher,
        *,
        workers: WorkerRegistry,
        max_claim_wait_s: float,
        heartbeat_interval_s: float,
        on_proof: Callable[[], None] = lambda: None,
        on_refused: Callable[[int, str, str], None] = lambda job_id, worker, error: None,
        on_storage_back: Callable[[], None] = lambda: None,
        hosts: StorageHosts | None = None,
        unverifiable: Mapping[int, str] | None = None,
    ) -> None:
        self.store = store
        self.workers = workers
        self.hosts = hosts  # the storage hosts' index (AnnounceStorage, LocateStorage)
        # proof types whose verifying key the manager found wrong at start
        self.unverifiable = dict(unverifiable or {})
        self.dispatcher = dispatcher
        self.max_claim_wait_s = max_claim_wait_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.on_proof = on_proof  # the tracker submits without waiting for its next tick
        self.on_refused = on_refused  # (job id, worker, error): the alert on refused proofs
        # a storage host new or back: the tracker plans what found no sector now
        self.on_storage_back = on_storage_back

    def Register(self, request, context):
        with status_mapping(context):
            name = _worker_name(request.name)
            for pt in request.allowed_proof_types:
                try:
                    PoStProofType.from_chain_id(pt)
                except InvalidInput as exc:
                    raise BadRequest("allowed_proof_types", str(exc)) from None
            problems = _param_problems(request.param_problems)
            api = client_api("worker", name, request.version, request.api_version)
            self.workers.register(
                name,
                host=request.host,
                version=request.version,
                gpus=[gpu_to_dict(g) for g in request.gpus],
                cpus=request.cpus,
                cpuset=request.cpuset,
                allowed_miners=request.allowed_miners,
                allowed_proof_types=request.allowed_proof_types,
                param_problems=problems,
                build=request.build or None,
                driver_required=request.driver_required or None,
                api_version=api if request.api_version else None,
            )
            log.info(
                "worker_registered",
                worker=name,
                host=request.host,
                gpus=len(request.gpus),
                version=request.version,
                build=request.build or "unknown",
                api=api,
            )
            _log_parameter_problems(name, problems, request.allowed_proof_types)
            self.dispatcher.kick()
            return pb.RegisterResponse(
                heartbeat_interval_ms=int(self.heartbeat_interval_s * 1000),
                heartbeat_timeout_ms=int(self.store.heartbeat_timeout.total_seconds() * 1000),
                server_version=build_info().short(),
                api_version=API_VERSION,
                min_client_api=MIN_CLIENT_API,
            )

    def Claim(self, request, context):
        with status_mapping(context):
            name = _worker_name(request.worker)
            wait = min(request.wait_ms / 1000.0, self.max_claim_wait_s)
            exclude = tuple(request.exclude)
            if len(exclude) > 1000:
                raise BadRequest("exclude", "at most 1000 job ids")
            job = self.dispatcher.claim(name, wait, context.is_active, exclude)
            if job is None:
                return pb.ClaimResponse()
            if not context.is_active():
                # the call went (the worker's deadline, a cut connection)
                # while the job was claimed for it: the answer would be lost
                self.store.release(name, job.id, job.attempt, "claim call gone before its answer")
                log.warning("claim_undelivered", job_id=job.id, worker=name, attempt=job.attempt)
                self.dispatcher.kick()
                return pb.ClaimResponse()
            log.info(
                "job_claimed",
                job_id=job.id,
                worker=name,
                attempt=job.attempt,
                miner=job.miner,
                deadline=job.deadline,
                partition=job.partition,
            )
            return pb.ClaimResponse(job=job_to_pb(job))

    def Heartbeat(self, request, context):
        with status_mapping(context):
            name = _worker_name(request.worker)
            pairs = [(_job_id(j.job_id, "jobs.job_id"), j.attempt) for j in request.jobs]
            gpus = [gpu_to_dict(g) for g in request.gpus] if request.gpus else None
            fallback = (
                gpu_fallback_from_pb(request.gpu_fallback)
                if request.HasField("gpu_fallback")
                else None
            )
            lost: list[int] = []
            stops = self.store.heartbeat(name, pairs, gpus, lost=lost, gpu_fallback=fallback)
            metrics.heartbeat(name)
            if lost:
                log.warning("claims_lost", worker=name, jobs=lost)
                self.dispatcher.kick()
            for s in stops:
                log.info("job_stop_ordered", job_id=s.job_id, worker=name, reason=s.reason)
            worker = self.workers.get(name)
            return pb.HeartbeatResponse(
                stop=[
                    pb.StopOrder(job_id=s.job_id, attempt=s.attempt, reason=s.reason) for s in stops
                ],
                drain=bool(worker and worker.draining),
            )

    def Finish(self, request, context):
        with status_mapping(context):
            report = Report(
                worker=_worker_name(request.worker),
                job_id=_job_id(request.job_id),
                attempt=request.attempt,
                success=request.success,
                proof=request.proof,
                faulty=frozenset(request.faulty),
                error=request.error or None,
                timings=timings_from_pb(request.timings) if request.HasField("timings") else None,
            )
            done = accept(self.store, report, self.unverifiable)
            if report.success and not done.success:
                log.warning(
                    "invalid_proof", job_id=report.job_id, worker=report.worker, reason=done.error
                )
                self.on_refused(report.job_id, report.worker, done.error or "")
            log.info(
                "job_finished",
                job_id=report.job_id,
                worker=report.worker,
                attempt=report.attempt,
                success=done.success,
                state=done.outcome.state.value,
                duplicate=done.outcome.duplicate,
                faulty=list(done.faulty),
                error=done.error,
            )
            if done.outcome.state == JobState.READY:
                self.dispatcher.kick()
            elif done.outcome.state == JobState.SUCCEEDED and not done.outcome.duplicate:
                self.on_proof()
            return pb.FinishResponse(
                duplicate=done.outcome.duplicate, state=done.outcome.state.value
            )

    def Release(self, request, context):
        with status_mapping(context):
            name = _worker_name(request.worker)
            state = self.store.release(
                name, _job_id(request.job_id), request.attempt, request.reason or "released"
            )
            log.info("job_released", job_id=request.job_id, worker=name, reason=request.reason)
            self.dispatcher.kick()
            return pb.ReleaseResponse(state=state.value)

    def _hosts(self) -> StorageHosts:
        if self.hosts is None:
            raise BadRequest("storage", "this manager keeps no storage host index")
        return self.hosts

    def AnnounceStorage(self, request, context):
        with status_mapping(context):
            hosts = self._hosts()
            name = _worker_name(request.name)
            try:
                check_listen(request.address)
            except ValueError as exc:
                raise BadRequest("address", str(exc)) from None
            if not request.storages:
                raise BadRequest("storages", "a storage host serves at least one storage")
            for storage in request.storages:
                if not NAME_RE.match(storage):
                    raise BadRequest("storages", f"not a storage name: {storage!r}")
            api = client_api("storage host", name, request.version, request.api_version)
            before = next((h for h in hosts.list() if h.name == name), None)
            row = hosts.announce(
                name,
                address=request.address,
                storages=request.storages,
                host=request.host,
                version=request.version,
                tls=request.tls,
                api_version=api if request.api_version else None,
            )
            if (
                before is None
                or before.registered_at != row.registered_at
                or not hosts.live(before)
            ):
                log.info(
                    "storage_host_announced",
                    name=name,
                    address=row.address,
                    storages=row.storages,
                )
                self.on_storage_back()
            return pb.AnnounceStorageResponse(
                interval_ms=int(self.heartbeat_interval_s * 1000),
                timeout_ms=int(hosts.timeout.total_seconds() * 1000),
                api_version=API_VERSION,
                min_client_api=MIN_CLIENT_API,
            )

    def LocateStorage(self, request, context):
        with status_mapping(context):
            index = self._hosts()
            hosts = index.serving(request.storages)
            return pb.LocateStorageResponse(
                hosts=[storage_host_to_pb(h, index.live(h)) for h in hosts]
            )


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(
        self,
        store: JobStore,
        dispatcher: Dispatcher,
        *,
        workers: WorkerRegistry,
        started: float,
        clock: EpochClock,
        tracker: Callable[[], Tracker | None] = lambda: None,
        follows_chain: bool = False,
        leadership: Callable[[], Leadership | None] = lambda: None,
        lease: ChainLease | None = None,
        max_message_bytes: int = 4 << 20,
        alerts: Callable[[], list[Alert]] = list,
        hosts: StorageHosts | None = None,
        shadow: bool = False,
    ) -> None:
        self.store = store
        self.workers = workers
        self.hosts = hosts
        self.shadow = shadow
        self.alerts = alerts  # the active ones, from the manager's AlertBook
        # What a page of jobs may carry, leaving room for the envelope: under
        # this server's limit and under gRPC's default 4 MiB that clients
        # (ours included) receive, whichever is smaller.
        self.page_budget = min(max_message_bytes, 4 << 20) - (64 << 10)
        self.dispatcher = dispatcher
        self.started = started
        self.clock = clock
        self.tracker = tracker  # this manager's tracker now: None on a standby
        self.follows_chain = follows_chain
        self.leadership = leadership
        self.lease = lease

    def _tracker(self) -> Tracker:
        tracker = self.tracker()
        if tracker is not None:
            return tracker
        if self.follows_chain:
            raise NotLeader(self.leadership())
        raise NoChain()

    def _leader(self) -> pb.Leader:
        """Who leads, for the answers operators read (never fails the call)."""
        if self.lease is None:
            return pb.Leader()
        try:
            managers = self.lease.managers()
        except StoreUnavailable:
            managers = []
        return leader_to_pb(
            self.leadership(),
            self.lease.name,
            managers,
            utcnow(),
            self.lease.ttl.total_seconds(),
        )

    def Shadow(self, request, context):
        """Shadow mode's record, from the database: any manager answers."""
        with status_mapping(context):
            from prover.store.shadow import ShadowBook

            miner = request.miner if request.HasField("miner") else None
            rows = ShadowBook(self.store.db).rows(miner, limit=request.limit or 500)
            return pb.ShadowResponse(shadow=self.shadow, partitions=[shadow_to_pb(r) for r in rows])

    def Deadlines(self, request, context):
        with status_mapping(context):
            tracker = self._tracker()
            miner = request.miner if request.HasField("miner") else None
            if miner is not None and miner not in tracker.config.miners:
                raise BadRequest(
                    "miner", f"{miner} is not one of the configured miners {tracker.config.miners}"
                )
            view = deadlines_view(tracker, miner)
            view.leader.CopyFrom(self._leader())
            return view

    def CheckSectors(self, request, context):
        with status_mapping(context):
            tracker = self._tracker()
            if request.miner not in tracker.config.miners:
                raise BadRequest(
                    "miner",
                    f"{request.miner} is not one of the configured miners {tracker.config.miners}",
                )
            if request.slow_s < 0:
                raise BadRequest("slow_s", "must not be negative")
            deadline = request.deadline if request.HasField("deadline") else None
            policy = tracker.client.state_miner_proving_deadline(request.miner).info.policy
            if deadline is not None and deadline >= policy.period_deadlines:
                raise BadRequest(
                    "deadline", f"{deadline} is out of range 0..{policy.period_deadlines - 1}"
                )
            log.info("sectors_check_started", miner=request.miner, deadline=deadline)
            yield from check_sectors(
                tracker, tracker.planner.access, request.miner, deadline, request.slow_s
            )

    def ListStorageHosts(self, request, context):
        with status_mapping(context):
            if self.hosts is None:
                return pb.ListStorageHostsResponse()
            return pb.ListStorageHostsResponse(
                hosts=[storage_host_to_pb(h, self.hosts.live(h)) for h in self.hosts.list()]
            )

    def ListAlerts(self, request, context):
        with status_mapping(context):
            return pb.ListAlertsResponse(alerts=[alert_to_pb(a) for a in self.alerts()])

    def ProveDeadline(self, request, context):
        with status_mapping(context):
            d, ids, plan = self._tracker().prove_dry_run(request.miner, request.deadline)
            log.info("dry_run_requested", miner=request.miner, deadline=request.deadline, jobs=ids)
            return pb.ProveDeadlineResponse(
                job_ids=ids,
                period_start=d.period_start,
                challenge_epoch=d.challenge,
                unprovable=[miss_to_pb(m) for m in plan.unprovable],
            )

    def ListJobs(self, request, context):
        with status_mapping(context):
            return list_page(self.store, request, self.page_budget)

    def AddJobs(self, request, context):
        with status_mapping(context):
            if not request.jobs:
                raise BadRequest("jobs", "no jobs given")
            specs = [new_job_from_pb(j) for j in request.jobs]
            added = self.store.add_jobs(specs)
            log.info("jobs_added", ids=[i for i, _ in added], new=sum(c for _, c in added))
            self.dispatcher.kick()
            return pb.AddJobsResponse(ids=[i for i, _ in added])

    def ResetJobs(self, request, context):
        with status_mapping(context):
            results = self.store.reset([_job_id(i, "ids") for i in request.ids])
            log.info("jobs_reset", ids=[i for i, why in results.items() if why is None])
            self.dispatcher.kick()
            return _results(results)

    def RemoveJobs(self, request, context):
        with status_mapping(context):
            if request.all:
                if request.ids:
                    raise BadRequest("ids", "give ids or all, not both")
                removed = self.store.remove_all()
                log.warning("jobs_removed_all", count=len(removed))
                return _results(dict.fromkeys(removed))
            results = self.store.remove([_job_id(i, "ids") for i in request.ids])
            log.info("jobs_removed", ids=[i for i, why in results.items() if why is None])
            return _results(results)

    def ListWorkers(self, request, context):
        with status_mapping(context):
            running: dict[str, list[int]] = {}
            for job in self.store.list_jobs(states=[JobState.RUNNING]):  # without sectors
                running.setdefault(job.worker or "", []).append(job.id)
            return pb.ListWorkersResponse(
                workers=[worker_to_pb(w, running.get(w.name, [])) for w in self.workers.all()],
                leader=self._leader(),
            )

    def DrainWorker(self, request, context):
        with status_mapping(context):
            name = _worker_name(request.name)
            if not self.workers.set_draining(name, True):
                raise WorkerNotFound(name)
            log.info("worker_draining", worker=name)
            return pb.DrainWorkerResponse(ok=True)

    def Status(self, request, context):
        with status_mapping(context):
            counts = self.store.counts()
            info = build_info()
            schema, head = self.store.schema_revisions()
            msg = pb.StatusResponse(
                version=info.version,
                commit=info.commit,
                build=info.build,
                api_version=API_VERSION,
                min_client_api=MIN_CLIENT_API,
                schema=schema,
                schema_head=head,
                database=self.store.backend,
                jobs_by_state={s.value: counts.get(s.value, 0) for s in JobState},
                workers=len(self.workers.all()),
                uptime_s=time.monotonic() - self.started,
                leader=self._leader(),
            )
            epoch = self.clock.epoch()
            if epoch is not None:
                msg.current_epoch = epoch
            return msg


def _results(results: dict[int, str | None]) -> pb.JobResultsResponse:
    return pb.JobResultsResponse(
        results=[pb.JobResult(id=i, ok=why is None, reason=why or "") for i, why in results.items()]
    )
