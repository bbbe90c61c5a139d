"""The durable state of the manager, on SQLite (WAL) by default or
PostgreSQL to scale out: ``JobStore`` (every state change of a job; its
reads are ``JobQueries``), ``WorkerRegistry`` (the workers as they
registered), ``Ledger`` (chain messages and misses) and the rest, sharing
one migrated ``Database``; docs/ARCHITECTURE.md says which owns which table.

Names load on first use (PEP 562): the CLI and the wire conversions take
``NewJobSpec`` and the states without loading SQLAlchemy, which costs an
operator command most of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Database": "database",
    "InvalidJob": "errors",
    "StoreError": "errors",
    "StoreUnavailable": "errors",
    "TransitionRefused": "errors",
    "UnknownJob": "errors",
    "UnknownWorker": "errors",
    "WorkerRegistry": "workers",
    "ClaimFilter": "workers",
    "FinishOutcome": "jobs",
    "JobQueries": "job_queries",
    "JobStore": "jobs",
    "StopOrder": "jobs",
    "expiry_reason": "jobs",
    "NewJobSpec": "specs",
    "Ledger": "ledger",
    "StorageHosts": "hosts",
    "Miss": "ledger",
    "Sent": "ledger",
    "COVERING_STATES": "states",
    "FINISHED_STATES": "states",
    "UNFINISHED_STATES": "states",
    "JobState": "states",
    "MessageKind": "states",
    "MessageState": "states",
}

__all__ = [
    "COVERING_STATES",
    "FINISHED_STATES",
    "UNFINISHED_STATES",
    "ClaimFilter",
    "Database",
    "FinishOutcome",
    "InvalidJob",
    "JobQueries",
    "JobState",
    "JobStore",
    "Ledger",
    "MessageKind",
    "MessageState",
    "Miss",
    "NewJobSpec",
    "Sent",
    "StopOrder",
    "StorageHosts",
    "StoreError",
    "StoreUnavailable",
    "TransitionRefused",
    "UnknownJob",
    "UnknownWorker",
    "WorkerRegistry",
    "expiry_reason",
]

if TYPE_CHECKING:
    from prover.store.database import Database
    from prover.store.errors import (
        InvalidJob,
        StoreError,
        StoreUnavailable,
        TransitionRefused,
        UnknownJob,
        UnknownWorker,
    )
    from prover.store.hosts import StorageHosts
    from prover.store.job_queries import JobQueries
    from prover.store.jobs import FinishOutcome, JobStore, StopOrder, expiry_reason
    from prover.store.ledger import Ledger, Miss, Sent
    from prover.store.specs import NewJobSpec
    from prover.store.states import (
        COVERING_STATES,
        FINISHED_STATES,
        UNFINISHED_STATES,
        JobState,
        MessageKind,
        MessageState,
    )
    from prover.store.workers import ClaimFilter, WorkerRegistry


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'prover.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"prover.store.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
