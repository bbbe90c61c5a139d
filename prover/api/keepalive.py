"""gRPC keepalive between managers and their clients: a hung peer (a
manager paused by SIGSTOP, a cut network) is noticed in seconds by the
pings, rather than when a call's deadline runs out, so a client given
several managers moves to the next within a heartbeat window."""

from __future__ import annotations

# The server side: take a client's pings every second, with or without
# calls in flight (gRPC's default refuses pings more often than every 5
# minutes and closes the connection of a client that sends them).
SERVER_KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
    ("grpc.http2.min_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
]
