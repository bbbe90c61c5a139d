"""Which failures of a call to the managers the worker tries again: the
manager was away, hung, busy or broke mid-call, so the same call may be
answered later (or by another manager). Any other code is the manager's
answer, and sending the same call again would get the same one."""

from __future__ import annotations

import grpc

RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)
