"""The store's refusals, by kind, so that callers (the servicers' one error
map, the tracker) can answer each the way it deserves."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's refusals."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (or stayed locked); try again later."""


class UnknownJob(StoreError):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"unknown job {job_id}")
        self.job_id = job_id


class UnknownWorker(StoreError):
    def __init__(self, name: str) -> None:
        super().__init__(f"worker {name} is not registered; call Register first")
        self.name = name


class TransitionRefused(StoreError):
    """A change that does not fit the row's current state or holder."""


class InvalidJob(StoreError, ValueError):
    """A new job with a field that is missing or wrong."""

    def __init__(self, index: int, field_name: str, message: str) -> None:
        super().__init__(f"job {index}: {field_name}: {message}")
        self.index = index
        self.field = field_name
