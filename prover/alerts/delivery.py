"""Delivering alerts without ever holding up the caller.

Two kinds of receiver, as operators run them:

- A generic JSON webhook (Slack's incoming webhooks among them): one POST
  per fired or resolved alert, ``{"text": ..., "alert": {...}}``, where
  ``text`` is the line Slack shows.
- Prometheus Alertmanager's API, ``POST <url>/api/v2/alerts`` with a list of
  ``{labels, annotations, startsAt, endsAt}``. Alertmanager resolves an
  alert it has not heard of for its ``resolve_timeout`` (5 minutes by
  default), so active alerts are sent again every ``resend_s``, and a
  resolved one is sent with its ``endsAt``.

``Deliverer.submit`` only records the latest state of each alert for each
receiver and wakes a thread of its own; that thread posts and, on failure
(a refused connection, a timeout, an error status), keeps the alert and
tries again with backoff. What waits is one entry per alert and receiver
(the latest state replaces an older one), so a receiver that is down for
hours holds memory bounded by the number of distinct alerts, and nothing
fired is dropped while the process runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from prover.alerts.book import Alert
from prover.backoff import Backoff
from prover.logs import get_logger

log = get_logger("prover.alerts")

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0


def _iso(t) -> str:
    return t.isoformat().replace("+00:00", "Z")


def text_of(alert: Alert) -> str:
    """The one line a chat channel shows."""
    state = "RESOLVED" if alert.resolved else alert.severity.upper()
    where = " ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    return f"[{state}] {alert.name} {where}: {alert.summary}".rstrip(": ")


def webhook_body(alert: Alert) -> dict:
    return {
        "text": text_of(alert),
        "alert": {
            "name": alert.name,
            "status": "resolved" if alert.resolved else "firing",
            "severity": alert.severity,
            "labels": dict(alert.labels),
            "summary": alert.summary,
            "details": dict(alert.details),
            "starts_at": _iso(alert.starts_at) if alert.starts_at else None,
            "ends_at": _iso(alert.ends_at) if alert.ends_at else None,
        },
    }


def alertmanager_alert(alert: Alert, generator_url: str = "") -> dict:
    """An alert in Alertmanager's v2 API shape (``postableAlert``)."""
    out: dict = {
        "labels": {"alertname": alert.name, "severity": alert.severity, **alert.labels},
        "annotations": {"summary": alert.summary, **alert.details},
    }
    if alert.starts_at:
        out["startsAt"] = _iso(alert.starts_at)
    if alert.ends_at:
        out["endsAt"] = _iso(alert.ends_at)
    if generator_url:
        out["generatorURL"] = generator_url
    return out


@dataclass
class Receiver:
    """Where alerts go: ``kind`` is "webhook" or "alertmanager"."""

    kind: str
    url: str

    def post(self, client: httpx.Client, alerts: list[Alert]) -> None:
        """Delivers ``alerts``; raises ``httpx.HTTPError`` when not taken."""
        if self.kind == "alertmanager":
            url = self.url.rstrip("/") + "/api/v2/alerts"
            client.post(url, json=[alertmanager_alert(a) for a in alerts]).raise_for_status()
            return
        for a in alerts:
            client.post(self.url, json=webhook_body(a)).raise_for_status()


class Deliverer:
    """A thread that posts alerts to receivers, retrying until each is
    taken (see the module docstring)."""

    def __init__(
        self,
        receivers: Iterable[Receiver],
        *,
        timeout_s: float = 5.0,
        resend_s: float = 60.0,
        active: Callable[[], list[Alert]] = list,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.receivers = list(receivers)
        self.resend_s = resend_s
        self.active = active  # what is active now, for Alertmanager's resends
        self.clock = clock
        self._client = httpx.Client(timeout=timeout_s)
        self._cond = threading.Condition()
        # receiver index -> alert key -> latest state not yet delivered
        self._waiting: list[dict[tuple, Alert]] = [{} for _ in self.receivers]
        self._retry_at = [0.0 for _ in self.receivers]
        self._backoff = [Backoff(RETRY_FIRST_S, RETRY_MAX_S) for _ in self.receivers]
        self._resent_at = [clock() for _ in self.receivers]
        self._stopped = False
        # a thread per receiver: one that hangs (a webhook whose server
        # never answers) delays no other
        self._threads = [
            threading.Thread(target=self._run, args=(i,), name=f"alert-delivery-{i}", daemon=True)
            for i in range(len(self.receivers))
        ]
        self.delivered = 0  # posts taken, for tests and metrics
        self.failures = 0

    def start(self) -> Deliverer:
        for t in self._threads:
            t.start()
        return self

    def submit(self, changes: Iterable[Alert]) -> None:
        """Queues fired and resolved alerts for every receiver; returns at once."""
        changes = list(changes)
        if not changes or not self.receivers:
            return
        with self._cond:
            for waiting in self._waiting:
                for a in changes:
                    waiting[a.key] = a
            self._cond.notify_all()

    def waiting(self) -> int:
        """Alert states not yet taken by some receiver."""
        with self._cond:
            return sum(len(w) for w in self._waiting)

    def stop(self, grace_s: float = 2.0) -> None:
        """Stops the thread after a last try of what waits, within ``grace_s``."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        until = self.clock() + grace_s
        for t in self._threads:
            if t.is_alive():
                t.join(max(0.0, until - self.clock()))
        self._client.close()

    def _run(self, i: int) -> None:
        am = self.receivers[i].kind == "alertmanager"
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = self.clock()
                due = (self._waiting[i] and now >= self._retry_at[i]) or (
                    am and now - self._resent_at[i] >= self.resend_s
                )
                if not due:
                    self._cond.wait(self._next_wake(i, now))
                    continue
                batch = list(self._waiting[i].values())
            self._deliver(i, batch)

    def _next_wake(self, i: int, now: float) -> float:
        times = [self._retry_at[i]] if self._waiting[i] else []
        if self.receivers[i].kind == "alertmanager":
            times.append(self._resent_at[i] + self.resend_s)
        return max(0.05, min(times, default=now + 3600) - now)

    def _deliver(self, i: int, alerts: list[Alert]) -> None:
        receiver = self.receivers[i]
        if receiver.kind == "alertmanager":
            # what is active is sent again with every post: Alertmanager
            # forgets an alert it has not heard of for its resolve_timeout
            keys = {a.key for a in alerts}
            alerts = alerts + [a for a in self.active() if a.key not in keys]
        try:
            if alerts:
                receiver.post(self._client, alerts)
        except httpx.HTTPError as exc:
            with self._cond:
                self.failures += 1
                self._retry_at[i] = self.clock() + self._backoff[i].next()
            log.warning(
                "alert_delivery_failed",
                receiver=receiver.kind,
                url=receiver.url,
                alerts=len(alerts),
                error=str(exc) or type(exc).__name__,
            )
            return
        with self._cond:
            self.delivered += 1
            for a in alerts:
                if self._waiting[i].get(a.key) == a:  # not replaced meanwhile
                    del self._waiting[i][a.key]
            self._backoff[i].reset()
            self._retry_at[i] = 0.0
            self._resent_at[i] = self.clock()
