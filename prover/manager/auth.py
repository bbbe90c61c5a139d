"""The interceptor that checks the API token (``prover.api.tokens``) on
every call, and refuses admin methods to worker tokens."""

from __future__ import annotations

import grpc

from prover.api.refusals import Refusal, refusal_metadata
from prover.api.tokens import token_perm

ADMIN_SERVICE = "/prover.v1.AdminService/"


def _deny(code: grpc.StatusCode, reason: Refusal, message: str) -> grpc.RpcMethodHandler:
    def abort(_request, context):
        context.set_trailing_metadata(refusal_metadata(reason))
        context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


class TokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        header = dict(handler_call_details.invocation_metadata or ()).get("authorization")
        if not header:
            return _deny(
                grpc.StatusCode.UNAUTHENTICATED,
                Refusal.BAD_TOKEN,
                "missing authorization: Bearer token",
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _deny(
                grpc.StatusCode.UNAUTHENTICATED,
                Refusal.BAD_TOKEN,
                "authorization must be 'Bearer <token>'",
            )
        perm = token_perm(self._secret, token.strip())
        if perm is None:
            return _deny(grpc.StatusCode.UNAUTHENTICATED, Refusal.BAD_TOKEN, "invalid token")
        if method.startswith(ADMIN_SERVICE) and perm != "admin":
            return _deny(
                grpc.StatusCode.PERMISSION_DENIED,
                Refusal.ADMIN_ONLY,
                f"{perm} token cannot call {method}",
            )
        return continuation(handler_call_details)
