"""The manager process: the store, the gRPC and HTTP servers, the sweeps,
and the chain work while it holds the lease. ``Manager.start`` is the
start-up sequence, in order (docs/ARCHITECTURE.md, "The manager's start-up,
in order")."""

from __future__ import annotations

import gc
import signal
import socket
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from prover.alerts import AlertBook, Deliverer
from prover.buildinfo import build_info
from prover.chain.clock import EpochClock
from prover.chain.lotus import LotusClient
from prover.config import ManagerConfig, database_url, public_host
from prover.devnet import RunningDevnet
from prover.endpoints import remove_endpoint, this_process, write_endpoint
from prover.logs import get_logger
from prover.manager.alert_watch import AlertWatch, receivers_of
from prover.manager.chain_work import ChainWork, sector_access
from prover.manager.dispatch import Dispatcher
from prover.manager.embedded_devnet import embedded_devnet
from prover.manager.grpc_server import serve_grpc
from prover.manager.metrics import manager_registry
from prover.manager.servicers import AdminServicer, WorkerServicer
from prover.manager.standby import StandbyChain, standby_chain
from prover.manager.sweeps import Sweeps
from prover.manager.verify import check_verifying_keys
from prover.manager.web import start_http
from prover.metrics.http import HttpServer
from prover.store import (
    Database,
    JobStore,
    Ledger,
    StorageHosts,
    StoreUnavailable,
    WorkerRegistry,
    notify,
)
from prover.store.database import utcnow
from prover.store.lease import ChainLease, Leadership
from prover.store.notify import Notifier
from prover.tracker import Tracker

log = get_logger("prover.manager")


class Manager:
    """Owns the store, the sweeps and the servers; start() then stop().

    Every manager serves the APIs. The chain work (the tracker, the sweeps,
    the alert watch) runs only while this manager holds the chain lease
    (``prover.store.lease``): a thread renews or takes it every
    ``renew_s``, starts a fresh tracker at each new term and stops it when
    the lease is lost. With SQLite, the only manager always leads."""

    def __init__(
        self,
        config: ManagerConfig,
        home: Path,
        secret: bytes,
        *,
        clock=utcnow,
        mounts: bool = True,
        endpoint_file: Path | None = None,
    ) -> None:
        self.config = config
        # False: sector files only through storage hosts (no devnet store mount)
        self.mounts = mounts
        self.home = home
        self.secret = secret
        self.clock = clock
        # where start() says this manager listens (prover.endpoints); None: nowhere
        self.endpoint_file = endpoint_file
        # Made by start()'s steps, in their order; None until its step ran.
        # _open_store:
        self.store: JobStore | None = None
        self.workers: WorkerRegistry | None = None
        self.hosts: StorageHosts | None = None
        self.lease: ChainLease | None = None
        self.ledger: Ledger | None = None
        # _follow_chain (devnet_server: the devnet this process runs, if it does):
        self.devnet_server: RunningDevnet | None = None
        self.epochs: EpochClock | None = None
        self.dispatcher: Dispatcher | None = None
        # _check_verifying_keys: {proof_type, file, problem, detail} of each bad key
        self.parameter_problems: list[dict] = []
        # _start_alert_watch (the alerts active now: the alert watch keeps
        # alert_book, the dashboard and `prover alerts` read it):
        self.alert_book = AlertBook()
        self.alert_deliverer: Deliverer | None = None
        self.alert_client: LotusClient | None = None
        self.alert_watch: AlertWatch | None = None
        # _serve_grpc:
        self.server: grpc.Server | None = None
        self.port: int | None = None
        # _serve_http (standby_chain: what the dashboard shows of the
        # leader's chain while this manager stands by; None: no chain):
        self.standby_chain: StandbyChain | None = None
        self.metrics: CollectorRegistry | None = None
        self.http: HttpServer | None = None
        # _hear_other_managers (PostgreSQL only):
        self.notifier: Notifier | None = None
        # _schedule_sweeps:
        self.sweeps: Sweeps | None = None
        # _lead: the lease's steps, and the tracker of each term held
        self.chain_work: ChainWork | None = None

    @property
    def name(self) -> str:
        return self.lease.name if self.lease is not None else ""

    @property
    def tracker(self) -> Tracker | None:
        """The tracker of this manager's current term; None on a standby."""
        return self.chain_work.tracker if self.chain_work is not None else None

    @property
    def term(self) -> int | None:
        return self.chain_work.term if self.chain_work is not None else None

    @property
    def grpc_address(self) -> str:
        """HOST:PORT of the API as bound (the port chosen for a port 0)."""
        return f"{self.config.api.listen.rpartition(':')[0]}:{self.port}"

    def start(self) -> None:
        """Starts the manager a step at a time; each step needs only what
        the steps before it made, and stop() undoes them:

        1. ``_open_store``: the database, migrated as ``[database] migrate``
           says, and the stores over it (jobs, workers, storage hosts, the
           lease, the ledger fenced by the lease). Nothing runs before the
           schema is right.
        2. ``_follow_chain``: the chain (the embedded devnet where none is
           configured, which rewrites ``[chain]``), the epoch clock that
           follows it, and the dispatcher that reads the clock.
        3. ``_check_verifying_keys``: before any servicer, so that a proof
           type whose key is wrong is refused from the first Finish.
        4. ``_start_alert_watch``: before the servicers, which report
           refused proofs to it.
        5. ``_serve_grpc``: the dispatcher, the servicers, the API port
           bound (port 0: any free one) and served.
        6. ``_name_in_lease``: this manager's name and address, known once
           the port is bound, before the lease's first step.
        7. ``_serve_http``: /metrics and the dashboard, their address in
           the lease too.
        8. ``_hear_other_managers``: PostgreSQL's LISTEN/NOTIFY, the hints
           of new jobs and accepted proofs, once the dispatcher runs.
        9. ``_schedule_sweeps``: the sweeps, the alert checks and a
           standby's chain reads on the scheduler.
        10. ``_lead``: the lease taken, or its holder learnt, before anyone
            is told the manager started; then the lease thread, which
            starts and stops a tracker at each term.
        11. ``_announce``: long-lived objects out of the collector, the
            start line, and the endpoint file last: whoever waits on it
            finds every step done.
        """
        # Hand-offs between the dispatcher and waiting Claim threads should
        # not wait out CPython's default 5 ms switch interval.
        sys.setswitchinterval(0.0005)
        self._open_store()
        self._follow_chain()
        self._check_verifying_keys()
        self._start_alert_watch()
        self._serve_grpc()
        self._name_in_lease()
        self._serve_http()
        self._hear_other_managers()
        self._schedule_sweeps()
        self._lead()
        self._announce()

    # ---- the start-up, in order ------------------------------------------------------

    def _open_store(self) -> None:
        cfg = self.config
        url = database_url(cfg, self.home)
        db = Database.open(url, migrate=cfg.database.migrate_policy(url))
        self.store = JobStore(
            db,
            clock=self.clock,
            heartbeat_timeout=cfg.jobs.heartbeat_timeout_s,
            max_tries=cfg.jobs.max_tries,
            lifetime=timedelta(hours=cfg.jobs.lifetime_h),
        )
        self.workers = WorkerRegistry(db, clock=self.clock)
        self.hosts = StorageHosts(db, clock=self.clock, timeout_s=cfg.jobs.heartbeat_timeout_s)
        # named (and told its address) once the API port is bound
        self.lease = ChainLease(db, cfg.lease.name, ttl_s=cfg.lease.ttl_s, clock=self.clock)
        self.ledger = Ledger(db, clock=self.clock, fence=self.lease.fence)

    def _follow_chain(self) -> None:
        if not self.config.chain.api:
            self.config, self.devnet_server = embedded_devnet(
                self.config, self.home, mounts=self.mounts
            )
        chain = self.config.chain
        if chain.api:
            # The chain is the clock: jobs expire when the tracker's head passes Close.
            self.epochs = EpochClock.following_chain()
        else:
            self.epochs = EpochClock(chain.genesis_unix, chain.epoch_seconds)
        self.dispatcher = Dispatcher(clock=self.epochs)

    def _check_verifying_keys(self) -> None:
        self.parameter_problems = check_verifying_keys()

    def _start_alert_watch(self) -> None:
        """The alert watch, its deliverer started, and a chain client of its
        own for balances (the tracker's is the tracker thread's)."""
        cfg = self.config
        self.alert_deliverer = Deliverer(
            receivers_of(cfg.alerts),
            timeout_s=cfg.alerts.timeout_s,
            resend_s=cfg.alerts.resend_s,
            active=self.alert_book.active,
        ).start()
        if cfg.chain.api:
            self.alert_client = LotusClient.from_env(
                cfg.chain.api,
                network=cfg.chain.network,
                epoch_seconds=cfg.chain.epoch_seconds,
                read_only=cfg.chain.shadow,
            )
        self.alert_watch = AlertWatch(
            cfg.alerts,
            self.alert_book,
            self.store,
            self.ledger,
            self.tracker,
            workers=self.workers,
            epoch=self.epochs.epoch,
            epoch_seconds=cfg.chain.epoch_seconds,
            worker_live_s=cfg.jobs.heartbeat_timeout_s,
            senders=cfg.chain.senders,
            balance=self.alert_client.wallet_balance if self.alert_client else None,
            deliverer=self.alert_deliverer,
            hosts=self.hosts,
            leadership=self.leadership,
            lease_ttl_s=cfg.lease.ttl_s,
            own_parameters=self.parameter_problems,
            name=lambda: self.name,
        )

    def _serve_grpc(self) -> None:
        cfg = self.config
        started = time.monotonic()
        self.dispatcher.start(self.store, self.workers)
        worker = WorkerServicer(
            self.store,
            self.dispatcher,
            workers=self.workers,
            max_claim_wait_s=cfg.api.max_claim_wait_s,
            heartbeat_interval_s=cfg.jobs.heartbeat_interval_s,
            on_proof=self._proof_accepted,
            on_refused=self.alert_watch.refused,
            on_storage_back=self._storage_back,
            hosts=self.hosts,
            unverifiable={
                p["proof_type"]: f"its verifying key {p['file']} is {p['problem']} "
                f"({p['detail']}); mend it and restart the manager"
                for p in self.parameter_problems
                if p["problem"] != "missing"
            },
        )
        admin = AdminServicer(
            self.store,
            self.dispatcher,
            workers=self.workers,
            started=started,
            clock=self.epochs,
            tracker=lambda: self.tracker,
            follows_chain=bool(cfg.chain.api),
            leadership=self.leadership,
            lease=self.lease,
            max_message_bytes=cfg.api.max_message_bytes,
            alerts=self.alert_book.active,
            hosts=self.hosts,
            shadow=cfg.chain.shadow,
        )
        self.server, self.port = serve_grpc(cfg, self.secret, worker, admin)

    def _name_in_lease(self) -> None:
        cfg = self.config
        host = cfg.api.listen.rpartition(":")[0]
        self.lease.name = cfg.lease.name or f"{socket.gethostname()}:{self.port}"
        self.lease.address = cfg.lease.advertise or f"{public_host(host)}:{self.port}"

    def _serve_http(self) -> None:
        """/metrics and the dashboard on ``[http] listen`` (port 0: any free
        port, logged in manager_started like the API's)."""
        cfg = self.config
        self.standby_chain = standby_chain(cfg.chain, self.lease.leadership, clock=self.clock)
        self.metrics = manager_registry(
            self.store,
            self.workers,
            self.epochs,
            cfg.chain.genesis_unix,
            cfg.chain.epoch_seconds,
            self.alert_book.active,
            leading=lambda: (self.name, self.term is not None),
        )
        self.http = start_http(
            cfg.http.listen,
            self.metrics,
            store=self.store,
            tracker=lambda: self.tracker,
            standby=self.standby_chain.facts if self.standby_chain is not None else None,
            secret=self.secret,
            alerts=self.alert_book.active,
            storage_hosts=lambda: [(h, self.hosts.live(h)) for h in self.hosts.list()],
            managers=self._managers_view,
        )
        self.lease.http = self.http.address if self.http else ""

    def _hear_other_managers(self) -> None:
        if self.store.backend != "postgresql":
            return  # SQLite: the only manager
        self.notifier = Notifier(
            database_url(self.config, self.home),
            self.lease.name,
            {notify.JOBS: self.dispatcher.wake, notify.PROOFS: self._proof_elsewhere},
        ).start()
        self.dispatcher.on_kick = lambda: self.notifier.notify(notify.JOBS)

    def _schedule_sweeps(self) -> None:
        self.sweeps = Sweeps(
            self.config,
            self.store,
            self.dispatcher,
            self.epochs,
            self.alert_watch,
            self.standby_chain,
            leading=self.leading,
            # asked only while leading: once _lead made chain_work and stepped
            grace_until=lambda: self.chain_work.grace_until,
        ).start()

    def _lead(self) -> None:
        """The first step of the lease now, the next ones on its thread; a
        tracker of its own at each term (prover.manager.chain_work)."""
        self.chain_work = ChainWork(
            self.config,
            self.lease,
            self.epochs,
            self.store,
            self.ledger,
            self.dispatcher,
            self.alert_watch,
            access=lambda: sector_access(self.config, self.hosts, self.secret),
            clock=self.clock,
        )
        # set before its first step: from that step on, the sweeps (already
        # scheduled) may find this manager leading and ask for its grace
        self.chain_work.start()

    def _announce(self) -> None:
        # Everything loaded so far (modules, protobuf descriptors, SQLAlchemy's
        # caches) lives as long as the process: out of the collector's full
        # passes, which otherwise stall a Claim by 60-80 ms every few dozen
        # (each builds 2349 sector tuples, enough to trigger them).
        gc.collect()
        gc.freeze()
        http = self.http.address if self.http else ""
        log.info(
            "manager_started",
            listen=self.grpc_address,
            version=build_info().describe(),
            http=http,
            database=self.store.backend,
            tls=self.config.api.tls.enabled,
            home=str(self.home),
            name=self.lease.name,
            leader=self.term is not None,
        )
        if self.endpoint_file is not None:
            endpoint = this_process(
                "prover-manager", name=self.lease.name, grpc=self.grpc_address, http=http
            )
            write_endpoint(self.endpoint_file, endpoint)

    # ---- the lease ---------------------------------------------------------------

    def leading(self) -> bool:
        """Whether this manager does the chain work now."""
        return self.lease is not None and self.lease.holds() is not None

    def leadership(self) -> Leadership | None:
        """Who leads, as the database says; None when it cannot be read."""
        try:
            return self.lease.leadership() if self.lease is not None else None
        except StoreUnavailable:
            return None

    def _managers_view(self) -> dict | None:
        """The dashboard's managers section; None for a lone manager that
        leads (nothing to say)."""
        rows = self.lease.managers()
        now = self.clock()
        live = [
            (m, (now - m.last_seen_at).total_seconds() <= self.config.lease.ttl_s) for m in rows
        ]
        if len([m for m, alive in live if alive]) <= 1 and self.leading():
            return None
        return {"leader": self.leadership(), "managers": live, "me": self.lease.name}

    def _proof_accepted(self) -> None:
        """A worker's proof was accepted here: the leader submits it now."""
        tracker = self.tracker
        if tracker is not None:
            tracker.job_finished()
        elif self.notifier is not None and self.config.chain.api:
            self.notifier.notify(notify.PROOFS)  # a standby: tell the leader

    def _storage_back(self) -> None:
        """A storage host announced itself anew (or after a silence): the
        leader plans at once what found no sector, rather than at its next
        pass; a standby that heard it wakes the leader."""
        tracker = self.tracker
        if tracker is not None:
            tracker.wake()
        elif self.notifier is not None and self.config.chain.api:
            self.notifier.notify(notify.PROOFS)  # wakes the leader's tracker

    def _proof_elsewhere(self) -> None:
        tracker = self.tracker
        if tracker is not None:
            tracker.job_finished()

    def stop(self, grace: float = 5.0) -> None:
        if self.endpoint_file is not None:  # first: it must not name closed listeners
            remove_endpoint(self.endpoint_file)
        if self.chain_work is not None:
            self.chain_work.stop_stepping()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.chain_work is not None:
            self.chain_work.step_down("stopping")
        if self.lease is not None:
            try:
                self.lease.release()  # a standby takes over at once
            except StoreUnavailable as exc:
                log.warning("lease_not_released", error=str(exc))
        if self.notifier is not None:
            self.notifier.stop()
        if self.sweeps is not None:
            self.sweeps.stop()
        if self.http is not None:
            self.http.stop()
        if self.alert_deliverer is not None:
            self.alert_deliverer.stop()
        if self.alert_client is not None:
            self.alert_client.close()
        if self.standby_chain is not None:
            self.standby_chain.close()
        if self.server is not None:
            self.server.stop(grace).wait()
        if self.store is not None:
            self.store.close()
        if self.devnet_server is not None:
            self.devnet_server.stop()
        log.info("manager_stopped")


def run_until_signalled(manager: Manager) -> None:
    """Serves until SIGTERM or SIGINT, then stops cleanly."""
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("signal_received", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    manager.start()
    try:
        stop.wait()
    finally:
        manager.stop()
