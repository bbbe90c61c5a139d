"""Where a running daemon listens, in a file: its endpoint file.

A daemon told to bind port 0 (the demo, the tests, a fleet that lets the
kernel choose) can only be found once it has bound. Reading its start line
in its log would tie whoever started it to a log line's wording (another
process's English text); each daemon writes instead, once its listeners
are bound, a small JSON file, and removes it when it stops cleanly:

    {"daemon": "prover-manager", "pid": 4242, "version": "0.1.0 (...)",
     "name": "box1:9700", "grpc": "127.0.0.1:9700", "http": "127.0.0.1:9701",
     "lotus": ""}

``grpc`` and ``http`` are HOST:PORT as bound, "" where the daemon has none:
the manager's gRPC API and its /metrics and dashboard; a storage host's
StorageService, its /metrics and (``lotus``) Lotus' /remote route; a
worker's /metrics. The log lines stay: people read them.

The file is written under a temporary name in its folder and renamed over
the old one, so a reader finds a whole file or none. One left behind by a
process killed with -9 names a pid that is gone: a reader that started the
daemon asks for that daemon's pid (``read_endpoint(path, pid=...)``), and
``remove_endpoint`` removes only the file this process wrote, so a daemon
stopping never takes away a newer one's file at the same path.

The devnet's endpoint (``prover.devnet.home``) is older and says something
else (the API-info string a manager's ``[chain] api`` takes); it is written
the same way (``write_text_atomically``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Endpoint:
    """What one running daemon says of itself."""

    daemon: str  # prover-manager, prover-storage, prover-worker
    pid: int
    version: str
    name: str = ""  # the manager's lease name, the host's or the worker's name
    grpc: str = ""  # HOST:PORT of its gRPC server; "" when it has none
    http: str = ""  # HOST:PORT of its /metrics (the manager's dashboard too); ""
    lotus: str = ""  # a storage host's Lotus /remote listener; "" when off

    @property
    def grpc_port(self) -> int:
        return _port(self.grpc)

    @property
    def http_port(self) -> int:
        return _port(self.http)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Endpoint:
        data = json.loads(text)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _port(address: str) -> int:
    return int(address.rpartition(":")[2]) if address else 0


def this_process(daemon: str, **listeners: str) -> Endpoint:
    """This process's endpoint: its pid and build, and ``listeners``
    (``name``, ``grpc``, ``http``, ``lotus``)."""
    from prover.buildinfo import build_info

    return Endpoint(daemon, os.getpid(), build_info().describe(), **listeners)


def write_text_atomically(path: Path, text: str) -> None:
    """``text`` at ``path``, whole or not at all: written to a temporary
    file in the same folder (one file system, so the rename is atomic),
    then renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_endpoint(path: Path, endpoint: Endpoint) -> None:
    write_text_atomically(path, endpoint.to_json())


def read_endpoint(path: Path, *, pid: int | None = None) -> Endpoint | None:
    """The endpoint at ``path``; None when there is none, it cannot be
    read, or ``pid`` is given and the file names another process (one left
    behind by an earlier run)."""
    try:
        endpoint = Endpoint.from_json(path.read_text())
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if pid is not None and endpoint.pid != pid:
        return None
    return endpoint


def remove_endpoint(path: Path, *, pid: int | None = None) -> None:
    """Removes the file at ``path`` if this process (or ``pid``) wrote it:
    another daemon given the same path since keeps its own."""
    if read_endpoint(path, pid=os.getpid() if pid is None else pid) is not None:
        path.unlink(missing_ok=True)


def wait_for_endpoint(
    path: Path,
    pid: int,
    *,
    timeout_s: float = 60.0,
    gone: Callable[[], bool] = lambda: False,
) -> Endpoint | None:
    """The endpoint of process ``pid`` once it has written it; None when
    ``gone()`` says the process ended first, or after ``timeout_s``."""
    until = time.monotonic() + timeout_s
    while True:
        endpoint = read_endpoint(path, pid=pid)
        if endpoint is not None:
            return endpoint
        if gone() or time.monotonic() >= until:
            return None
        time.sleep(0.05)
