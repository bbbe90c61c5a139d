"""The ``prover-storage`` daemon: serves StorageService for this host's
storages and announces itself to the manager, at start and then every
interval the manager asks for (the announcement is its heartbeat; the
manager's index then tells workers and the tracker where each storage is
served). A manager that is away is retried, or the next of several (they
share one index in their database); the host goes on serving the workers
that already know it meanwhile."""

from __future__ import annotations

import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc

from prover._proto import manager_pb2 as pb
from prover._proto import storage_pb2_grpc as spb_grpc
from prover.api.client import ApiInfo, ManagerClient
from prover.api.keepalive import SERVER_KEEPALIVE_OPTIONS
from prover.backoff import Backoff
from prover.buildinfo import API_VERSION, build_info
from prover.endpoints import Endpoint, remove_endpoint, this_process, write_endpoint
from prover.logs import get_logger
from prover.metrics.http import HttpServer, metrics_route
from prover.storage.config import StorageHostConfig
from prover.storage.lotus_compat import PATH as LOTUS_PATH
from prover.storage.lotus_compat import authorizer, vanilla_single_route
from prover.storage.lotus_index import LotusIndex, default_url
from prover.storage.service import StorageServicer, TokenCheck

log = get_logger("prover.storage")

ANNOUNCE_RETRY_MAX_S = 10.0
# the manager said no (a wrong token, a bad address): said loudly, tried again
REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT)


class StorageHost:
    def __init__(self, config: StorageHostConfig, info: ApiInfo) -> None:
        if not config.storage:
            raise ValueError("no [[storage]] configured: a storage host serves at least one")
        missing = [f"{s.name} ({s.path})" for s in config.storage if not s.path.is_dir()]
        if missing:
            raise ValueError(f"storage path is not a directory: {', '.join(missing)}")
        self.config = config
        self.info = info
        self.servicer = StorageServicer(
            config.name, config.storages, config.parallelism, config.sector_timeout_s
        )
        self.server: grpc.Server | None = None
        self.http_servers: list[HttpServer] = []
        # the same, by the listen address configured (port 0 included)
        self.http_by_listen: dict[str, HttpServer] = {}
        self.port: int | None = None
        self.stopping = threading.Event()
        self.announced = threading.Event()
        self._announcer: threading.Thread | None = None
        self.manager = ManagerClient(info, ca_file=config.api_ca)
        # [lotus_index]: this host's storages in a lotus-miner's sector index
        self.lotus_index = (
            LotusIndex(config.storages, config.lotus_index) if config.lotus_index.enabled else None
        )

    @property
    def http(self) -> HttpServer | None:
        """The first HTTP listener (metrics, or Lotus' route), if any."""
        return self.http_servers[0] if self.http_servers else None

    @property
    def address(self) -> str:
        """The address announced: the configured one, with the bound port
        when the listen port was 0."""
        host, _, port = self.config.address.rpartition(":")
        return f"{host}:{self.port if port == '0' else port}"

    def start(self) -> StorageHost:
        cfg = self.config
        options = [
            ("grpc.max_receive_message_length", 4 << 20),
            ("grpc.max_send_message_length", cfg.max_message_bytes),
            ("grpc.so_reuseport", 0),
            # workers' and managers' clients ping to find a hung host fast
            *SERVER_KEEPALIVE_OPTIONS,
        ]
        server = grpc.server(
            ThreadPoolExecutor(max_workers=64, thread_name_prefix="storage-grpc"),
            interceptors=[TokenCheck(self.info.token)],
            options=options,
        )
        spb_grpc.add_StorageServiceServicer_to_server(self.servicer, server)
        if cfg.tls_cert is not None:
            if cfg.tls_key is None:
                raise ValueError("tls_cert is set but tls_key is not")
            creds = grpc.ssl_server_credentials(
                [(cfg.tls_key.read_bytes(), cfg.tls_cert.read_bytes())]
            )
            self.port = server.add_secure_port(cfg.listen, creds)
        else:
            self.port = server.add_insecure_port(cfg.listen)
        if not self.port:
            raise OSError(f"cannot listen on {cfg.listen}")
        server.start()
        self.server = server
        listeners: dict[str, dict] = {}
        if cfg.metrics_listen:
            listeners.setdefault(cfg.metrics_listen, {})["/metrics"] = metrics_route(
                self.servicer.metrics.registry
            )
        index = self.lotus_index
        verify = index.verify_token if index is not None else None
        if cfg.lotus_listen:
            listeners.setdefault(cfg.lotus_listen, {})[LOTUS_PATH] = vanilla_single_route(
                cfg.storages, self.servicer.pool, cfg.lotus_token, verify
            )
        if index is not None:
            routes = index.stat_routes(authorizer(cfg.lotus_token, verify))
            listeners[cfg.lotus_listen].update(routes)
        for listen, routes in listeners.items():
            server = HttpServer(listen, routes).start()
            self.http_servers.append(server)
            self.http_by_listen[listen] = server
            log.info("http_listening", listen=server.address, routes=sorted(routes))
            if index is not None and listen == cfg.lotus_listen:
                url = cfg.lotus_index.url or default_url(
                    listen.rpartition(":")[0], server.port, cfg.advertise.rpartition(":")[0],
                    index.rpc_url,
                )  # fmt: skip
                index.start(url)
        self._announcer = threading.Thread(target=self._announce_loop, name="announce", daemon=True)
        self._announcer.start()
        log.info(
            "storage_host_started",
            name=cfg.name,
            version=build_info().describe(),
            listen=f"{cfg.listen.rpartition(':')[0]}:{self.port}",
            address=self.address,
            storages=sorted(cfg.storages),
            parallelism=cfg.parallelism,
            rayon_threads=os.environ.get("RAYON_NUM_THREADS", "cores"),
            sector_timeout_s=cfg.sector_timeout_s,
            tls=cfg.tls_cert is not None,
        )
        if cfg.endpoint_file is not None:  # last: whoever waits on it finds the host started
            write_endpoint(cfg.endpoint_file, self.endpoint())
        return self

    def endpoint(self) -> Endpoint:
        """Where this host listens, for its endpoint file (prover.endpoints)."""
        cfg = self.config
        metrics = self.http_by_listen.get(cfg.metrics_listen)
        lotus = self.http_by_listen.get(cfg.lotus_listen)
        return this_process(
            "prover-storage",
            name=cfg.name,
            grpc=f"{cfg.listen.rpartition(':')[0]}:{self.port}",
            http=metrics.address if metrics is not None else "",
            lotus=lotus.address if lotus is not None else "",
        )

    def announce(self) -> pb.AnnounceStorageResponse:
        req = pb.AnnounceStorageRequest(
            name=self.config.name,
            address=self.address,
            storages=sorted(self.config.storages),
            host=socket.gethostname(),
            version=build_info().short(),
            tls=self.config.tls_cert is not None,
            api_version=API_VERSION,
        )
        return self.manager.call(self.manager.worker.AnnounceStorage, req, timeout=10)

    def _announce_loop(self) -> None:
        interval, backoff = 5.0, Backoff(0.5, ANNOUNCE_RETRY_MAX_S)
        while not self.stopping.is_set():
            try:
                resp = self.announce()
            except grpc.RpcError as exc:
                if exc.code() in REFUSED:
                    log.error("announce_refused", code=exc.code().name, error=exc.details())
                else:
                    log.warning("manager_unreachable", call="AnnounceStorage", error=exc.details())
                backoff.wait(self.stopping)
                continue
            if not self.announced.is_set():
                log.info("storage_host_announced", manager=self.manager.address)
                self.announced.set()
            backoff.reset()
            if resp.interval_ms:
                interval = resp.interval_ms / 1000
            self.stopping.wait(interval)

    def stop(self, grace: float = 2.0) -> None:
        self.stopping.set()
        if self.config.endpoint_file is not None:  # first: it must not name closed listeners
            remove_endpoint(self.config.endpoint_file)
        if self.lotus_index is not None:
            self.lotus_index.stop()  # detaches first: the miner stops asking here
        for server in self.http_servers:
            server.stop()
        if self.server is not None:
            self.server.stop(grace).wait()
        self.servicer.close()
        self.manager.close()
        log.info("storage_host_stopped")
