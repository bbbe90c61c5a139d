"""Accepting a worker's result: the manager's policy, as a plain function the
servicer calls (and tests call without gRPC).

A success counts only if its proof verifies with the chain's verifier over
the job's sectors as proven; a proof that does not is recorded as a failed
attempt (``invalid proof: ...``), so a faulty GPU or a rogue worker cannot
poison a deadline. Only the holder's result for a running attempt is
verified: a stale or duplicate one goes straight to the store, which
refuses or recognises it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prover import metrics
from prover.manager.requests import BadRequest
from prover.manager.verify import proof_problem
from prover.proofs import PARTITION_PROOF_LEN, ParametersMissing, PoStProofType
from prover.store import FinishOutcome, JobState, JobStore, UnknownJob


class CannotVerify(Exception):
    """The manager itself cannot verify proofs (its verifying key missing
    or wrong): the worker should keep its result and try again later."""


@dataclass(frozen=True)
class Report:
    """A worker's result for one attempt of one job."""

    worker: str
    job_id: int
    attempt: int
    success: bool
    proof: bytes = b""
    faulty: frozenset[int] = frozenset()
    error: str | None = None
    timings: dict[str, float] | None = None


@dataclass(frozen=True)
class Accepted:
    """What became of a report: the store's outcome, and whether it counted
    as a success (a proof that did not verify did not), with the error."""

    outcome: FinishOutcome
    success: bool
    error: str | None = None
    faulty: Sequence[int] = field(default_factory=tuple)


def accept(
    store: JobStore, report: Report, unverifiable: Mapping[int, str] | None = None
) -> Accepted:
    """Checks, verifies and records a worker's result (see the module
    docstring). Raises ``BadRequest``, ``UnknownJob``, ``CannotVerify`` or
    the store's refusal of a stale result.

    ``unverifiable``: proof type ids (V1_1, 10..14) whose verifying key the
    manager's start-up check found wrong, with why; their proofs are not
    verified with it (a truncated key would refuse good proofs and blame
    the worker) but kept by the worker until the key is mended."""
    if report.success and (not report.proof or len(report.proof) % PARTITION_PROOF_LEN):
        raise BadRequest("proof", f"must be a multiple of {PARTITION_PROOF_LEN} bytes")
    job = store.get(report.job_id)
    if job is None:
        raise UnknownJob(report.job_id)
    if stray := set(report.faulty) - {s.id for s in job.sectors}:
        raise BadRequest("faulty", f"sectors {sorted(stray)} are not in job {report.job_id}")
    success, error = report.success, report.error
    holder = job.attempt == report.attempt and job.worker == report.worker
    if success and holder and job.state == JobState.RUNNING:
        why = (unverifiable or {}).get(PoStProofType.from_chain_id(job.proof_type).chain_id)
        if why:
            raise CannotVerify(f"manager cannot verify proofs: {why}")
        began = time.perf_counter()
        try:
            problem = proof_problem(job, report.proof, set(report.faulty))
        except ParametersMissing as exc:
            raise CannotVerify(f"manager cannot verify proofs: {exc}") from exc
        metrics.proof_verified(job.miner, time.perf_counter() - began)
        if problem is not None:
            success, error = False, problem
            metrics.proof_refused(job.miner, report.worker)
    outcome = store.finish(
        report.worker,
        report.job_id,
        report.attempt,
        success=success,
        proof=report.proof if success else None,
        faulty=report.faulty,
        error=error,
        timings=report.timings,
    )
    if not outcome.duplicate:
        held = None
        if job.started_at is not None:
            held = (store.clock() - job.started_at).total_seconds()
        metrics.job_finished(
            job.miner,
            report.worker,
            "succeeded" if success else "failed",
            claimed_for_s=held,
            timings=report.timings,
        )
        if success:
            metrics.sectors_skipped(job.miner, "faulty", len(report.faulty))
    return Accepted(outcome, success, error, sorted(report.faulty))
