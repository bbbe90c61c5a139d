"""Every refusal the manager maps to a gRPC status also says why, in a word
of ``prover.api.refusals`` (trailing metadata), so that a client acts on
the reason and not on the wording; the words are read back the same way,
and one a client does not know is no reason at all."""

from __future__ import annotations

import grpc
import pytest

from prover.api.refusals import REFUSAL_KEY, Refusal, refusal
from prover.chain.lotus import LotusError
from prover.manager.finish import CannotVerify
from prover.manager.requests import BadRequest, ClientTooOld
from prover.manager.servicers import NoChain, NotLeader, WorkerNotFound, status_mapping
from prover.store import InvalidJob, StoreUnavailable, TransitionRefused, UnknownJob, UnknownWorker
from prover.tracker import TrackerRefused

C = grpc.StatusCode


class _Context:
    def __init__(self) -> None:
        self.trailing: tuple = ()
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def set_trailing_metadata(self, md) -> None:
        self.trailing = md

    def abort(self, code, details):
        self.aborted = (code, details)
        raise RuntimeError("aborted")


class _Error(grpc.RpcError):
    def __init__(self, trailing) -> None:
        self._trailing = trailing

    def trailing_metadata(self):
        return self._trailing


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (BadRequest("exclude", "at most 1000 job ids"), C.INVALID_ARGUMENT, Refusal.BAD_REQUEST),
        (InvalidJob(0, "miner", "missing"), C.INVALID_ARGUMENT, Refusal.INVALID_JOB),
        (TrackerRefused("no such miner"), C.INVALID_ARGUMENT, Refusal.TRACKER_REFUSED),
        (UnknownJob(7), C.NOT_FOUND, Refusal.UNKNOWN_JOB),
        (WorkerNotFound("w9"), C.NOT_FOUND, Refusal.WORKER_NOT_FOUND),
        (TransitionRefused("stale attempt"), C.FAILED_PRECONDITION, Refusal.TRANSITION_REFUSED),
        (UnknownWorker("w1"), C.FAILED_PRECONDITION, Refusal.UNKNOWN_WORKER),
        (NoChain(), C.FAILED_PRECONDITION, Refusal.NO_CHAIN),
        (ClientTooOld("worker", "w1", "0.1.0", 1), C.FAILED_PRECONDITION, Refusal.CLIENT_TOO_OLD),
        (NotLeader(None), C.UNAVAILABLE, Refusal.NOT_LEADER),
        (StoreUnavailable("gone"), C.UNAVAILABLE, Refusal.STORE_UNAVAILABLE),
        (CannotVerify("no key"), C.UNAVAILABLE, Refusal.CANNOT_VERIFY),
        (LotusError("ChainHead", "down"), C.UNAVAILABLE, Refusal.CHAIN_NODE),
    ],
)
def test_each_refusal_has_its_code_and_its_reason(error, code, reason):
    ctx = _Context()
    with pytest.raises(RuntimeError), status_mapping(ctx):
        raise error
    assert ctx.aborted is not None and ctx.aborted[0] == code
    assert ctx.trailing == ((REFUSAL_KEY, reason.value),)
    assert refusal(_Error(ctx.trailing)) is reason


def test_the_words_stay_for_people():
    ctx = _Context()
    with pytest.raises(RuntimeError), status_mapping(ctx):
        raise UnknownWorker("w1")
    assert ctx.aborted[1] == "worker w1 is not registered; call Register first"


def test_no_reason_or_an_unknown_one_is_none():
    assert refusal(_Error(())) is None
    assert refusal(_Error(None)) is None
    assert refusal(_Error(((REFUSAL_KEY, "from-a-newer-manager"),))) is None
    assert refusal(_Error((("other", "unknown-worker"),))) is None

    class _Early(grpc.RpcError):  # raised before any answer: no metadata at all
        pass

    assert refusal(_Early()) is None


def test_the_words_are_the_apis_and_only_grow():
    # renaming one breaks every client of an older or newer release
    assert Refusal.UNKNOWN_WORKER == "unknown-worker"
    assert Refusal.CLIENT_TOO_OLD == "client-too-old"
    assert Refusal.NOT_LEADER == "not-leader"
    assert len({r.value for r in Refusal}) == len(Refusal)
