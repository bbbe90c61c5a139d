"""A fake lotus-miner API for storage hosts that join its sector index: a
real JSON-RPC 2.0 server over HTTP on loopback (``POST /rpc/v0``), which
checks every call's JSON against ``documentation/en/api-methods-miner.md``
(field names, types, the Bearer token and each method's permission) and
keeps an index the way Lotus' ``paths.MemIndex`` does. It then reads a
vanilla proof the way ``Remote.GenerateSingleVanillaProof`` does: the
storages ``StorageFindSector`` lists for sealed|cache (update|update-cache
for a snap sector), ``POST <BaseURL>/vanilla/single`` with
``SingleVanillaParams`` at each URL until one answers 200, a 404 meaning
"ask the next".

Tokens as a miner has them: ``ADMIN`` (what ``lotus-miner auth api-info
--perm admin`` gives: read, write, sign, admin), ``READ``, and
``STORAGE_AUTH``, the ``{"Allow": ["admin"]}`` token a miner makes at start
and sends to storage URLs. A token it does not know is answered HTTP 401
with an empty body, as go-jsonrpc's auth handler does; a method above the
token's permission is a JSON-RPC error "missing permission to invoke ...".
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

ADMIN = "eyJhbGciOiJIUzI1NiJ9.admin-token-given-to-the-storage-host.sig"
READ = "eyJhbGciOiJIUzI1NiJ9.read-token.sig"
STORAGE_AUTH = "eyJhbGciOiJIUzI1NiJ9.miner-storage-auth.sig"
TOKENS = {
    ADMIN: ["read", "write", "sign", "admin"],
    READ: ["read"],
    STORAGE_AUTH: ["admin"],
}
RANK = {"read": 0, "write": 1, "sign": 2, "admin": 3}

# method -> (permission, parameter count): api-methods-miner.md
METHODS = {
    "Session": ("read", 0),
    "AuthVerify": ("read", 1),
    "StorageAttach": ("admin", 2),
    "StorageDeclareSector": ("admin", 4),
    "StorageDropSector": ("admin", 3),
    "StorageReportHealth": ("admin", 2),
    "StorageDetach": ("admin", 2),
}
STORAGE_INFO_KEYS = {
    "ID": "uuid",
    "URLs": "urls",
    "Weight": "uint",
    "MaxStorage": "uint",
    "CanSeal": "bool",
    "CanStore": "bool",
    "Groups": "strings",
    "AllowTo": "strings",
    "AllowTypes": "strings",
    "DenyTypes": "strings",
    "AllowMiners": "strings",
    "DenyMiners": "strings",
}
FS_STAT_KEYS = {
    k: "int" for k in ("Capacity", "Available", "FSAvailable", "Reserved", "Max", "Used")
}
SECTOR_ID_KEYS = {"Miner": "uint", "Number": "uint"}
HEALTH_KEYS = {"Stat": FS_STAT_KEYS, "Err": "str"}
FILE_TYPES = {1, 2, 4, 8, 16, 32}  # one storiface.SectorFileType a declaration


class Problem(Exception):
    pass


def check(value: Any, shape: Any, where: str) -> None:
    """``value`` has exactly ``shape``: a dict of key -> shape, or a type name."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise Problem(f"{where}: expected an object, got {value!r}")
        if set(value) != set(shape):
            raise Problem(f"{where}: keys {sorted(value)}, expected {sorted(shape)}")
        for k, s in shape.items():
            check(value[k], s, f"{where}.{k}")
        return
    ok = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "uint": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "uuid": lambda v: isinstance(v, str) and str(uuid.UUID(v)) == v,
        "strings": lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
        "urls": lambda v: (
            isinstance(v, list)
            and v
            and all(isinstance(u, str) and urlsplit(u).scheme in ("http", "https") for u in v)
        ),
    }[shape]
    try:
        good = ok(value)
    except ValueError:
        good = False
    if not good:
        raise Problem(f"{where}: {value!r} is not {shape}")


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class FakeMiner:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session = str(uuid.uuid4())
        self.stores: dict[str, dict] = {}  # id -> info, stat, heartbeats, err
        self.sectors: dict[tuple[int, int, int], dict[str, bool]] = {}  # decl -> {id: primary}
        self.calls: list[tuple[str, list]] = []
        self.problems: list[str] = []
        self.refusals: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    # -- the server

    def start(self) -> FakeMiner:
        miner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = miner.handle(self.path, self.headers, body)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def api_info(self, token: str) -> str:
        """``MINER_API_INFO`` as lotus-miner prints it."""
        return f"{token}:/ip4/127.0.0.1/tcp/{self.port}/http"

    def restart(self) -> None:
        """A restarted miner: a new session, an empty in-memory index."""
        with self.lock:
            self.session = str(uuid.uuid4())
            self.stores.clear()
            self.sectors.clear()

    def handle(self, path: str, headers, body: bytes) -> tuple[int, dict | None]:
        if path != "/rpc/v0":
            self.problems.append(f"request to {path}, not /rpc/v0")
            return 404, None
        auth = headers.get("Authorization")
        perms = ["read"]
        if auth is not None:
            if not auth.startswith("Bearer ") or auth[7:] not in TOKENS:
                self.refusals.append(auth)
                return 401, None  # go-jsonrpc: "JWT Verification failed", no body
            perms = TOKENS[auth[7:]]
        try:
            req = json.loads(body)
            if set(req) != {"jsonrpc", "method", "params", "id"} or req["jsonrpc"] != "2.0":
                raise Problem(f"not a JSON-RPC 2.0 request: {req!r}")
            if not isinstance(req["id"], int) or not isinstance(req["params"], list):
                raise Problem(f"id or params: {req!r}")
        except (ValueError, Problem) as exc:
            self.problems.append(str(exc))
            return 200, {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32700, "message": str(exc)},
            }
        name = req["method"].removeprefix("Filecoin.")
        try:
            if not req["method"].startswith("Filecoin.") or name not in METHODS:
                raise RpcError(-32601, f"method '{req['method']}' not found")
            need, count = METHODS[name]
            if max(RANK[p] for p in perms) < RANK[need]:
                raise RpcError(1, f"missing permission to invoke '{name}' (need '{need}')")
            if len(req["params"]) != count:
                self.problems.append(f"{name}: {len(req['params'])} params, expected {count}")
                raise RpcError(-32602, f"wrong param count (method '{req['method']}')")
            try:
                result = getattr(self, f"_{name}")(*req["params"])
            except Problem as exc:
                self.problems.append(f"{name}: {exc}")
                raise RpcError(-32602, str(exc)) from None
            with self.lock:
                self.calls.append((name, req["params"]))
            return 200, {"jsonrpc": "2.0", "id": req["id"], "result": result}
        except RpcError as exc:
            return 200, {
                "jsonrpc": "2.0",
                "id": req["id"],
                "error": {"code": exc.code, "message": str(exc)},
            }

    # -- the methods, as MemIndex does them

    def _Session(self) -> str:
        return self.session

    def _AuthVerify(self, token: str) -> list[str]:
        check(token, "str", "token")
        if token not in TOKENS:
            raise RpcError(1, "JWT Verification failed: signature mismatch")
        return TOKENS[token]

    def _StorageAttach(self, info: dict, stat: dict) -> None:
        check(info, STORAGE_INFO_KEYS, "StorageInfo")
        check(stat, FS_STAT_KEYS, "FsStat")
        with self.lock:
            have = self.stores.get(info["ID"])
            if have is None:
                self.stores[info["ID"]] = {
                    "info": info,
                    "stat": stat,
                    "heartbeats": [time.monotonic()],
                    "err": "",
                }
            else:  # URLs merged, the rest replaced
                have_urls = have["info"]["URLs"]
                urls = have_urls + [u for u in info["URLs"] if u not in have_urls]
                have["info"] = {**info, "URLs": urls}

    def _StorageDeclareSector(self, sid: str, sector: dict, ft: int, primary: bool) -> None:
        check(sid, "uuid", "ID")
        check(sector, SECTOR_ID_KEYS, "SectorID")
        check(primary, "bool", "primary")
        if ft not in FILE_TYPES:
            raise Problem(f"FileType {ft!r} is not one storiface.SectorFileType")
        with self.lock:
            self.sectors.setdefault((sector["Miner"], sector["Number"], ft), {})
            decl = self.sectors[(sector["Miner"], sector["Number"], ft)]
            decl[sid] = decl.get(sid, False) or primary

    def _StorageDropSector(self, sid: str, sector: dict, ft: int) -> None:
        check(sid, "uuid", "ID")
        check(sector, SECTOR_ID_KEYS, "SectorID")
        if ft not in FILE_TYPES:
            raise Problem(f"FileType {ft!r} is not one storiface.SectorFileType")
        with self.lock:
            key = (sector["Miner"], sector["Number"], ft)
            self.sectors.get(key, {}).pop(sid, None)
            if not self.sectors.get(key, True):
                del self.sectors[key]

    def _StorageReportHealth(self, sid: str, report: dict) -> None:
        check(sid, "uuid", "ID")
        check(report, HEALTH_KEYS, "HealthReport")
        with self.lock:
            store = self.stores.get(sid)
            if store is None:
                raise RpcError(1, f"health report for unknown storage: {sid}")
            store["stat"], store["err"] = report["Stat"], report["Err"]
            store["heartbeats"].append(time.monotonic())

    def _StorageDetach(self, sid: str, url: str) -> None:
        check(sid, "uuid", "ID")
        check(url, "str", "url")
        with self.lock:
            store = self.stores.get(sid)
            if store is None:
                raise RpcError(1, f"storage '{sid}' isn't registered")
            urls = store["info"]["URLs"]
            if len(urls) <= 1:
                if urls and urls[0] != url:
                    raise RpcError(1, "not dropping path, requested and index urls don't match")
                del self.stores[sid]
                for key in list(self.sectors):
                    self.sectors[key].pop(sid, None)
                    if not self.sectors[key]:
                        del self.sectors[key]
            else:
                store["info"]["URLs"] = [u for u in urls if u != url]

    # -- what Lotus does with the index

    def declared(self, sid: str) -> dict[tuple[int, int, int], bool]:
        """(miner, number, file type) -> primary, of one storage."""
        with self.lock:
            return {k: v[sid] for k, v in self.sectors.items() if sid in v}

    def find_sector(self, miner: int, number: int, ft: int) -> list[dict]:
        """StorageFindSector(allowFetch=false): the storages holding any of
        ``ft``'s file types, their URLs as attached in BaseURLs."""
        with self.lock:
            ids = {
                sid
                for t in (1, 2, 4, 8, 16, 32)
                if t & ft
                for sid in self.sectors.get((miner, number, t), {})
            }
            return [
                {"ID": sid, "BaseURLs": list(self.stores[sid]["info"]["URLs"])}
                for sid in sorted(ids)
                if sid in self.stores
            ]

    def generate_single_vanilla_proof(
        self, miner: int, sector: dict, proof_type: int, token: str = STORAGE_AUTH
    ) -> bytes:
        """Remote.GenerateSingleVanillaProof: ``sector`` is a
        PostSectorChallenge (SealProof, SectorNumber, SealedCID, Challenge,
        Update)."""
        ft = 8 | 16 if sector["Update"] else 2 | 4
        params = json.dumps({"Miner": miner, "Sector": sector, "ProofType": proof_type})
        errors = ["sector not found"]
        for info in self.find_sector(miner, sector["SectorNumber"], ft):
            for base in info["BaseURLs"]:
                url = f"{base}/vanilla/single"
                try:
                    resp = httpx.post(
                        url,
                        content=params,
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=60,
                    )
                except httpx.HTTPError as exc:
                    errors.append(f"do request: {exc}")
                    continue
                if resp.status_code == 404:
                    continue
                if resp.status_code != 200:
                    errors.append(f"non-200 code from {url}: '{resp.text.strip()}'")
                    continue
                return resp.content
        raise LookupError("; ".join(errors))
