"""The manager process: store, sweeps on APScheduler, gRPC server."""

from __future__ import annotations

import gc
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import grpc
from apscheduler.schedulers.background import BackgroundScheduler

from prover._proto import manager_pb2_grpc as pb_grpc
from prover.alerts import AlertBook, Deliverer
from prover.api.keepalive import SERVER_KEEPALIVE_OPTIONS
from prover.api.tokens import make_token
from prover.buildinfo import build_info
from prover.chain.clock import EpochClock
from prover.chain.lotus import LotusClient
from prover.config import ManagerConfig, StorageConfig, database_url, public_host
from prover.devnet import STORAGE_NAME, devnet_paths, follow_settings, serve_home_devnet
from prover.logs import get_logger
from prover.manager.alert_watch import AlertWatch, receivers_of
from prover.manager.auth import TokenInterceptor
from prover.manager.dispatch import Dispatcher
from prover.manager.metrics import manager_registry
from prover.manager.servicers import AdminServicer, WorkerServicer
from prover.manager.standby import REFRESH_S as STANDBY_READ_S
from prover.manager.standby import StandbyChain
from prover.manager.web import start_http
from prover.metrics.http import HttpServer
from prover.storage.access import SectorAccess
from prover.storage.remote import HostAddress
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

# a standby's chain reads are for its dashboard: a node slower than this is
# asked again at the next pass rather than waited on
STANDBY_READ_TIMEOUT_S = 5.0


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


class Manager:
    """Owns the store, the sweeps and the server; start() then stop().

    Every manager serves the APIs. The chain work (the tracker, the sweeps,
    the alert watch) runs only while this manager holds the chain lease
    (``prover.store.lease``): a thread renews or takes it every
    ``renew_s``, starts a fresh tracker at each new term and stops it when
    the lease is lost. With SQLite, the only manager always leads."""

    def __init__(
        self, config: ManagerConfig, home: Path, secret: bytes, *, clock=utcnow, mounts: bool = True
    ) -> None:
        self.config = config
        # False: sector files only through storage hosts (no devnet store mount)
        self.mounts = mounts
        self.home = home
        self.secret = secret
        self.clock = clock
        self.dispatcher: Dispatcher | None = None
        self.store: JobStore | None = None
        self.workers: WorkerRegistry | None = None
        self.ledger: Ledger | None = None
        self.server: grpc.Server | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.port: int | None = None
        self.http: HttpServer | None = None
        # the alerts active now: the alert watch keeps it, the dashboard and
        # `prover alerts` read it
        self.alert_book = AlertBook()
        self.alert_deliverer: Deliverer | None = None
        self.alert_client: LotusClient | None = None
        self.lease: ChainLease | None = None
        # what this manager's dashboard shows of the leader's chain while it
        # stands by (None: no chain is followed)
        self.standby_chain: StandbyChain | None = None
        self.notifier: Notifier | None = None
        # the tracker of this manager's current term (None on a standby)
        self.tracker: Tracker | None = None
        self.term: int | None = None
        self._tracker_stop = threading.Event()
        self._tracker_thread: threading.Thread | None = None
        self._chain_lock = threading.Lock()
        self._stopping = threading.Event()
        self._lead_thread: threading.Thread | None = None
        self.grace_until = clock()

    @property
    def name(self) -> str:
        return self.lease.name if self.lease is not None else ""

    def start(self) -> None:
        cfg = self.config
        # Hand-offs between the dispatcher and waiting Claim threads should
        # not wait out CPython's default 5 ms switch interval.
        sys.setswitchinterval(0.0005)
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
        # named (and told its address) once the API port is bound, before
        # its first step
        self.lease = ChainLease(db, cfg.lease.name, ttl_s=cfg.lease.ttl_s, clock=self.clock)
        self.ledger = Ledger(db, clock=self.clock, fence=self.lease.fence)
        self.devnet_server = None
        if not cfg.chain.api:
            cfg = self._embedded_devnet(cfg)
        if cfg.chain.api:
            # The chain is the clock: jobs expire when the tracker's head passes Close.
            self.epochs = EpochClock.following_chain()
        else:
            self.epochs = EpochClock(cfg.chain.genesis_unix, cfg.chain.epoch_seconds)
        self.dispatcher = Dispatcher(clock=self.epochs)
        self.parameter_problems = check_verifying_keys()
        self.alert_watch = self._alert_watch(cfg)
        started = time.monotonic()
        self.dispatcher.start(self.store, self.workers)

        options = [
            ("grpc.max_receive_message_length", cfg.api.max_message_bytes),
            ("grpc.max_send_message_length", cfg.api.max_message_bytes),
            ("grpc.so_reuseport", 0),
            *SERVER_KEEPALIVE_OPTIONS,
        ]
        server = grpc.server(
            ThreadPoolExecutor(max_workers=cfg.api.threads, thread_name_prefix="grpc"),
            interceptors=[TokenInterceptor(self.secret)],
            options=options,
        )
        pb_grpc.add_WorkerServiceServicer_to_server(
            WorkerServicer(
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
            ),
            server,
        )
        pb_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(
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
            ),
            server,
        )
        creds = server_credentials(cfg)
        if creds is None:
            self.port = server.add_insecure_port(cfg.api.listen)
        else:
            self.port = server.add_secure_port(cfg.api.listen, creds)
        if not self.port:
            raise OSError(f"cannot listen on {cfg.api.listen}")
        server.start()
        self.server = server
        host = cfg.api.listen.rpartition(":")[0]
        advertise = cfg.lease.advertise or f"{public_host(host)}:{self.port}"
        self.lease.name = cfg.lease.name or f"{socket.gethostname()}:{self.port}"
        self.lease.address = advertise
        # /metrics (and later the dashboard) on [http] listen; port 0 binds
        # any free port, logged in manager_started like the API's.
        self.standby_chain = self._standby_chain(cfg)
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
        if self.store.backend == "postgresql":
            self.notifier = Notifier(
                url,
                self.lease.name,
                {notify.JOBS: self.dispatcher.wake, notify.PROOFS: self._proof_elsewhere},
            ).start()
            self.dispatcher.on_kick = lambda: self.notifier.notify(notify.JOBS)

        self.scheduler = BackgroundScheduler(timezone="UTC")
        every = cfg.jobs.sweep_interval_s
        for sweep, seconds in (
            (self.sweep_heartbeats, every),
            (self.sweep_deadlines, every),
            (self.sweep_lifetime, 600),
            (self.check_alerts, cfg.alerts.interval_s),
            (self.read_standby_chain, STANDBY_READ_S),
        ):
            self.scheduler.add_job(
                sweep, "interval", seconds=seconds, max_instances=1, coalesce=True
            )
        self.scheduler.start()
        # Take the lease (or learn who has it) before serving chain work; the
        # tracker gets its own thread per term (a finished proof wakes it).
        self._lead_step()
        self._lead_thread = threading.Thread(target=self._lead_loop, name="lease", daemon=True)
        self._lead_thread.start()
        # Everything loaded so far (modules, protobuf descriptors, SQLAlchemy's
        # caches) lives as long as the process: out of the collector's full
        # passes, which otherwise stall a Claim by 60-80 ms every few dozen
        # (each builds 2349 sector tuples, enough to trigger them).
        gc.collect()
        gc.freeze()
        log.info(
            "manager_started",
            listen=f"{host}:{self.port}",
            version=build_info().describe(),
            http=self.http.address if self.http else "",
            database=self.store.backend,
            tls=creds is not None,
            home=str(self.home),
            name=self.lease.name,
            leader=self.term is not None,
        )

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

    def _lead_loop(self) -> None:
        while not self._stopping.wait(self.config.lease.renew_s):
            self._lead_step()

    def _lead_step(self) -> None:
        try:
            self.lease.step(self.epochs.epoch() if self.term is not None else None)
        except StoreUnavailable as exc:
            # keep leading only while the last renewal is young enough
            # (``holds``); a standby simply waits for the database
            log.warning("lease_unreachable", error=str(exc), leader=self.leading())
        held = self.lease.holds()
        with self._chain_lock:
            if self._stopping.is_set():
                return
            if held is not None and held != self.term:
                self._stop_chain("new term")
                self._start_chain(held)
            elif held is None and self.term is not None:
                self._stop_chain("lease lost")
        if held is None and self.config.chain.api and self.lease.leader_epoch is not None:
            # a standby works at the leader's epoch (claims of closed
            # deadlines refused, status), as its step read it
            self.epochs.observe(self.lease.leader_epoch)

    def _start_chain(self, term: int) -> None:
        cfg = self.config
        self.term = term
        # Running jobs get one full heartbeat timeout of grace at a new term:
        # their heartbeats may have had nowhere to go while nobody led.
        self.grace_until = self.clock() + timedelta(seconds=cfg.jobs.heartbeat_timeout_s)
        log.info("leader_elected", name=self.lease.name, term=term)
        if not cfg.chain.api:
            return
        # in shadow mode the client itself refuses to sign, estimate or push
        client = LotusClient.from_env(
            cfg.chain.api,
            network=cfg.chain.network,
            epoch_seconds=cfg.chain.epoch_seconds,
            read_only=cfg.chain.shadow,
        )
        if cfg.chain.shadow:
            log.warning(
                "shadow_mode",
                miners=cfg.chain.miners,
                note="proving every deadline; nothing is signed or sent",
            )
        tracker = Tracker(
            self.store,
            self.ledger,
            client,
            cfg.chain,
            self.sector_access(cfg),
            clock=self.epochs,
            kick=self.dispatcher.kick,
        )
        self._tracker_stop = threading.Event()
        self._tracker_thread = threading.Thread(
            target=tracker.run, args=(self._tracker_stop,), name=f"tracker-{term}", daemon=True
        )
        self.tracker = tracker
        self.alert_watch.tracker = tracker
        self._tracker_thread.start()

    def _stop_chain(self, why: str) -> None:
        if self.term is None:
            return
        log.warning("leader_stepped_down", name=self.lease.name, term=self.term, reason=why)
        self.term = None
        tracker, self.tracker = self.tracker, None
        self.alert_watch.tracker = None
        if tracker is not None:
            self._tracker_stop.set()
            tracker.wake()
            if self._tracker_thread is not None:
                # a thread stuck in a node call is left behind: whatever it
                # tries to record or send is refused by the fence
                self._tracker_thread.join(10)
            tracker.close()

    def _standby_chain(self, cfg: ManagerConfig) -> StandbyChain | None:
        """The leader's chain as this manager's dashboard shows it while it
        stands by: the lease's leader and epoch, each miner's policy read
        from the chain with a client of its own (read-only: a standby sends
        nothing; a short timeout: the scheduler's pass waits on it)."""
        if not cfg.chain.api:
            return None
        return StandbyChain(
            cfg.chain,
            self.lease.leadership,
            lambda: LotusClient.from_env(
                cfg.chain.api,
                network=cfg.chain.network,
                epoch_seconds=cfg.chain.epoch_seconds,
                read_only=True,
                timeout=STANDBY_READ_TIMEOUT_S,
                retries=0,
            ),
            clock=self.clock,
        )

    def read_standby_chain(self) -> None:
        """The standby's chain reads (a no-op once each miner is read); the
        leader's dashboard has its tracker's."""
        if self.standby_chain is not None and not self.leading():
            self.standby_chain.refresh()

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

    def sector_access(self, cfg: ManagerConfig) -> SectorAccess:
        """The manager's way to sector files: its [[storage]] mounts, else
        the live storage hosts of the index, asked with the worker token
        (which storage hosts take)."""

        def live() -> list[HostAddress]:
            return [
                HostAddress(h.name, h.address, frozenset(h.storages), h.tls)
                for h in self.hosts.list()
                if self.hosts.live(h)
            ]

        return SectorAccess(
            {s.name: s.path for s in cfg.storage},
            live,
            make_token(self.secret, "worker"),
            ca_file=cfg.api.tls.storage_ca,
            sector_timeout_s=cfg.chain.recovery_check_timeout_s,
            parallelism=cfg.chain.recovery_check_parallelism,
        )

    def _alert_watch(self, cfg: ManagerConfig) -> AlertWatch:
        """The alert watch, its deliverer started, and a chain client of its
        own for balances (the tracker's is the tracker thread's)."""
        self.alert_deliverer = Deliverer(
            receivers_of(cfg.alerts),
            timeout_s=cfg.alerts.timeout_s,
            resend_s=cfg.alerts.resend_s,
            active=self.alert_book.active,
        ).start()
        self.alert_client = None
        if cfg.chain.api:
            self.alert_client = LotusClient.from_env(
                cfg.chain.api,
                network=cfg.chain.network,
                epoch_seconds=cfg.chain.epoch_seconds,
                read_only=cfg.chain.shadow,
            )
        return AlertWatch(
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

    def _embedded_devnet(self, cfg: ManagerConfig) -> ManagerConfig:
        """With no chain configured and a devnet initialised in the home
        (`prover devnet init`), the devnet runs in this process and the
        tracker follows it through the same Lotus client."""
        # the home's devnet lock is taken first: one chain per home, whether
        # this manager runs it or `prover devnet run` does
        running = serve_home_devnet(self.home, holder="prover-manager")
        if running is None:
            return cfg
        self.devnet_server = running
        devnet = running.devnet
        _, store = devnet_paths(self.home)
        settings = follow_settings(devnet, running.api)
        settings["poll_interval_s"] = min(cfg.chain.poll_interval_s, settings["poll_interval_s"])
        chain = cfg.chain.model_copy(update=settings)
        storage = cfg.storage
        if not storage and self.mounts:
            storage = [StorageConfig(name=STORAGE_NAME, path=store)]
        log.info(
            "devnet_started",
            url=running.url,
            miners=sorted(devnet.miners),
            epoch_seconds=devnet.policy.epoch_seconds,
        )
        self.config = cfg.model_copy(update={"chain": chain, "storage": storage})
        return self.config

    def _sweep(self, name: str, fn) -> None:
        if not self.leading():
            return  # the leader sweeps
        try:
            touched = fn()
        except StoreUnavailable as exc:
            log.warning("sweep_skipped", sweep=name, error=str(exc))
            return
        if touched:
            log.info("sweep", sweep=name, jobs=touched)
            self.dispatcher.kick()

    def sweep_heartbeats(self) -> None:
        self._sweep("heartbeat", lambda: self.store.sweep_heartbeats(self.grace_until))

    def sweep_deadlines(self) -> None:
        epoch = self.epochs.epoch()
        if epoch is not None:
            self._sweep("deadline", lambda: self.store.sweep_deadlines(epoch))

    def sweep_lifetime(self) -> None:
        self._sweep("lifetime", self.store.sweep_lifetime)

    def check_alerts(self) -> None:
        """The alert watch's pass: every condition on the leader; on a
        standby only whether anyone leads."""
        self.alert_watch.check(leading=self.leading())

    def stop(self, grace: float = 5.0) -> None:
        self._stopping.set()
        if self._lead_thread is not None:
            self._lead_thread.join(10)
        if self.dispatcher is not None:
            self.dispatcher.stop()
        with self._chain_lock:
            self._stop_chain("stopping")
        if self.lease is not None:
            try:
                self.lease.release()  # a standby takes over at once
            except StoreUnavailable as exc:
                log.warning("lease_not_released", error=str(exc))
        if self.notifier is not None:
            self.notifier.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
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


def check_verifying_keys(directory: Path | None = None) -> list[dict]:
    """The quick parameter check of the manager's verifying keys (it
    verifies every proof; it never proves, so it needs no ``.params``), at
    start: each key present, of its right size and digest (they are small).
    Returns the problems as {proof_type, file, problem, detail}; a wrong key
    is logged as an error, raised as an alert, and its proof type's results
    are not verified with it (``CannotVerify``: the workers keep them)."""
    from prover.proofs import PoStProofType
    from prover.proofs.paramcheck import MISSING, quick_check

    try:
        report = quick_check(
            list(PoStProofType), directory, verifying_keys_only=True, record_earlier=True
        )
    except Exception as exc:  # never keep the manager from starting
        log.warning("parameters_check_failed", error=f"{type(exc).__name__}: {exc}")
        return []
    problems = []
    for f in report.problems:
        problems.append(
            {
                "proof_type": f.proof_type.chain_id,
                "file": f.name,
                "problem": f.status,
                "detail": f.detail,
            }
        )
        if f.status != MISSING:
            log.error(
                "verifying_key_bad",
                proof_type=f.proof_type.size_name,
                file=f.name,
                problem=f.status,
                detail=f.detail,
                path=str(f.path),
            )
    log.info(
        "verifying_keys_checked",
        directory=str(report.directory),
        ok=[f.proof_type.size_name for f in report.files if f.ok],
        missing=[f.proof_type.size_name for f in report.problems if f.status == MISSING],
        bad=[f.proof_type.size_name for f in report.problems if f.status != MISSING],
    )
    return problems


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
