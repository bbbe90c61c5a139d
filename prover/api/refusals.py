"""Why a manager refused a call, as a word a program acts on.

A status code alone does not say it: FAILED_PRECONDITION answers a worker
that must register again, a stale attempt and a client too old to serve,
and each wants a different reaction. So every refusal the manager's
servicers map (``prover.manager.servicers.status_mapping``, and the token
check before them, ``prover.manager.auth``) also carries
one of these words in the ``prover-refusal`` trailing metadata, beside the
English text, which is for people only: no process acts on another's
wording. The words are the API's, so they only grow: a client that meets
one it does not know (a newer manager) treats it as no reason at all."""

from __future__ import annotations

from enum import StrEnum

import grpc

REFUSAL_KEY = "prover-refusal"


class Refusal(StrEnum):
    # UNAUTHENTICATED, PERMISSION_DENIED: the token (checked before any servicer)
    BAD_TOKEN = "bad-token"  # missing, malformed, or not a token of this manager
    ADMIN_ONLY = "admin-only"  # a worker token calling an admin method
    # INVALID_ARGUMENT: the request itself is wrong; sending it again cannot help
    BAD_REQUEST = "bad-request"  # a field missing or wrong (named in the text)
    INVALID_JOB = "invalid-job"  # a new job with a field missing or wrong
    TRACKER_REFUSED = "tracker-refused"  # the tracker cannot do what was asked
    # NOT_FOUND
    UNKNOWN_JOB = "unknown-job"  # no job of that id
    WORKER_NOT_FOUND = "worker-not-found"  # an operator named a worker never seen
    # FAILED_PRECONDITION: the request is fine, the state is not
    UNKNOWN_WORKER = "unknown-worker"  # the worker is not registered: Register, then ask again
    TRANSITION_REFUSED = "transition-refused"  # the job's state or holder forbids it (stale)
    NO_CHAIN = "no-chain"  # this manager follows no chain
    CLIENT_TOO_OLD = "client-too-old"  # upgrade the client; retrying cannot help
    # UNAVAILABLE: try again later, or at another manager
    NOT_LEADER = "not-leader"  # a standby: the leader answers chain calls
    STORE_UNAVAILABLE = "store-unavailable"  # the job database cannot be reached
    CANNOT_VERIFY = "cannot-verify"  # the manager cannot check a proof now
    CHAIN_NODE = "chain-node"  # the chain node failed the call


def refusal_metadata(reason: Refusal) -> tuple[tuple[str, str], ...]:
    """The trailing metadata that carries ``reason``."""
    return ((REFUSAL_KEY, reason.value),)


def refusal(exc: grpc.RpcError) -> Refusal | None:
    """The reason a manager gave with this error, or None: none given (a
    transport error, an older manager) or one this release does not know."""
    try:
        trailing = exc.trailing_metadata() or ()  # type: ignore[attr-defined]
    except Exception:  # an error raised before any answer has none
        return None
    word = next((str(v) for k, v in trailing if k == REFUSAL_KEY), "")
    try:
        return Refusal(word)
    except ValueError:
        return None


def gave_no_reason(exc: grpc.RpcError) -> bool:
    """Whether a manager answered with this refusal and no reason at all:
    one of API 2 or older, from before reasons. A client keeps working
    with such a manager (a rolling upgrade may move workers first) by the
    status code of the call alone, never by its wording."""
    try:
        trailing = exc.trailing_metadata()  # type: ignore[attr-defined]
    except Exception:  # raised before any answer: no manager refused it
        return False
    if trailing is None:
        return False
    return not any(k == REFUSAL_KEY for k, _ in trailing)
