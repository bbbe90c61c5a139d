"""The durable state of the manager, on SQLite (WAL) by default or
PostgreSQL to scale out: ``JobStore`` (jobs and workers: every state change
of a job) and ``Ledger`` (chain messages and misses), sharing one migrated
``Database``."""

from prover.store.database import Database
from prover.store.errors import (
    InvalidJob,
    StoreError,
    StoreUnavailable,
    TransitionRefused,
    UnknownJob,
    UnknownWorker,
)
from prover.store.jobs import (
    ClaimFilter,
    FinishOutcome,
    JobStore,
    NewJobSpec,
    StopOrder,
    expiry_reason,
)
from prover.store.ledger import Ledger, Miss
from prover.store.states import (
    COVERING_STATES,
    FINISHED_STATES,
    UNFINISHED_STATES,
    JobState,
    MessageKind,
    MessageState,
)

__all__ = [
    "COVERING_STATES",
    "FINISHED_STATES",
    "UNFINISHED_STATES",
    "ClaimFilter",
    "Database",
    "FinishOutcome",
    "InvalidJob",
    "JobState",
    "JobStore",
    "Ledger",
    "MessageKind",
    "MessageState",
    "Miss",
    "NewJobSpec",
    "StopOrder",
    "StoreError",
    "StoreUnavailable",
    "TransitionRefused",
    "UnknownJob",
    "UnknownWorker",
    "expiry_reason",
]
