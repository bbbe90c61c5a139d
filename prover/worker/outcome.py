"""The words the worker acts on: how a compute attempt ended, and why the
worker itself stops a job. StrEnums, so logs and metrics labels read the
same text as before they were types."""

from __future__ import annotations

from enum import StrEnum


class OutcomeKind(StrEnum):
    """How one attempt in a compute child ended."""

    OK = "ok"  # proven: the proof, and the sectors found faulty on the way
    FAILED = "failed"  # this attempt failed, with its reason (the manager decides what next)
    STOPPED = "stopped"  # the child was killed on a stop order (the manager's or a shutdown)


class StopReason(StrEnum):
    """The worker's own reasons to stop a job it holds. The manager's stop
    orders carry words of the store's (``reset``, ``removed``, ...): those
    are passed on and logged as they come."""

    SHUTDOWN = "shutdown"  # the worker stops: the job is given back (Release)
