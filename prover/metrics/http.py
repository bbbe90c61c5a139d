"""A small HTTP server with routes, from the standard library.

The manager's ``[http] listen`` and each worker's ``metrics_listen`` serve
``/metrics`` from it; the manager's also carries the server-rendered
dashboard and its login (``prover.dashboard``), which are more routes here,
so this is a route table over ``ThreadingHTTPServer`` rather than
``prometheus_client``'s ``start_http_server`` (one fixed handler) or a web
framework (a dependency for a few pages).

A route sees the method, path, query, headers and (for POST) the body, and
answers with a status, a body and any extra headers (``Set-Cookie``,
``Location``); it decides itself which methods it takes (``method_not_allowed``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from prover.logs import get_logger

log = get_logger("prover.http")


# A form post is a token or two; anything much larger is not for us.
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    # (name, value) pairs, in order: a name may repeat (Set-Cookie)
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Request:
    path: str
    query: str
    headers: Mapping[str, str]
    method: str = "GET"
    body: bytes = b""


Route = Callable[[Request], Response]


def method_not_allowed(allowed: str) -> Response:
    """405 naming the methods the route takes (``allowed``: "GET, POST")."""
    return Response(405, b"method not allowed\n", headers=(("Allow", allowed),))


def metrics_route(registry: CollectorRegistry) -> Route:
    """``/metrics``: ``registry`` in the format the scraper asks for (the
    text format, or OpenMetrics by its Accept header)."""

    def serve(request: Request) -> Response:
        if request.method != "GET":
            return method_not_allowed("GET")
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(200, encoder(registry), content_type)

    return serve


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT as a (host, port) pair; raises ValueError otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


class HttpServer:
    """Serves ``routes`` (exact paths) on ``listen`` in threads of its own;
    ``start()`` binds (port 0: any free port, then read ``port``), ``stop()``
    closes."""

    def __init__(self, listen: str, routes: Mapping[str, Route]) -> None:
        self.host, port = parse_listen(listen)
        self.routes = dict(routes)
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not started")
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> HttpServer:
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY_BYTES:
                    self.close_connection = True  # the body is not read: do not reuse
                    self._send(Response(413, b"request body too large\n"))
                    return
                self._serve(self.rfile.read(length))

            def _serve(self, body: bytes) -> None:
                path, _, query = self.path.partition("?")
                route = routes.get(path)
                if route is None:
                    response = Response(404, b"not found\n")
                else:
                    request = Request(path, query, self.headers, self.command, body)
                    try:
                        response = route(request)
                    except Exception as exc:  # one bad scrape must not end the server
                        log.exception("http_route_failed", path=path)
                        response = Response(500, f"{type(exc).__name__}\n".encode())
                self._send(response)

            def _send(self, response: Response) -> None:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(response.body)

            def log_message(self, format: str, *args) -> None:
                pass  # scrapes every few seconds would flood the log

        server = ThreadingHTTPServer((self.host, self._requested_port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(5)
