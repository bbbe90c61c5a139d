"""Job states: lower-case words, one line each on what they mean."""

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
