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

# The client side: ping every 2 s, with or without calls, and give up on a
# peer that has not answered a ping within 2 s. A manager that stops (SIGSTOP,
# a host frozen, a cable pulled) then fails its calls with UNAVAILABLE in
# about 4 s, well within a heartbeat timeout, and the client moves to the
# next manager instead of waiting out each call's deadline. Pinging while
# idle also finds a hung peer between two heartbeats, before the next call.
CLIENT_KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_time_ms", 2000),
    ("grpc.keepalive_timeout_ms", 2000),
    # gRPC >= 1.6x times every ping out by this (one minute by default),
    # keepalive's pings included: without it a hung peer is found in 60 s
    ("grpc.http2.ping_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1),
    # gRPC stops pinging after two pings without data by default
    ("grpc.http2.max_pings_without_data", 0),
]
