"""A TCP proxy on loopback that delays every byte by a fixed one-way
latency, to put a network between a worker and a storage host on one
machine (bench/storage_paths.py).

Each chunk read from one side is stamped and sent on to the other side when
its time comes, by a sender thread per direction, so the proxy adds latency
without throttling throughput: a 2 MB answer in 64 KiB chunks arrives one
latency late, not 32 latencies late, as a real link with that round trip
and ample bandwidth would deliver it.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time


class DelayProxy:
    """Listens on ``127.0.0.1:<port>`` and forwards to ``target``, each
    direction delayed by ``one_way_s`` (a round trip of twice that)."""

    def __init__(self, target: tuple[str, int], one_way_s: float) -> None:
        self.target = target
        self.one_way_s = one_way_s
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._closed = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, name="delay-accept", daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed.set()
        self.sock.close()
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.close()

    def __enter__(self) -> DelayProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conns += [client, server]
            self._pipe(client, server)
            self._pipe(server, client)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        due: collections.deque[tuple[float, bytes]] = collections.deque()
        ready = threading.Condition()

        def receive() -> None:
            while True:
                try:
                    chunk = src.recv(65536)
                except OSError:
                    chunk = b""
                with ready:
                    due.append((time.monotonic() + self.one_way_s, chunk))
                    ready.notify()
                if not chunk:
                    return

        def send() -> None:
            while True:
                with ready:
                    while not due:
                        ready.wait()
                    at, chunk = due.popleft()
                wait = at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not chunk:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                try:
                    dst.sendall(chunk)
                except OSError:
                    return

        threading.Thread(target=receive, name="delay-recv", daemon=True).start()
        threading.Thread(target=send, name="delay-send", daemon=True).start()
