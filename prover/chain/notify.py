"""Head changes pushed by the node: ``ChainNotify`` over a websocket.

Lotus answers ``Filecoin.ChainNotify`` with a channel id, then sends
``xrpc.ch.val`` notifications ``[channel, [{"Type", "Val"}...]]``: first
``current`` (the head now), then ``apply`` and ``revert`` as the chain
moves; ``xrpc.ch.close`` ends the channel. The websocket library is
``websockets`` (its synchronous client), so this module only speaks the
JSON-RPC on top.

``HeadFollower`` is what the tracker uses: notifications while the
websocket is up, ``ChainHead`` polling while it is not (a node behind an
HTTP-only proxy, a restart), reconnecting in the background.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from prover.chain.lotus import HeadChange, HeadPoller, LotusClient, TipSet, tipset_from_json
from prover.logs import get_logger

log = get_logger("prover.chain.notify")

CHANNEL_VALUE = "xrpc.ch.val"
CHANNEL_CLOSE = "xrpc.ch.close"


def websocket_url(url: str) -> str:
    """The node's JSON-RPC URL with the websocket scheme (same path)."""
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    if url.startswith("http://"):
        return "ws://" + url.removeprefix("http://")
    return url


class NotifyRefused(Exception):
    """The node answered ChainNotify with an error."""


class ChainNotifier:
    """A background thread holding a ChainNotify subscription; head changes
    queue up for ``drain()`` and each batch calls ``on_change``."""

    def __init__(
        self,
        client: LotusClient,
        on_change: Callable[[], None] = lambda: None,
        *,
        retry_s: float = 5.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = websocket_url(client.url)
        self.token = client.token
        self.on_change = on_change
        self.retry_s = retry_s
        self.open_timeout = open_timeout
        self.connected = threading.Event()
        self.last_heard = 0.0  # time.monotonic() of the last notification
        self._changes: queue.SimpleQueue[tuple[str, TipSet]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._ws: ClientConnection | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ChainNotifier:
        self._thread = threading.Thread(target=self._run, name="chain-notify", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            ws.close()
        if self._thread is not None:
            self._thread.join(5)

    def drain(self) -> list[tuple[str, TipSet]]:
        out = []
        while True:
            try:
                out.append(self._changes.get_nowait())
            except queue.Empty:
                return out

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._subscribe()
                failures = 0
            except (OSError, WebSocketException, NotifyRefused, ValueError, KeyError) as exc:
                failures += 1
                if failures == 1:  # once per outage, not every retry
                    log.warning("chain_notify_unavailable", url=self.url, error=str(exc))
            finally:
                self.connected.clear()
                self._ws = None
            self._stop.wait(self.retry_s)

    def _subscribe(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        with connect(
            self.url,
            additional_headers=headers,
            open_timeout=self.open_timeout,
            max_size=16 << 20,
        ) as ws:
            self._ws = ws
            if self._stop.is_set():
                return
            ws.send(
                json.dumps(
                    {"jsonrpc": "2.0", "id": 1, "method": "Filecoin.ChainNotify", "params": []}
                )
            )
            channel = None
            for raw in ws:
                self.last_heard = time.monotonic()
                msg = json.loads(raw)
                if msg.get("id") == 1 and "method" not in msg:
                    if msg.get("error"):
                        raise NotifyRefused(msg["error"].get("message", str(msg["error"])))
                    channel = msg["result"]
                    self.connected.set()
                    log.info("chain_notify_connected", url=self.url)
                elif msg.get("method") == CHANNEL_VALUE and msg["params"][0] == channel:
                    for change in msg["params"][1] or []:
                        self._changes.put((change["Type"], tipset_from_json(change["Val"])))
                    self.on_change()
                elif msg.get("method") == CHANNEL_CLOSE and msg["params"][0] == channel:
                    log.warning("chain_notify_closed", url=self.url)
                    return


class HeadFollower:
    """The head as the tracker sees it: pushed by ChainNotify when the node
    offers it, polled with ChainHead otherwise. Reverts come through as
    ``revert`` changes either way."""

    def __init__(
        self,
        client: LotusClient,
        *,
        notify: bool = True,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.poller = HeadPoller(client)
        self.notifier = ChainNotifier(client, on_change).start() if notify else None
        # A subscription silent for two epochs (a stalled node, a half-open
        # connection the pings have not caught yet) is backed by polling.
        self.quiet_after = 2 * client.epoch_seconds + 1

    @property
    def current(self) -> TipSet | None:
        return self.poller.current

    @property
    def pushed(self) -> bool:
        """Heads are pushed now, and the last push is recent."""
        n = self.notifier
        return (
            n is not None
            and n.connected.is_set()
            and time.monotonic() - n.last_heard < self.quiet_after
        )

    def poll(self) -> list[HeadChange]:
        if not self.pushed:
            changes = self._drained() if self.notifier is not None else []
            return changes + self.poller.poll()
        return self._drained()

    def _drained(self) -> list[HeadChange]:
        changes: list[HeadChange] = []
        for kind, tipset in self.notifier.drain():
            if kind == "revert":
                changes.append(HeadChange("revert", tipset))
                self.poller.current = None  # what follows is applied as it comes
            else:  # "current" (on (re)subscribing) or "apply"
                changes += self.poller.observe(tipset)
        return changes

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.stop()
