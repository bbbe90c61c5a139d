"""Fetching the official WindowPoSt parameter files: the logic behind
``prover params fetch`` (the command only parses options and draws).

**Which files.** A host needs the files of its role only: a GPU worker the
Groth16 parameters (``.params``) and verifying key (``.vk``) of each sector
size it proves, the manager only the verifying keys (it verifies every
proof), a storage host none. Their names are the ones the built library
reads (``paramcheck.proof_type_files``), never by pattern: Lotus' and
Curio's ``fetch-params`` take every ``.vk``, the PoRep and SnapDeals
parameters and the SRS as well, tens of gigabytes a WindowPoSt prover never
reads. Their content identifiers and digests come from the library's own
``parameters.json`` (``_native.PARAMETERS_JSON``, read by
``paramcheck.published``), or from another file of that shape
(``--parameters-json``), so a fetched file is held to exactly the digest the
proving code itself checks.

**Where from.** go-paramfetch's gateway, which ``lotus fetch-params`` uses:
``https://proofs.filecoin.io/ipfs/`` followed by the file's ``cid``, the
whole gateway replaced by ``IPFS_GATEWAY`` when it is set (mirrors, e.g. in
China). Curio fetches with a fork of go-paramfetch that keeps the URL shape
and ``IPFS_GATEWAY`` but defaults to a mirror of its own; ``--base-url``
can name any such gateway. go-paramfetch joins gateway and cid by plain
concatenation, so a gateway given without its trailing ``/`` breaks it;
here one is added.

**Nothing half-written under a parameter's name.** A file is written as
``NAME.part`` and renamed to ``NAME`` only once its digest is the published
one (after an fsync, so a crash cannot leave a renamed but empty file). The
library, ``prover params check`` and the workers' start-up check look only
at ``NAME``, and a worker refuses a size whose file is missing rather than
prove with a bad one, so a fetch that is cut, refused or interrupted leaves
at worst a ``.part`` that nothing mistakes for parameters, and that the next
run resumes. (go-paramfetch writes in place: after an interrupted
``lotus fetch-params`` the truncated file carries the parameter's name. A
present file with a wrong digest is therefore taken as such a partial file:
moved to ``NAME.part`` and resumed; if that resume does not end with the
right digest, the next try starts from scratch.)

**Resuming.** A ``.part`` is continued with an HTTP ``Range`` request, in
the same run after a cut connection and in the next run after an
interruption. Its bytes so far are hashed once as it is opened, the rest
as it arrives, so a 32GiB ``.params`` (tens of gigabytes) is never read a
second time. A server that ignores the range (200) is read from the start;
one that answers 416 has nothing past the end of the ``.part``, whose digest
then decides.

**A wrong digest** is fetched once more from scratch (a stale ``.part``, a
gateway's passing fault), then refused with the file named: the ``.part``
is removed, since resuming known-bad bytes could never succeed.

**Concurrency.** Several files are fetched at once (``jobs``), each by one
thread over one shared HTTP client. Hashing as the bytes arrive costs about
one core per 500 MB/s (``bench/params_fetch.py``), far above what a gateway
gives one connection, and BLAKE2b releases the GIL, so the threads hash in
parallel where the network allows more. The directory's ``fetch.lock`` is
held for the whole run with the same kind of lock go-paramfetch takes on
that very file (an fcntl write lock), so a ``lotus fetch-params`` or a
second ``prover params fetch`` on the same directory waits for this one
rather than write the same files at the same time.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from prover.backoff import Backoff
from prover.proofs.paramcheck import (
    DIGEST_HEX_CHARS,
    Published,
    proof_type_files,
    published,
)
from prover.proofs.types import PoStProofType

# go-paramfetch's gateway (its const gateway) and the variable that replaces it
DEFAULT_GATEWAY = "https://proofs.filecoin.io/ipfs/"
GATEWAY_ENV = "IPFS_GATEWAY"
# where a file is written until its digest is the published one
PART_SUFFIX = ".part"
# the lock go-paramfetch takes in the parameter directory
LOCK_FILE = "fetch.lock"

WORKER = "worker"
MANAGER = "manager"
ROLES = (WORKER, MANAGER)

# a file's outcome
FETCHED = "fetched"
PRESENT = "present"
FAILED = "failed"

CHUNK = 1 << 20
DEFAULT_JOBS = 4
DEFAULT_RETRIES = 3
# a transient failure waits BACKOFF_S, then twice that, ... (at most MAX_BACKOFF_S)
BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
# gateways can take a while to start a large file; a stalled body is cut after READ_TIMEOUT_S
CONNECT_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 120.0

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


class FetchError(Exception):
    """A fetch that cannot start: an unreadable list, a file the list lacks,
    a directory that cannot be used. The message names what is wrong."""


class _Transient(Exception):
    """A failure worth trying again, resuming: refused or cut connection,
    timeout, a 5xx or 429 answer."""


class _Failed(Exception):
    """A failure no retry mends (a 404, a full disk): the file is given up."""


class _Cancelled(Exception):
    """The run was interrupted; the ``.part`` is kept for the next run."""


@dataclass(frozen=True)
class WantedFile:
    """One file to have: its name, the proof type it serves, and what the
    list says of it."""

    proof_type: PoStProofType
    name: str
    cid: str
    digest: str

    @property
    def kind(self) -> str:
        return "vk" if self.name.endswith(".vk") else "params"


def gateway_url(base_url: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The gateway files are fetched from: ``base_url``, else
    ``IPFS_GATEWAY``, else go-paramfetch's default, always ending in ``/`` so
    that the cid can be appended as go-paramfetch appends it."""
    env = os.environ if environ is None else environ
    base = (base_url or env.get(GATEWAY_ENV) or DEFAULT_GATEWAY).strip()
    if not base.lower().startswith(("http://", "https://")):
        raise FetchError(f"gateway {base!r} is not an http:// or https:// URL")
    return base if base.endswith("/") else base + "/"


def file_url(gateway: str, cid: str) -> str:
    """go-paramfetch's URL shape: the gateway, then the cid."""
    return gateway + cid


def read_listing(path: str | Path | None = None) -> Mapping[str, Published]:
    """The files by name as ``parameters.json`` lists them: the built
    library's (``path`` None), else the file at ``path`` (same shape)."""
    if path is None:
        return published()
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise FetchError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise FetchError(f"{path}: expected an object of file name -> cid, digest, sector_size")
    out: dict[str, Published] = {}
    for name, entry in raw.items():
        try:
            out[name] = Published(
                str(entry["cid"]), str(entry["digest"]).lower(), int(entry["sector_size"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FetchError(
                f"{path}: entry {name!r} lacks a cid, digest or sector_size ({exc!r})"
            ) from exc
    return out


def wanted_files(
    proof_types: Iterable[PoStProofType | str | int],
    role: str,
    listing: Mapping[str, Published],
    source: str = "the library's parameters.json",
) -> list[WantedFile]:
    """The files a host of ``role`` needs for ``proof_types``, in that
    order, with their list entries. A file the list lacks, or lists for
    another sector size, is a ``FetchError`` naming it: fetching the wrong
    circuit's file would only be refused later by the worker."""
    if role not in ROLES:
        raise FetchError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    out: list[WantedFile] = []
    for pt in dict.fromkeys(PoStProofType.parse(p) for p in proof_types):
        params, vk = proof_type_files(pt, Path("."))
        for path in (params, vk) if role == WORKER else (vk,):
            entry = listing.get(path.name)
            if entry is None:
                raise FetchError(
                    f"{source} lists no {path.name} (the {pt} WindowPoSt {path.suffix})"
                )
            if entry.sector_size != pt.sector_size:
                raise FetchError(
                    f"{source} lists {path.name} for sector size {entry.sector_size}, "
                    f"not {pt.sector_size} ({pt})"
                )
            if not re.fullmatch(rf"[0-9a-f]{{{DIGEST_HEX_CHARS}}}", entry.digest):
                raise FetchError(f"{source}: digest {entry.digest!r} of {path.name} is not hex")
            out.append(WantedFile(pt, path.name, entry.cid, entry.digest))
    return out


def parse_content_range(value: str | None) -> tuple[int, int, int | None]:
    """``bytes START-END/TOTAL`` -> (start, end, total or None for ``*``)."""
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        raise ValueError(f"unreadable Content-Range {value!r}")
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


# ---- progress, events, results -----------------------------------------------------


@dataclass
class FileProgress:
    """Where one file stands, for a progress display; written by its
    fetching thread, read by the caller's (plain ints: no lock needed)."""

    name: str
    state: str = "waiting"  # waiting, checking, fetching, done
    received: int = 0  # bytes in the .part (or hashed, when checking), resumed ones included
    total: int | None = None  # the file's size, once known
    resumed_from: int = 0
    fetched: int = 0  # bytes received over the network in this run


@dataclass(frozen=True)
class Event:
    """Something to tell the operator, delivered on the caller's thread:
    ``kind`` is one of lock-wait, present, moved, start, retry, restart,
    mismatch, fetched, failed; ``message`` says it in a line."""

    kind: str
    name: str
    message: str


@dataclass(frozen=True)
class FileResult:
    file: WantedFile
    path: Path
    status: str  # fetched, present, failed
    url: str
    bytes: int = 0  # bytes received over the network in this run
    size: int | None = None
    seconds: float = 0.0
    resumed_from: int = 0
    tries: int = 0  # whole fetches (a second one after a wrong digest)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status != FAILED

    def as_dict(self) -> dict[str, Any]:
        return {
            "proof_type": self.file.proof_type.size_name,
            "kind": self.file.kind,
            "file": self.file.name,
            "path": str(self.path),
            "status": self.status,
            "ok": self.ok,
            "url": self.url,
            "cid": self.file.cid,
            "digest": self.file.digest,
            "size": self.size,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "resumed_from": self.resumed_from,
            "tries": self.tries,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class FetchReport:
    directory: Path
    gateway: str
    role: str
    files: tuple[FileResult, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if not f.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "gateway": self.gateway,
            "role": self.role,
            "ok": self.ok,
            "fetched": sum(f.status == FETCHED for f in self.files),
            "present": sum(f.status == PRESENT for f in self.files),
            "failed": len(self.failed),
            "bytes": sum(f.bytes for f in self.files),
            "seconds": round(self.seconds, 3),
            "files": [f.as_dict() for f in self.files],
        }


# ---- the lock ---------------------------------------------------------------------


class DirectoryLock:
    """``DIR/fetch.lock``, write-locked with fcntl as go-paramfetch locks it
    (go4.org/lock: F_SETLK on the whole, empty file), so that one fetch at a
    time writes a directory, whichever program it is. The file is left in
    place, empty (go4's lock refuses a non-empty one), and never removed:
    removing it while another process waits on it would let a third lock a
    new file beside them."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, on_wait: Callable[[], None] | None = None) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
                if on_wait is not None:
                    on_wait()
                fcntl.lockf(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the fcntl lock
            self._fd = None


# ---- one file -----------------------------------------------------------------------


class _PartFile:
    """``NAME.part`` and the BLAKE2b state of the bytes in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hasher = hashlib.blake2b()
        self.size = 0

    def load(self, progress: FileProgress, stop: threading.Event) -> int:
        """Hashes what an earlier try or run left; its size (0 when none)."""
        self.hasher = hashlib.blake2b()
        self.size = 0
        progress.received = 0
        try:
            with open(self.path, "rb") as f:
                while block := f.read(CHUNK):
                    if stop.is_set():
                        raise _Cancelled
                    self.hasher.update(block)
                    self.size += len(block)
                    progress.received = self.size
        except FileNotFoundError:
            pass
        return self.size

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)
        self.hasher = hashlib.blake2b()
        self.size = 0

    @property
    def digest(self) -> str:
        return self.hasher.hexdigest()[:DIGEST_HEX_CHARS]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _FileFetch:
    """The fetch of one file, run on a pool thread."""

    def __init__(self, run: _Run, wanted: WantedFile) -> None:
        self.run = run
        self.wanted = wanted
        self.dest = run.directory / wanted.name
        self.part = _PartFile(run.directory / (wanted.name + PART_SUFFIX))
        self.url = file_url(run.gateway, wanted.cid)
        self.progress = run.progress[wanted.name]
        self.received = 0  # network bytes this run
        self.resumed_from = 0

    def emit(self, kind: str, message: str) -> None:
        self.run.emit(Event(kind, self.wanted.name, message))

    def result(self, status: str, began: float, tries: int, detail: str = "") -> FileResult:
        size = self.dest.stat().st_size if status != FAILED and self.dest.is_file() else None
        return FileResult(
            self.wanted,
            self.dest,
            status,
            self.url,
            bytes=self.received,
            size=size,
            seconds=time.monotonic() - began,
            resumed_from=self.resumed_from,
            tries=tries,
            detail=detail,
        )

    def __call__(self) -> FileResult:
        began = time.monotonic()
        w = self.wanted
        tries = 0
        try:
            if self.dest.is_file():
                digest = self._present_digest()
                if digest == w.digest:
                    self.progress.state = "done"
                    stale = self.part.path.is_file()
                    if stale:  # left by an earlier run; tens of GB for a 32GiB .params
                        self.part.path.unlink()
                    self.emit(
                        "present",
                        f"{w.name}: already present, digest ok: skipped"
                        + (f" (removed a stale {self.part.path.name})" if stale else ""),
                    )
                    return self.result(PRESENT, began, 0, "already present, digest ok")
                self._adopt(digest)
            last = ""
            for tries in (1, 2):
                if tries == 2:
                    self.part.reset()
                    self.emit("restart", f"{w.name}: fetching it again from scratch")
                self._download()
                last = self.part.digest
                if last == w.digest:
                    self._install()
                    self.progress.state = "done"
                    return self.result(FETCHED, began, tries)
                self.emit(
                    "mismatch", f"{w.name}: wrong digest {last} (parameters.json has {w.digest})"
                )
            self.part.reset()
            detail = (
                f"wrong digest {last} again after a fetch from scratch from {self.url} "
                f"(parameters.json has {w.digest}): refused, nothing kept"
            )
        except _Failed as exc:
            detail = str(exc)
        except _Cancelled:
            detail = (
                f"interrupted: {self.part.size} bytes kept in {self.part.path.name} for the "
                "next run to resume"
                if self.part.size
                else "interrupted"
            )
        except OSError as exc:
            detail = f"{exc.filename or self.part.path}: {exc.strerror or exc}"
        self.progress.state = "done"
        self.emit("failed", f"{w.name}: {detail}")
        return self.result(FAILED, began, tries, detail)

    def _present_digest(self) -> str:
        """The digest of the file already under the name (as
        ``paramcheck.file_digest`` computes it), with progress: a 32GiB
        ``.params`` takes a while to read."""
        prog = self.progress
        prog.state, prog.received = "checking", 0
        prog.total = self.dest.stat().st_size
        hasher = hashlib.blake2b()
        with open(self.dest, "rb") as f:
            while block := f.read(CHUNK):
                if self.run.stop.is_set():
                    raise _Cancelled
                hasher.update(block)
                prog.received += len(block)
        return hasher.hexdigest()[:DIGEST_HEX_CHARS]

    def _adopt(self, digest: str) -> None:
        """A present file with a wrong digest: most likely cut short by an
        in-place fetch (go-paramfetch's), so resumed; it leaves the
        parameter's name at once, which nothing may read while it is wrong."""
        w = self.wanted
        size = self.dest.stat().st_size
        part_size = self.part.path.stat().st_size if self.part.path.exists() else -1
        if size > part_size:
            os.replace(self.dest, self.part.path)
            self.emit(
                "moved",
                f"{w.name}: present but wrong (digest {digest}, parameters.json has {w.digest}): "
                f"moved to {self.part.path.name}, to be resumed",
            )
        else:
            self.dest.unlink()
            self.emit(
                "moved",
                f"{w.name}: present but wrong (digest {digest}, parameters.json has {w.digest}): "
                f"removed; the longer {self.part.path.name} is resumed",
            )

    def _install(self) -> None:
        """The verified ``.part`` becomes the parameter file: data on disk
        first, then the rename, then the directory entry."""
        fd = os.open(self.part.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.part.path, self.dest)
        _fsync_dir(self.run.directory)
        self.emit(
            "fetched",
            f"{self.wanted.name}: fetched, digest ok ({self.part.size} bytes"
            + (f", resumed at {self.resumed_from}" if self.resumed_from else "")
            + ")",
        )

    def _download(self) -> None:
        """Makes the ``.part`` whole, as far as the server tells, resuming
        across transient failures; the digest is checked by the caller."""
        run, w, prog = self.run, self.wanted, self.progress
        prog.state = "checking"
        offset = self.part.load(prog, run.stop)
        if offset:
            self.resumed_from = self.resumed_from or offset
        prog.received, prog.resumed_from, prog.state = offset, offset, "fetching"
        how = f" (resuming at {offset} bytes)" if offset else ""
        self.emit("start", f"{w.name}: fetching from {self.url}{how}")
        failures = 0
        backoff = Backoff(min(run.backoff_s, MAX_BACKOFF_S), MAX_BACKOFF_S)
        while True:
            if run.stop.is_set():
                raise _Cancelled
            before = self.part.size
            try:
                self._request()
                break
            except _Transient as exc:
                if self.part.size > before:
                    # it moved on: only failures in a row count
                    failures = 0
                    backoff.reset()
                failures += 1
                if failures > run.retries:
                    tried = "once" if failures == 1 else f"{failures} times in a row"
                    raise _Failed(f"cannot fetch {self.url}: {exc} (tried {tried})") from None
                delay = backoff.next()
                self.emit(
                    "retry",
                    f"{w.name}: {exc}; trying again in {delay:g}s"
                    + (f", resuming at {self.part.size} bytes" if self.part.size else ""),
                )
                if run.stop.wait(delay):
                    raise _Cancelled from None

    def _request(self) -> None:
        """One GET, from the end of the ``.part``; raises ``_Transient`` or
        ``_Failed``, returns when the body is complete."""
        run, part, prog = self.run, self.part, self.progress
        offset = part.size
        headers = {"Accept-Encoding": "identity"}  # the bytes as stored: ranges count them
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            with run.client.stream("GET", self.url, headers=headers) as r:
                code = r.status_code
                if code == 416 and offset:
                    # nothing past the .part's end: it is whole (or too long); the digest decides
                    prog.total = offset
                    return
                if code >= 500 or code in (408, 429):
                    raise _Transient(f"HTTP {code} {r.reason_phrase}")
                if code not in (200, 206):
                    raise _Failed(f"{self.url}: HTTP {code} {r.reason_phrase}")
                total: int | None
                if code == 206:
                    try:
                        start, _, total = parse_content_range(r.headers.get("content-range"))
                    except ValueError as exc:
                        raise _Failed(f"{self.url}: {exc}") from None
                    if start != offset:
                        # not the range asked for: this body cannot be appended
                        part.reset()
                        self.emit(
                            "restart",
                            f"{self.wanted.name}: the server sent bytes from {start}, "
                            f"not {offset}: starting over",
                        )
                        raise _Transient(f"range from {start}, asked for {offset}")
                else:
                    if offset:
                        part.reset()
                        offset = 0
                        self.emit(
                            "restart",
                            f"{self.wanted.name}: the server ignored the Range request: "
                            "fetching it whole",
                        )
                    length = r.headers.get("content-length")
                    total = int(length) if length and length.isdigit() else None
                prog.total = total
                prog.received = offset
                if total is not None:
                    self._check_space(total - offset)
                with open(part.path, "ab") as f:
                    for chunk in r.iter_raw():  # as the transport reads it: a cut loses nothing
                        if run.stop.is_set():
                            raise _Cancelled
                        f.write(chunk)
                        part.hasher.update(chunk)
                        n = len(chunk)
                        part.size += n
                        self.received += n
                        prog.received += n
                        prog.fetched += n
                if total is not None and part.size < total:
                    raise _Transient(f"connection closed at {part.size} of {total} bytes")
        except httpx.TransportError as exc:  # refused, reset, cut, timed out
            raise _Transient(_describe(exc)) from None
        except httpx.HTTPError as exc:  # too many redirects, and the like
            raise _Failed(f"{self.url}: {_describe(exc)}") from None

    def _check_space(self, needed: int) -> None:
        free = shutil.disk_usage(self.run.directory).free
        if needed > free:
            raise _Failed(
                f"{self.run.directory} has {free} bytes free, {self.wanted.name} needs "
                f"{needed} more"
            )


# ---- the run ----------------------------------------------------------------------


@dataclass
class _Run:
    directory: Path
    gateway: str
    client: httpx.Client
    retries: int
    backoff_s: float
    progress: dict[str, FileProgress]
    events: queue.SimpleQueue[Event]
    stop: threading.Event

    def emit(self, event: Event) -> None:
        self.events.put(event)


def _writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot make {directory}: {exc.strerror or exc}") from exc
    if not os.access(directory, os.W_OK):
        raise FetchError(f"cannot write in {directory}")


def _locked(directory: Path, on_event: Callable[[Event], None] | None) -> DirectoryLock:
    """The directory's ``fetch.lock``, held (waiting, and saying so, while
    another fetch writes the directory)."""
    lock = DirectoryLock(directory)

    def waiting() -> None:
        if on_event is not None:
            on_event(
                Event(
                    "lock-wait",
                    "",
                    f"waiting for {lock.path}: another fetch (prover params fetch, or lotus "
                    "or curio fetch-params) is writing this directory",
                )
            )

    try:
        lock.acquire(on_wait=waiting)
    except OSError as exc:
        raise FetchError(f"cannot lock {lock.path}: {exc.strerror or exc}") from exc
    return lock


def _client(jobs: int) -> httpx.Client:
    return httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S, pool=None),
        limits=httpx.Limits(max_connections=max(jobs, 1), max_keepalive_connections=jobs),
        trust_env=True,
    )


def _fetch_all(
    run: _Run,
    files: list[WantedFile],
    jobs: int,
    deliver: Callable[[], None],
    on_tick: Callable[[Mapping[str, FileProgress]], None] | None,
    tick_s: float,
) -> dict[str, FileResult]:
    """Every file, ``jobs`` at a time; events and progress handed to the
    caller's thread between waits."""
    results: dict[str, FileResult] = {}
    with ThreadPoolExecutor(max_workers=max(jobs, 1), thread_name_prefix="fetch") as pool:
        pending: dict[Future[FileResult], WantedFile] = {
            pool.submit(_FileFetch(run, f)): f for f in files
        }
        try:
            while pending:
                done, _ = wait(pending, timeout=tick_s, return_when=FIRST_COMPLETED)
                for fut in done:
                    results[pending.pop(fut).name] = fut.result()
                deliver()
                if on_tick is not None:
                    on_tick(run.progress)
        except BaseException:
            run.stop.set()  # running fetches stop at their next chunk, keeping .part
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


def fetch_files(
    files: list[WantedFile],
    directory: str | Path,
    *,
    gateway: str,
    role: str = WORKER,
    jobs: int = DEFAULT_JOBS,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = BACKOFF_S,
    client: httpx.Client | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_tick: Callable[[Mapping[str, FileProgress]], None] | None = None,
    tick_s: float = 0.2,
) -> FetchReport:
    """Fetches ``files`` into ``directory`` (made if absent), ``jobs`` at a
    time, and reports each. ``on_event`` and ``on_tick`` (the progress of
    every file, each ``tick_s``) are called on the caller's thread only, so
    a display needs no locking. The directory's ``fetch.lock`` is held
    throughout. A KeyboardInterrupt stops every fetch, keeps the ``.part``
    files, and is raised again once the threads are done."""
    directory = Path(directory)
    _writable(directory)
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()

    def deliver() -> None:
        while True:
            try:
                event = events.get_nowait()
            except queue.Empty:
                return
            if on_event is not None:
                on_event(event)

    lock = _locked(directory, on_event)
    own_client = client is None
    http = client if client is not None else _client(jobs)
    progress = {f.name: FileProgress(f.name) for f in files}
    run = _Run(directory, gateway, http, retries, backoff_s, progress, events, threading.Event())
    began = time.monotonic()
    try:
        results = _fetch_all(run, files, jobs, deliver, on_tick, tick_s)
    finally:
        deliver()
        if own_client:
            http.close()
        lock.release()
    return FetchReport(
        directory,
        gateway,
        role,
        tuple(results[f.name] for f in files),
        time.monotonic() - began,
    )
