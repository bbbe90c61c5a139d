"""Alerts reach a webhook and an Alertmanager-shaped receiver over real HTTP
on loopback, retried while the receiver is down or failing, and never hold
up the caller."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prover.alerts import Alert, AlertBook, Deliverer, Receiver

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def missed(deadline: int) -> Alert:
    return Alert("PartitionMissed", {"deadline": str(deadline)}, summary="closed unproven")


class Receiving:
    """A webhook receiver on loopback that records what it is sent."""

    def __init__(self, port: int = 0, status: int = 200) -> None:
        got = self.got = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                got.append((self.path, body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate, timeout: float = 10.0) -> None:
    until = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > until:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_fired_and_resolved_alerts_reach_a_webhook_and_alertmanager():
    hook, am = Receiving(), Receiving()
    book = AlertBook()
    d = Deliverer(
        [Receiver("webhook", hook.url + "/hook"), Receiver("alertmanager", am.url)],
        active=book.active,
    ).start()
    try:
        d.submit(book.observe([missed(2)], T0))
        wait_for(lambda: hook.got and am.got)
        path, body = hook.got[0]
        assert path == "/hook" and body["alert"]["status"] == "firing"
        assert "PartitionMissed" in body["text"]
        path, alerts = am.got[0]
        assert path == "/api/v2/alerts" and alerts[0]["labels"]["alertname"] == "PartitionMissed"
        d.submit(book.observe([], T0 + timedelta(minutes=1)))
        wait_for(lambda: len(hook.got) == 2 and len(am.got) == 2)
        assert hook.got[1][1]["alert"]["status"] == "resolved"
        assert am.got[1][1][0]["endsAt"] == "2026-12-01T08:01:00Z"
        assert d.waiting() == 0
    finally:
        d.stop()
        hook.close()
        am.close()


def test_a_receiver_that_is_down_is_retried_and_nothing_waits_on_it():
    with socket.socket() as s:  # a port nobody listens on, for now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = Deliverer([Receiver("webhook", f"http://127.0.0.1:{port}/hook")]).start()
    try:
        started = time.monotonic()
        for n in range(50):
            d.submit(AlertBook().observe([missed(n)], T0))
        assert time.monotonic() - started < 0.5  # the caller never waits
        wait_for(lambda: d.failures >= 1)
        assert d.waiting() == 50  # kept, not dropped
        up = Receiving(port)
        try:
            wait_for(lambda: d.waiting() == 0, timeout=15)  # the retry's backoff is 1 s, then 2 s
            assert len(up.got) == 50
        finally:
            up.close()
    finally:
        d.stop()


def test_a_receiver_that_hangs_is_timed_out_and_an_error_status_is_retried():
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)  # accepts connections, never answers
    refuses = Receiving(status=500)
    d = Deliverer(
        [
            Receiver("webhook", f"http://127.0.0.1:{hang.getsockname()[1]}/"),
            Receiver("webhook", refuses.url),
        ],
        timeout_s=0.5,
    ).start()
    try:
        started = time.monotonic()
        d.submit(AlertBook().observe([missed(1)], T0))
        assert time.monotonic() - started < 0.1
        wait_for(lambda: d.failures >= 2 and len(refuses.got) >= 1)
        assert d.waiting() == 2  # neither took it
    finally:
        d.stop()
        hang.close()
        refuses.close()


def test_a_receiver_that_hangs_delays_no_other():
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)
    good = Receiving()
    d = Deliverer(
        [
            Receiver("webhook", f"http://127.0.0.1:{hang.getsockname()[1]}/"),
            Receiver("alertmanager", good.url),
        ],
        timeout_s=30,
    ).start()
    try:
        started = time.monotonic()
        d.submit(AlertBook().observe([missed(1)], T0))
        wait_for(lambda: good.got, 5)
        assert time.monotonic() - started < 5  # not after the hanging one's 30 s
        assert good.got[0][0] == "/api/v2/alerts"
    finally:
        d.stop(grace_s=0.1)
        hang.close()
        good.close()


def test_nothing_to_deliver_without_receivers():
    d = Deliverer([]).start()
    d.submit([missed(1)])
    assert d.waiting() == 0
    d.stop()
