"""API tokens and the interceptor that checks them on every call.

A token is ``<perm>.<hmac>``: the HMAC-SHA256 of the permission under the
manager's secret, so tokens need no storage and a leaked worker token can be
told apart from an admin one. Admin tokens may call worker methods too (like
Lotus' permission levels); worker tokens cannot call admin methods.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import grpc

PERMS = ("worker", "admin")
ADMIN_SERVICE = "/prover.v1.AdminService/"


def new_secret(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")


def read_secret(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{path}: no token secret; run `prover-manager daemon init`"
        ) from exc


def make_token(secret: bytes, perm: str) -> str:
    if perm not in PERMS:
        raise ValueError(f"unknown permission {perm!r}: expected one of {', '.join(PERMS)}")
    return f"{perm}.{hmac.new(secret, perm.encode(), hashlib.sha256).hexdigest()}"


def token_perm(secret: bytes, token: str) -> str | None:
    """The permission a token carries, or None if it is not one of ours."""
    perm, _, _ = token.partition(".")
    if perm not in PERMS:
        return None
    return perm if hmac.compare_digest(token, make_token(secret, perm)) else None


def _deny(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    def abort(_request, context):
        context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


class TokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        header = dict(handler_call_details.invocation_metadata or ()).get("authorization")
        if not header:
            return _deny(grpc.StatusCode.UNAUTHENTICATED, "missing authorization: Bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _deny(grpc.StatusCode.UNAUTHENTICATED, "authorization must be 'Bearer <token>'")
        perm = token_perm(self._secret, token.strip())
        if perm is None:
            return _deny(grpc.StatusCode.UNAUTHENTICATED, "invalid token")
        if method.startswith(ADMIN_SERVICE) and perm != "admin":
            return _deny(grpc.StatusCode.PERMISSION_DENIED, f"{perm} token cannot call {method}")
        return continuation(handler_call_details)
