"""``WorkerRegistry``: the workers table, as the workers registered.

A worker registers at start (and again after a restart), an operator drains
it, the servicers, dispatcher, metrics and alert watch read it. The job path
reaches the same rows only inside its own transactions, never through this
class: a claim reads the worker's filters (``WORKER_FILTERS``) in the
transaction that takes the job, and a heartbeat refreshes ``last_seen_at``
and the GPUs in the transaction that judges its jobs, because the claims it
calls lost are those started before the previous ``last_seen_at``
(``JobStore.heartbeat``). Splitting either into two transactions would let
a registration or another heartbeat slip in between.

What a worker may take is a pure rule over its row (``claim_filter``): the
miners and proof types it allows, less the proof types whose parameter
files its start-up check found wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import col, select

from prover.proofs.types import PoStProofType
from prover.store.database import Database, unavailable_on_db_errors, utcnow
from prover.store.models import WorkerRow

WORKERS = WorkerRow.__table__

# The columns ``claim_filter`` needs, read by a claim inside its transaction.
WORKER_FILTERS = select(
    WORKERS.c.draining,
    WORKERS.c.allowed_miners,
    WORKERS.c.allowed_proof_types,
    WORKERS.c.param_problems,
).where(WORKERS.c.name == bindparam("name"))
# every WindowPoSt proof type id a job may carry (V1 5..9, V1_1 10..14)
_ALL_PROOF_TYPES = frozenset(range(5, 15))


@dataclass(frozen=True)
class ClaimFilter:
    """Which jobs a worker may take; empty means any, and ``nothing`` none
    at all (every proof type it may take is one it refuses)."""

    miners: frozenset[int] = field(default_factory=frozenset)
    proof_types: frozenset[int] = field(default_factory=frozenset)
    nothing: bool = False


def refused_proof_types(param_problems: Iterable[Mapping]) -> frozenset[int]:
    """The proof type ids a worker refuses for its parameter problems: each
    size under both its chain ids (V1 and V1_1), one circuit."""
    out: set[int] = set()
    for p in param_problems:
        t = int(p.get("proof_type") or 0)
        if t:
            out |= set(PoStProofType.same_size_ids(t))
    return frozenset(out)


def claim_filter(worker) -> ClaimFilter:
    """A registered worker's filters (a WorkerRow or a row with its
    columns; None for a worker that never registered: it may take any job):
    the proof types it allows, less those it refuses."""
    if worker is None:
        return ClaimFilter()
    miners = frozenset(worker.allowed_miners)
    types = frozenset(worker.allowed_proof_types)
    refused = refused_proof_types(worker.param_problems or ())
    if refused:
        types = (types or _ALL_PROOF_TYPES) - refused
        if not types:
            return ClaimFilter(miners, nothing=True)
    return ClaimFilter(miners, types)


class WorkerRegistry:
    """The workers table outside the job path; see the module docstring.
    Time comes from ``clock``: give it the job store's, since both write
    ``last_seen_at``."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    @unavailable_on_db_errors
    def register(
        self,
        name: str,
        *,
        host: str = "",
        version: str = "",
        gpus: list[dict] | None = None,
        cpus: int = 0,
        cpuset: str = "",
        allowed_miners: Iterable[int] = (),
        allowed_proof_types: Iterable[int] = (),
        param_problems: Iterable[Mapping] = (),
        build: str | None = None,
        driver_required: str | None = None,
        api_version: int | None = None,
    ) -> WorkerRow:
        """Creates or refreshes a worker; registering again ends a drain.
        ``param_problems`` ({proof_type, file, problem, detail}) are the
        files its start-up check found wrong: no job of their proof types is
        handed to it (``claim_filter``). ``build`` (cpu or cuda), the driver a
        cuda build needs and the API it speaks are None for a 0.1.0 worker."""
        now = self.clock()
        with self.db.transaction() as s:
            w = s.get(WorkerRow, name) or WorkerRow(name=name, registered_at=now, last_seen_at=now)
            w.host, w.version, w.cpus, w.cpuset = host, version, cpus, cpuset
            w.gpus = list(gpus or [])
            w.allowed_miners = sorted(set(allowed_miners))
            w.allowed_proof_types = sorted(set(allowed_proof_types))
            w.param_problems = [
                {k: p.get(k, "") for k in ("proof_type", "file", "problem", "detail")}
                for p in param_problems
            ]
            w.build, w.driver_required, w.api_version = build, driver_required, api_version
            w.registered_at = now
            w.last_seen_at = now
            w.draining = False
            s.add(w)
        return w

    @unavailable_on_db_errors
    def get(self, name: str) -> WorkerRow | None:
        with self.db.transaction() as s:
            return s.get(WorkerRow, name)

    @unavailable_on_db_errors
    def all(self) -> list[WorkerRow]:
        """Every registered worker, by name."""
        with self.db.transaction() as s:
            return list(s.exec(select(WorkerRow).order_by(col(WorkerRow.name))).all())

    @unavailable_on_db_errors
    def set_draining(self, name: str, draining: bool = True) -> bool:
        """A draining worker is handed no job (its claims come back empty)
        until it registers again; False for a worker never registered."""
        with self.db.transaction() as s:
            w = s.get(WorkerRow, name)
            if w is None:
                return False
            w.draining = draining
            s.add(w)
            return True
