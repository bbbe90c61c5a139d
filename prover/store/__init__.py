"""The durable job table: SQL models, the one gateway that runs queries, and
migrations. SQLite (WAL) by default, PostgreSQL to scale out."""

from prover.store.gateway import (
    ClaimFilter,
    FinishOutcome,
    InvalidJob,
    JobStore,
    NewJobSpec,
    SectorSpec,
    StopOrder,
    StoreError,
    StoreUnavailable,
    TransitionRefused,
    UnknownJob,
    UnknownWorker,
)
from prover.store.states import FINISHED_STATES, JobState

__all__ = [
    "FINISHED_STATES",
    "ClaimFilter",
    "FinishOutcome",
    "InvalidJob",
    "JobState",
    "JobStore",
    "NewJobSpec",
    "SectorSpec",
    "StopOrder",
    "StoreError",
    "StoreUnavailable",
    "TransitionRefused",
    "UnknownJob",
    "UnknownWorker",
]
