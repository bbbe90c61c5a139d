"""The manager's HTTP listener (``[http] listen``): its routes.

Today ``/metrics``; the server-rendered dashboard and its login will be
routes beside it, on the same listener (see ``prover.metrics.http``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from prover.metrics.http import HttpServer, metrics_route


def start_http(listen: str, registry: CollectorRegistry) -> HttpServer | None:
    """Serves the manager's routes on ``listen``; None when it is empty
    (turned off). Raises OSError when the address cannot be bound."""
    if not listen:
        return None
    try:
        return HttpServer(listen, {"/metrics": metrics_route(registry)}).start()
    except OSError as exc:
        # the bare "[Errno 98] Address already in use" does not say which
        # listener: name it, and what to do about it
        raise OSError(
            exc.errno,
            f"[http] listen {listen}: {exc.strerror or exc}; another process has it "
            "(a second manager?): set another address, or an empty one to turn it off",
        ) from exc
