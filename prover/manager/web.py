"""The manager's HTTP listener (``[http] listen``): its routes.

``/metrics`` for Prometheus, open as it always was; the read-only
dashboard (``prover.dashboard``: ``/``, ``/deadline``, ``/login``,
``/logout``) beside it on the same listener, behind the admin token unless
the listener is on loopback.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from prover.alerts import Alert
from prover.dashboard.pages import Dashboard
from prover.dashboard.views import ChainFacts
from prover.metrics.http import HttpServer, Route, metrics_route, parse_listen
from prover.store import JobStore
from prover.tracker import Tracker


def chain_facts(
    current: Callable[[], Tracker | None],
    standby: Callable[[], ChainFacts] | None = None,
) -> Callable[[], ChainFacts | None]:
    """The tracker's head and miners' deadlines as the dashboard reads them
    (from the HTTP threads: a copy of what the tracker's thread last set);
    while this manager runs no tracker, ``standby``'s view of the leader's
    chain (``prover.manager.standby``), or None where no chain is followed."""

    def facts() -> ChainFacts | None:
        tracker = current()
        if tracker is None:
            return standby() if standby is not None else None
        heads = dict(tracker.heads)
        return ChainFacts(
            epoch=tracker.epoch,
            miners=list(tracker.config.miners),
            heads={m: h.info for m, h in heads.items()},
            confidence=tracker.config.confidence,
            shadow=tracker.config.shadow,
        )

    return facts


def start_http(
    listen: str,
    registry: CollectorRegistry,
    *,
    store: JobStore | None = None,
    tracker: Callable[[], Tracker | None] | None = None,
    standby: Callable[[], ChainFacts] | None = None,
    secret: bytes | None = None,
    alerts: Callable[[], list[Alert]] = list,
    storage_hosts: Callable[[], list] = list,
    managers: Callable[[], dict | None] = lambda: None,
) -> HttpServer | None:
    """Serves the manager's routes on ``listen``; None when it is empty
    (turned off). The dashboard comes with a store and the token secret;
    ``tracker`` gives the tracker of the moment (None: no chain is followed,
    or a standby follows none now), ``standby`` the leader's chain as a
    standby shows it while it runs no tracker. Raises OSError when the
    address cannot be bound."""
    if not listen:
        return None
    routes: dict[str, Route] = {"/metrics": metrics_route(registry)}
    if store is not None and secret is not None:
        dashboard = Dashboard(
            store.db,
            secret=secret,
            listen_host=parse_listen(listen)[0],
            chain=chain_facts(tracker or (lambda: None), standby),
            alerts=alerts,
            storage_hosts=storage_hosts,
            managers=managers,
        )
        routes |= dashboard.routes()
    try:
        return HttpServer(listen, routes).start()
    except OSError as exc:
        # the bare "[Errno 98] Address already in use" does not say which
        # listener: name it, and what to do about it
        raise OSError(
            exc.errno,
            f"[http] listen {listen}: {exc.strerror or exc}; another process has it "
            "(a second manager?): set another address, or an empty one to turn it off",
        ) from exc
