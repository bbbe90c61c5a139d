"""Joining a lotus-miner's sector index, as a lotus-worker does, so that
the miner and its PoSt workers ask this host for vanilla proofs.

Lotus asks for a sector's vanilla proof only at the URLs its own sector
index lists for the sector (``Remote.GenerateSingleVanillaProof``:
``StorageFindSector`` of sealed|cache, or update|update-cache for a snap
sector, then ``POST <URL>/vanilla/single`` at each URL in turn, a 404 meaning
"ask the next"). That is how a lotus-miner's pre-deadline sector check
(``CheckProvable``, also ``lotus-miner proving check``) and its
``lotus-worker --windowpost`` workers read sectors they do not mount; the
miner's built-in PoSt reads only its own paths. So with ``[lotus_index]`` a
storage host does through the miner API (JSON-RPC on ``/rpc/v0``, an admin
token; ``documentation/en/api-methods-miner.md``) what
``paths.Local`` does in a lotus-worker:

- ``StorageAttach(StorageInfo, FsStat)`` for each storage, its ``URLs``
  being ``http://HOST:PORT/remote`` of this host's ``lotus_listen``;
- ``StorageDeclareSector(ID, {Miner, Number}, FileType, primary)`` for each
  sector file found, one file type a call (sealed 2 and cache 4, update 8
  and update-cache 16; only a sector whose replica and cache are both
  there: what a vanilla proof reads), ``primary`` being ``CanStore`` as a
  worker sets it; the storages are scanned again every ``scan_interval_s``,
  new sectors declared and vanished ones dropped (``StorageDropSector``);
- ``StorageReportHealth(ID, {Stat: FsStat, Err})`` every 10 s (Lotus'
  ``paths.HeartbeatInterval``; the index stops choosing a path not heard
  from for 50 s, ``SkippedHeartbeatThresh``), with a real statfs;
- ``Session`` at the same interval: a new session is a restarted miner,
  whose in-memory index is empty, so everything is attached and declared
  again (a worker's ``Redeclare`` on reconnect);
- ``StorageDetach(ID, URL)`` at a clean stop.

A storage's ID (a UUID in Lotus) is, in order: ``[lotus_index.ids]`` for
its name; the ``ID`` of the ``sectorstore.json`` at its root when it is a
Lotus storage path (then its own Weight, CanSeal, CanStore, groups and
filters are attached too, as a worker that opens the path would, so that a
path the miner also has is not altered); its name when that is a UUID;
else a UUID derived from its name (uuid5, the same on every host and at
every start). Errors are logged and retried with backoff: the host goes on
serving its workers whatever the miner does.

Lotus sends our route a token of its own (a lotus-miner signs
``{"Allow": ["admin"]}`` at start, which no ``lotus-miner auth
create-token`` prints; a lotus-worker sends its MINER_API_INFO token), so
with ``[lotus_index]`` the
route also takes any token the miner's ``AuthVerify`` says is ``admin``, as
a lotus-worker's ``/remote`` does. ``GET /remote/stat/<ID>`` answers the
FsStat, which ``lotus-miner storage list`` reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prover.backoff import Backoff
from prover.logs import get_logger
from prover.metrics.http import Request, Response, Route, method_not_allowed
from prover.storage.sectorstore import META_FILE, read_sectorstore

log = get_logger("prover.storage.lotus_index")

# Lotus' storage/paths: HeartbeatInterval and SkippedHeartbeatThresh
HEALTH_INTERVAL_S = 10.0
SKIPPED_HEARTBEAT_S = 50.0
SYNC_RETRY_MAX_S = 30.0
STAT_TIMEOUT_S = 5.0
# a token the miner said is admin is believed this long without asking again
VERIFIED_TOKEN_TTL_S = 600.0

# storiface.SectorFileType
FT_UNSEALED, FT_SEALED, FT_CACHE, FT_UPDATE, FT_UPDATE_CACHE = 1, 2, 4, 8, 16
# (replica type and folder, cache type and folder): what a vanilla proof reads
PAIRS = (
    (FT_SEALED, "sealed", FT_CACHE, "cache"),
    (FT_UPDATE, "update", FT_UPDATE_CACHE, "update-cache"),
)

# uuid5 namespace of the IDs derived from storage names
STORAGE_ID_NAMESPACE = uuid.UUID("4f1c2b7e-93a5-5d0e-b6c8-2e7a1d9f0c53")
SECTOR_NAME = re.compile(r"^s-t0(\d+)-(\d+)$")

Decl = tuple[int, int, int]  # (miner, sector number, file type)


# ---- configuration ---------------------------------------------------------


def parse_miner_api(value: str) -> tuple[str, str]:
    """``TOKEN:/ip4/HOST/tcp/PORT/http`` (``MINER_API_INFO``, as
    ``lotus-miner auth api-info --perm admin`` prints it) or
    ``TOKEN:http://HOST:PORT[/rpc/v0]`` -> (token, URL of ``/rpc/v0``)."""
    token, sep, rest = value.strip().partition(":")
    if not sep or not token or rest.startswith("//"):
        raise ValueError(
            "expected TOKEN:/ip4/HOST/tcp/PORT/http or TOKEN:http://HOST:PORT "
            "(the Storage* methods need an admin token: lotus-miner auth api-info --perm admin)"
        )
    if rest.startswith("/"):
        parts = rest.strip("/").split("/")
        if (
            len(parts) < 4
            or parts[0] not in ("ip4", "ip6", "dns", "dns4", "dns6")
            or parts[2] != "tcp"
            or not parts[3].isdigit()
        ):
            raise ValueError(f"cannot read multiaddr {rest!r}")
        host = f"[{parts[1]}]" if parts[0] == "ip6" else parts[1]
        scheme = "https" if "https" in parts[4:] or "wss" in parts[4:] else "http"
        return token, f"{scheme}://{host}:{parts[3]}/rpc/v0"
    if rest.startswith(("http://", "https://", "ws://", "wss://")):
        url = rest.replace("ws://", "http://", 1).replace("wss://", "https://", 1).rstrip("/")
        if url.endswith("/rpc/v1"):
            raise ValueError(f"{url}: the miner API's Storage* methods are on /rpc/v0")
        return token, url if url.endswith("/rpc/v0") else url + "/rpc/v0"
    raise ValueError(f"cannot read lotus-miner API info {value!r}")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class LotusIndexConfig(BaseModel):
    """``[lotus_index]`` of the storage host (configs/storage.toml)."""

    model_config = ConfigDict(extra="forbid")

    # the lotus-miner API with an admin token; empty: off
    api: str = ""
    # the URL given to the miner; empty: http://HOST:PORT/remote of lotus_listen
    url: str = ""
    weight: int = Field(default=0, ge=0)
    can_seal: bool = False
    can_store: bool = False
    # storage name -> Lotus storage ID (UUID)
    ids: dict[str, str] = {}
    scan_interval_s: float = Field(default=300.0, gt=0)
    detach_on_stop: bool = True

    @field_validator("api")
    @classmethod
    def _api(cls, v: str) -> str:
        if v:
            parse_miner_api(v)
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v:
            parts = urlsplit(v)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"expected http://HOST:PORT/remote, got {v!r}")
            if parts.path.rstrip("/") != "/remote":
                raise ValueError(f"{v!r}: Lotus appends /vanilla/single; the URL ends in /remote")
            v = v.rstrip("/")
        return v

    @field_validator("ids")
    @classmethod
    def _ids(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [f"{k} = {i!r}" for k, i in v.items() if not _is_uuid(i)]
        if bad:
            raise ValueError(f"not UUIDs (Lotus storage IDs are): {', '.join(bad)}")
        if len(set(v.values())) != len(v):
            raise ValueError("two storages are given the same ID")
        return v

    @property
    def enabled(self) -> bool:
        return bool(self.api)


# ---- the storages as Lotus sees them ---------------------------------------


@dataclass
class IndexedStorage:
    name: str
    root: Path
    id: str
    # where the ID came from: ids, sectorstore.json, name, derived
    source: str
    # StorageInfo less ID and URLs
    info: dict[str, Any]
    primary: bool
    max_storage: int = 0
    used: int = 0


def resolve_storages(storages: Mapping[str, Path], cfg: LotusIndexConfig) -> list[IndexedStorage]:
    """Each storage's Lotus ID and the StorageInfo attached for it."""
    unknown = sorted(set(cfg.ids) - set(storages))
    if unknown:
        raise ValueError(f"[lotus_index] ids names storages this host does not serve: {unknown}")
    out = []
    for name, root in storages.items():
        meta = read_sectorstore(root) if (root / META_FILE).is_file() else None
        if name in cfg.ids:
            sid, source = cfg.ids[name], "ids"
            if meta is not None and meta.id != sid:
                raise ValueError(
                    f"[lotus_index] ids gives {name} the ID {sid}, but {meta.file} says {meta.id}"
                )
        elif meta is not None:
            sid, source = meta.id, META_FILE
        elif _is_uuid(name):
            sid, source = str(uuid.UUID(name)), "name"
        else:
            sid, source = str(uuid.uuid5(STORAGE_ID_NAMESPACE, name)), "derived"
        if meta is not None:  # as a lotus-worker opening the path sends them
            info = {
                "Weight": meta.weight,
                "MaxStorage": meta.max_storage,
                "CanSeal": meta.can_seal,
                "CanStore": meta.can_store,
                "Groups": list(meta.groups),
                "AllowTo": list(meta.allow_to),
                "AllowTypes": list(meta.allow_types),
                "DenyTypes": list(meta.deny_types),
                "AllowMiners": list(meta.allow_miners),
                "DenyMiners": list(meta.deny_miners),
            }
        else:
            info = {
                "Weight": cfg.weight,
                "MaxStorage": 0,
                "CanSeal": cfg.can_seal,
                "CanStore": cfg.can_store,
                "Groups": [],
                "AllowTo": [],
                "AllowTypes": [],
                "DenyTypes": [],
                "AllowMiners": [],
                "DenyMiners": [],
            }
        out.append(
            IndexedStorage(
                name, root, sid, source, info, info["CanStore"], max_storage=info["MaxStorage"]
            )
        )
    ids = [s.id for s in out]
    if len(ids) != len(set(ids)):
        raise ValueError(f"two storages have one Lotus ID: {sorted((s.name, s.id) for s in out)}")
    return out


def storage_info(storage: IndexedStorage, url: str) -> dict[str, Any]:
    """The ``storiface.StorageInfo`` JSON of StorageAttach, keys in its order."""
    return {"ID": storage.id, "URLs": [url], **storage.info}


def scan_sectors(root: Path) -> set[Decl]:
    """(miner, number, file type) of every sector under ``root`` whose
    replica file and cache folder are both there."""
    found: set[Decl] = set()
    for ft_replica, replica_dir, ft_cache, cache_dir in PAIRS:
        replicas = _entries(root / replica_dir, want_dir=False)
        caches = _entries(root / cache_dir, want_dir=True)
        for miner, number in replicas & caches:
            found.add((miner, number, ft_replica))
            found.add((miner, number, ft_cache))
    return found


def _entries(folder: Path, *, want_dir: bool) -> set[tuple[int, int]]:
    out = set()
    try:
        it = os.scandir(folder)
    except FileNotFoundError:
        return out
    with it:
        for entry in it:
            m = SECTOR_NAME.match(entry.name)
            if m is None:
                continue
            try:
                ok = entry.is_dir() if want_dir else entry.is_file()
            except OSError:
                continue
            if ok:
                out.add((int(m.group(1)), int(m.group(2))))
    return out


def disk_usage(root: Path) -> int:
    """Bytes under ``root`` (what Lotus' ``Used`` is, for a MaxStorage)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
    return total


def fs_stat(root: Path, max_storage: int = 0, used: int = 0) -> dict[str, int]:
    """``fsutil.FsStat`` of a storage, as Lotus' ``path.stat`` computes it
    (nothing reserved: this host allocates nothing)."""
    st = os.statvfs(root)
    capacity, available = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    stat = {
        "Capacity": capacity,
        "Available": available,
        "FSAvailable": available,
        "Reserved": 0,
        "Max": 0,
        "Used": 0,
    }
    if max_storage > 0:
        stat["Max"], stat["Used"] = max_storage, used
        stat["Available"] = min(available, max(max_storage - used, 0))
    return stat


ZERO_STAT = {"Capacity": 0, "Available": 0, "FSAvailable": 0, "Reserved": 0, "Max": 0, "Used": 0}


# ---- the miner API ---------------------------------------------------------


class MinerApiError(Exception):
    """A miner API call that failed: ``refused`` when the miner said no to
    the token (fix the configuration), ``unreachable`` when it was not
    reached (it is retried)."""

    def __init__(
        self,
        method: str,
        message: str,
        *,
        code: int | None = None,
        refused: bool = False,
        unreachable: bool = False,
    ) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.message = message
        self.code = code
        self.refused = refused
        self.unreachable = unreachable


TOKEN_HINT = (
    "give [lotus_index] api an admin token of this miner (lotus-miner auth api-info --perm admin)"
)


class MinerApi:
    """The few miner API methods a storage path's owner calls, as JSON-RPC
    2.0 over HTTP POST with ``Authorization: Bearer``."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.url = url
        self._http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
        self._ids = iter(range(1, 1 << 62))
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, *params: Any, timeout: float | None = None) -> Any:
        with self._lock:
            rid = next(self._ids)
        body = {"jsonrpc": "2.0", "method": f"Filecoin.{method}", "params": list(params), "id": rid}
        try:
            kwargs = {} if timeout is None else {"timeout": timeout}
            resp = self._http.post(self.url, json=body, **kwargs)
        except httpx.HTTPError as exc:
            raise MinerApiError(
                method, f"cannot reach the lotus-miner at {self.url}: {exc}", unreachable=True
            ) from None
        if resp.status_code == 401:
            raise MinerApiError(
                method, f"the lotus-miner refused the token (HTTP 401): {TOKEN_HINT}", refused=True
            )
        if resp.status_code != 200:
            raise MinerApiError(
                method,
                f"HTTP {resp.status_code} from {self.url}: {resp.text.strip()[:300]}",
                unreachable=resp.status_code >= 500,
            )
        try:
            answer = resp.json()
        except ValueError:
            raise MinerApiError(method, f"not JSON from {self.url}: {resp.text[:200]!r}") from None
        error = answer.get("error") if isinstance(answer, dict) else None
        if error:
            message = str(error.get("message", error))
            if "missing permission" in message:
                raise MinerApiError(
                    method, f"{message}: {TOKEN_HINT}", code=error.get("code"), refused=True
                )
            raise MinerApiError(method, message, code=error.get("code"))
        return answer.get("result") if isinstance(answer, dict) else None

    # documentation/en/api-methods-miner.md, one method each

    def session(self) -> str:
        return str(self.call("Session"))

    def auth_verify(self, token: str) -> list[str]:
        return list(self.call("AuthVerify", token, timeout=10.0) or [])

    def storage_attach(self, info: dict[str, Any], stat: dict[str, int]) -> None:
        self.call("StorageAttach", info, stat)

    def storage_declare_sector(
        self, storage_id: str, miner: int, number: int, file_type: int, primary: bool
    ) -> None:
        sector = {"Miner": miner, "Number": number}
        self.call("StorageDeclareSector", storage_id, sector, file_type, primary)

    def storage_drop_sector(self, storage_id: str, miner: int, number: int, file_type: int) -> None:
        sector = {"Miner": miner, "Number": number}
        self.call("StorageDropSector", storage_id, sector, file_type)

    def storage_report_health(self, storage_id: str, stat: dict[str, int], err: str = "") -> None:
        self.call("StorageReportHealth", storage_id, {"Stat": stat, "Err": err})

    def storage_detach(self, storage_id: str, url: str) -> None:
        self.call("StorageDetach", storage_id, url, timeout=5.0)


def local_address_towards(url: str) -> str | None:
    """This machine's address on the route to ``url``'s host (what a
    lotus-worker advertises when it listens on 0.0.0.0); None if unknown."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return None
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((host, parts.port or 80))  # UDP: nothing is sent
            return s.getsockname()[0]
    except OSError:
        return None


def default_url(lotus_listen_host: str, port: int, advertise_host: str, miner_url: str) -> str:
    """``http://HOST:PORT/remote`` of the Lotus listener: its own host when
    it binds one, else the advertised host, else this machine's address
    towards the miner, else its name."""
    host = lotus_listen_host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = advertise_host.strip("[]") or local_address_towards(miner_url) or socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/remote"


# ---- attaching, declaring, reporting ---------------------------------------


@dataclass
class _State:
    session: str | None = None
    attached: set[str] = field(default_factory=set)
    declared: dict[str, set[Decl]] = field(default_factory=dict)


class LotusIndex:
    """Keeps this host's storages in a lotus-miner's sector index: one
    thread attaches and declares (at start, after a miner restart, and
    every ``scan_interval_s``), another reports health and watches the
    miner's session. ``verify_token`` checks a token Lotus sent our route."""

    def __init__(
        self,
        storages: Mapping[str, Path],
        config: LotusIndexConfig,
        *,
        health_interval_s: float | None = None,
    ) -> None:
        if not config.enabled:
            raise ValueError("[lotus_index] api is not set")
        self.config = config
        self.storages = resolve_storages(storages, config)
        token, self.rpc_url = parse_miner_api(config.api)
        self.api = MinerApi(self.rpc_url, token)
        self.health_interval_s = health_interval_s or HEALTH_INTERVAL_S
        self.url = ""
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._reattach = False
        self._state = _State()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stat_pool = ThreadPoolExecutor(
            max_workers=max(1, len(self.storages)), thread_name_prefix="lotus-statfs"
        )
        self._stat_pending: dict[str, Future] = {}
        self._stat_lock = threading.Lock()
        self._verified: dict[str, float] = {}
        # what tests and operators look at
        self.synced = threading.Event()
        self.last_error = ""
        self.health_reports = 0
        self._miner_down = False

    # -- lifecycle

    def start(self, url: str) -> LotusIndex:
        self.url = url
        for s in self.storages:
            log.info(
                "lotus_index_storage", storage=s.name, id=s.id, id_from=s.source, url=url,
                can_seal=s.info["CanSeal"], can_store=s.info["CanStore"], weight=s.info["Weight"],
            )  # fmt: skip
        for target, name in ((self._sync_loop, "lotus-index"), (self._health_loop, "lotus-health")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()
        for t in self._threads:
            t.join(10)
        with self._lock:
            attached = sorted(self._state.attached)
        if self.config.detach_on_stop and self.url:
            for sid in attached:
                try:
                    self.api.storage_detach(sid, self.url)
                    log.info("lotus_index_detached", id=sid, url=self.url)
                except MinerApiError as exc:
                    log.warning("lotus_index_detach_failed", id=sid, error=str(exc))
        self._stat_pool.shutdown(wait=False, cancel_futures=True)
        self.api.close()

    # -- the miner's requests to our routes

    def verify_token(self, token: str) -> bool:
        """Whether the miner's ``AuthVerify`` gives ``token`` admin (what a
        lotus-worker's ``/remote`` requires); admitted tokens are cached."""
        now = time.monotonic()
        with self._lock:
            if self._verified.get(token, 0) > now:
                return True
        try:
            perms = self.api.auth_verify(token)
        except MinerApiError as exc:
            log.warning("lotus_token_not_verified", error=str(exc))
            return False
        if "admin" not in perms:
            return False
        with self._lock:
            if len(self._verified) >= 64:
                self._verified.clear()
            self._verified[token] = now + VERIFIED_TOKEN_TTL_S
        return True

    def stat_routes(self, authorized: Callable[[Request], Response | None]) -> dict[str, Route]:
        """``GET /remote/stat/<ID>`` for each storage: its FsStat JSON, as
        Lotus' FetchHandler answers it (``lotus-miner storage list``)."""

        def route_for(storage: IndexedStorage) -> Route:
            def serve(request: Request) -> Response:
                if request.method != "GET":
                    return method_not_allowed("GET")
                refusal = authorized(request)
                if refusal is not None:
                    return refusal
                stat, err = self._stat(storage)
                if err:
                    return Response(500, f"{err}\n".encode())
                return Response(200, json.dumps(stat).encode() + b"\n", "application/json")

            return serve

        return {f"/remote/stat/{s.id}": route_for(s) for s in self.storages}

    # -- the threads

    def _sync_loop(self) -> None:
        backoff = Backoff(1.0, SYNC_RETRY_MAX_S)
        next_scan = 0.0
        while not self.stopping.is_set():
            try:
                self._sync()
            except MinerApiError as exc:
                self._failed(exc)
                self._wait(backoff.next())
                continue
            backoff.reset()
            next_scan = time.monotonic() + self.config.scan_interval_s
            self._wait(max(0.0, next_scan - time.monotonic()))

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _failed(self, exc: MinerApiError) -> None:
        self.last_error = str(exc)
        if exc.refused:
            log.error("lotus_index_refused", miner=self.rpc_url, error=str(exc))
        elif exc.unreachable:
            if not self._miner_down:
                log.warning("lotus_miner_unreachable", miner=self.rpc_url, error=str(exc))
            self._miner_down = True
        else:
            log.error("lotus_index_failed", miner=self.rpc_url, error=str(exc))

    def _sync(self) -> None:
        """Attaches what is not attached in this miner session, then brings
        its declarations in line with the files on disk."""
        session = self.api.session()
        state = self._state
        if session != state.session or self._reattach:
            if state.session is not None:
                log.warning(
                    "lotus_index_reattaching",
                    reason="miner restarted" if session != state.session else "storage unknown",
                )
            self._reattach = False
            with self._lock:
                state.session = session
                state.attached.clear()
                state.declared.clear()
        if self._miner_down:
            log.info("lotus_miner_reachable", miner=self.rpc_url)
            self._miner_down = False
        for s in self.storages:
            if self.stopping.is_set():
                return
            self._sync_storage(s)
        self.last_error = ""
        self.synced.set()

    def _sync_storage(self, s: IndexedStorage) -> None:
        state = self._state
        started = time.monotonic()
        try:
            found = scan_sectors(s.root)
            if s.max_storage:
                s.used = disk_usage(s.root)
        except OSError as exc:
            log.error("lotus_index_scan_failed", storage=s.name, error=str(exc))
            return
        if s.id not in state.attached:
            stat, _err = self._stat(s)
            self.api.storage_attach(storage_info(s, self.url), stat)
            with self._lock:
                state.attached.add(s.id)
                state.declared.setdefault(s.id, set())
            log.info("lotus_index_attached", storage=s.name, id=s.id, url=self.url)
        declared = state.declared[s.id]
        new, gone = sorted(found - declared), sorted(declared - found)
        for miner, number, ft in new:
            if self.stopping.is_set():
                return
            self.api.storage_declare_sector(s.id, miner, number, ft, s.primary)
            declared.add((miner, number, ft))
        for miner, number, ft in gone:
            if self.stopping.is_set():
                return
            self.api.storage_drop_sector(s.id, miner, number, ft)
            declared.discard((miner, number, ft))
        if new or gone:
            log.info(
                "lotus_index_declared", storage=s.name, id=s.id, sectors=len(declared) // 2,
                declared=len(new), dropped=len(gone), took_s=round(time.monotonic() - started, 3),
            )  # fmt: skip

    def _stat(self, s: IndexedStorage) -> tuple[dict[str, int], str]:
        """FsStat of a storage and an error ("" when none); a statfs that
        hangs (a dead mount) is an error, and not asked again until it
        returns."""
        with self._stat_lock:
            pending = self._stat_pending.get(s.id)
            if pending is not None and not pending.done():
                return dict(ZERO_STAT), f"statfs {s.root}: still hung"
            future = self._stat_pool.submit(fs_stat, s.root, s.max_storage, s.used)
            self._stat_pending[s.id] = future
        try:
            return future.result(STAT_TIMEOUT_S), ""
        except FutureTimeout:
            return dict(ZERO_STAT), f"statfs {s.root}: no answer in {STAT_TIMEOUT_S:g} s"
        except OSError as exc:
            return dict(ZERO_STAT), f"statfs {s.root}: {exc}"

    def _health_loop(self) -> None:
        while not self.stopping.wait(self.health_interval_s):
            with self._lock:
                session, attached = self._state.session, set(self._state.attached)
            if session is None:
                continue  # not attached yet: the sync loop is at it
            try:
                if self.api.session() != session:
                    self._wake.set()  # a restarted miner: attach again
                    continue
                for s in self.storages:
                    if s.id not in attached:
                        continue
                    stat, err = self._stat(s)
                    self.api.storage_report_health(s.id, stat, err)
                    self.health_reports += 1
                    if err:
                        log.warning("lotus_index_storage_unhealthy", storage=s.name, error=err)
            except MinerApiError as exc:
                if "unknown storage" in exc.message:
                    self._reattach = True
                    self._wake.set()
                    continue
                self._failed(exc)
