"""States and kinds of the store's rows: lower-case words, one line each on
what they mean. The store owns every change between them."""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    READY = "ready"  # waiting for a worker to claim it
    RUNNING = "running"  # claimed; the holder heartbeats it
    SUCCEEDED = "succeeded"  # a proof was accepted
    FAILED = "failed"  # tries exhausted; needs an operator's reset
    EXPIRED = "expired"  # the deadline closed before a proof was accepted


FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.EXPIRED})
UNFINISHED_STATES = frozenset({JobState.READY, JobState.RUNNING})


class MessageKind(enum.StrEnum):
    POST = "post"  # SubmitWindowedPoSt: proofs of some partitions of a deadline
    RECOVERY = "recovery"  # DeclareFaultsRecovered, for the deadline it names


class MessageState(enum.StrEnum):
    PENDING = "pending"  # pushed; not found on chain yet
    LANDED = "landed"  # executed on chain with exit code 0
    FAILED = "failed"  # executed on chain and refused (non-zero exit code)
    DROPPED = "dropped"  # not on chain long after its push (a reorg dropped it)


# A post message in one of these covers its partitions: they are not sent again.
COVERING_STATES = frozenset({MessageState.PENDING, MessageState.LANDED})
