"""The devnet on loopback: JSON-RPC over HTTP POST and ``ChainNotify`` over
a websocket on the same port, as a Lotus node serves them (token optional).
The websocket protocol is the ``websockets`` library's sans-I/O
``ServerProtocol``; this module only moves bytes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from websockets.frames import Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from prover.devnet.actor import Devnet
from prover.devnet.rpc import RpcCalls, handle


def serve_chain_notify(
    net: Devnet,
    sock,
    path: str,
    headers,
    stopping: threading.Event,
    calls: RpcCalls | None = None,
) -> None:
    """``ChainNotify`` over a websocket on an upgraded HTTP connection, as a
    Lotus node serves it: a ``current`` head change, then one ``apply`` per
    new epoch. The websocket protocol itself is the ``websockets`` library's
    sans-I/O ``ServerProtocol``; this only moves bytes and writes JSON."""
    proto = ServerProtocol(max_size=1 << 20)
    # The HTTP server has parsed the request already; the protocol's parser
    # must still see it to move on to frames.
    head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    proto.receive_data((head + "\r\n").encode("latin-1"))
    (request,) = proto.events_received()
    proto.send_response(proto.accept(request))

    def flush() -> None:
        for chunk in proto.data_to_send():
            if chunk:
                sock.sendall(chunk)

    flush()
    if proto.handshake_exc is not None:
        return
    channel, last = None, None

    def notify(kind: str, epoch: int) -> None:
        change = [{"Type": kind, "Val": net.tipset(epoch)}]
        msg = {"jsonrpc": "2.0", "method": "xrpc.ch.val", "params": [channel, change]}
        proto.send_text(json.dumps(msg).encode())

    while not stopping.is_set() and proto.state is not State.CLOSED:
        # Wake for the next epoch's head on time (Lotus pushes a head as it
        # arrives), and at least twice a second for the stop flag.
        epoch_s = net.policy.epoch_seconds
        due = net.genesis + (net.epoch() + 1) * epoch_s - net.clock()
        sock.settimeout(min(0.5, max(0.001, due)))
        try:
            data = sock.recv(65536)
            proto.receive_data(data) if data else proto.receive_eof()
        except TimeoutError:
            pass
        except OSError:
            return
        for frame in proto.events_received():
            if frame.opcode is Opcode.TEXT:
                call = json.loads(frame.data)
                if calls is not None:
                    calls.count(call.get("method"))
                if call.get("method") == "Filecoin.ChainNotify":
                    channel = 1
                    proto.send_text(
                        json.dumps({"jsonrpc": "2.0", "id": call.get("id"), "result": 1}).encode()
                    )
                    last = net.epoch()
                    notify("current", last)
                else:
                    error = {"code": 1, "message": "only ChainNotify over this websocket"}
                    proto.send_text(
                        json.dumps(
                            {"jsonrpc": "2.0", "id": call.get("id"), "error": error}
                        ).encode()
                    )
        if channel is not None:
            net.settle()
            now = net.epoch()
            while last < now:
                last += 1
                notify("apply", last)
        flush()
        if proto.close_expected():
            return


class DevnetServer:
    """The devnet over HTTP JSON-RPC on loopback (token optional).

    ``rpc_calls`` counts the calls it answers, per method (those refused
    before a method is read, for a token or a path, are not calls);
    ``DevnetStatus`` shows them, with whatever ``status_extras`` adds."""

    def __init__(
        self, devnet: Devnet, host: str = "127.0.0.1", port: int = 0, token: str | None = None
    ) -> None:
        self.devnet = devnet
        net = devnet
        expected = f"Bearer {token}" if token else None
        calls = self.rpc_calls = RpcCalls()
        extras = self.status_extras = {"rpc_calls": calls.snapshot}

        stopping = self._stopping = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.headers.get("Upgrade", "").lower() != "websocket":
                    self.send_error(405, "JSON-RPC is POST; GET only for websocket upgrades")
                    return
                if expected and self.headers.get("Authorization") != expected:
                    self.send_error(401)
                    return
                serve_chain_notify(net, self.connection, self.path, self.headers, stopping, calls)
                self.close_connection = True

            def do_POST(self):
                if expected and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                if self.path.rstrip("/") != "/rpc/v1":  # v0 takes other params
                    self.send_error(404, "the devnet serves Lotus' v1 API at /rpc/v1")
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                calls.count(body.get("method"))
                try:
                    answer = {
                        "jsonrpc": "2.0",
                        "id": body.get("id"),
                        "result": handle(net, body["method"], body.get("params") or [], extras),
                    }
                except (KeyError, ValueError, IndexError, TypeError) as exc:
                    answer = {
                        "jsonrpc": "2.0",
                        "id": body.get("id"),
                        "error": {"code": 1, "message": str(exc).strip("'\"")},
                    }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}/rpc/v1"
        # shutdown() waits for the loop's next poll: 0.5 s by default, paid
        # by every test and every demo that stops a devnet
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> DevnetServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.devnet.save()  # the chain state as it stopped (if it persists)
