"""Prometheus metrics: the names every process exposes, and the events that
move them.

Built on ``prometheus_client``, the ecosystem's library, so that the
exposition format, label escaping and histogram buckets are its and not
ours. Counters and histograms here are created outside any registry
(``registry=None``): each process (or each Manager a test starts in one
process) gathers them into a ``CollectorRegistry`` of its own with
``event_registry``, beside collectors that read state at scrape time. Being
module-level, they count the whole process; tests compare a scrape before
and after, never absolute values.

Every name starts with ``prover_``. Labels are strings: miner actor ids,
deadline indexes, worker names and message kinds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.registry import Collector

# No ``*_created`` series beside every counter: Prometheus does not use them
# and they double what each scrape carries.
disable_created_metrics()

ATTO_PER_FIL = 10**18

# Proof steps take from milliseconds (2KiB test sectors) to minutes (a
# 32GiB partition's SNARK on a CPU).
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200)


def _counter(name: str, documentation: str, labels: list[str]) -> Counter:
    """A counter in no registry yet (see the module docstring)."""
    return Counter(name, documentation, labels, registry=None)


# ---- the manager's events ---------------------------------------------------

# prover_messages_<event>_total{miner, deadline, kind}, kind post
# (SubmitWindowedPoSt) or recovery (DeclareFaultsRecovered)
MESSAGE_EVENTS = {
    "pushed": "Messages pushed to the mpool.",
    "landed": "Messages the chain executed with exit code 0.",
    "failed": "Messages the chain executed with a non-zero exit code.",
    "replaced": "Pending messages replaced by fee (same nonce, higher premium).",
    "dropped": "Messages given up on: not on chain resubmit_after epochs after their last push.",
}
MESSAGES = {
    event: _counter(f"prover_messages_{event}", doc, ["miner", "deadline", "kind"])
    for event, doc in MESSAGE_EVENTS.items()
}
GAS_USED = _counter(
    "prover_gas_used",
    "Gas units used by executed messages.",
    ["miner", "kind"],
)
FEES_PAID = _counter(
    "prover_fees_paid_fil",
    "Fees paid by executed messages, in FIL (base-fee burn + over-estimation burn + miner tip).",
    ["miner", "kind"],
)
PARTITIONS_PROVEN = _counter(
    "prover_partitions_proven",
    "Partitions whose SubmitWindowedPoSt landed on chain.",
    ["miner", "deadline"],
)
PARTITIONS_MISSED = _counter(
    "prover_partitions_missed",
    "Partitions of closed deadlines recorded without a landed proof.",
    ["miner", "deadline"],
)
SECTORS_SKIPPED = _counter(
    "prover_sectors_skipped",
    "Sectors left out of proofs: not found on any storage when planned (not_found), "
    "or found faulty by the worker while proving (faulty).",
    ["miner", "reason"],
)
PROOFS_REFUSED = _counter(
    "prover_proofs_refused",
    "Proofs a worker returned that the manager's verifier refused (recorded as failed attempts).",
    ["miner", "worker"],
)
JOBS_FINISHED = _counter(
    "prover_jobs_finished",
    "Attempts finished by workers, by the outcome the manager recorded.",
    ["miner", "worker", "result"],
)
WORKER_HEARTBEATS = _counter(
    "prover_worker_heartbeats",
    "Heartbeats received from each worker.",
    ["worker"],
)
JOB_DURATION = Histogram(
    "prover_job_duration_seconds",
    "From a job's claim to its accepted finish (the whole attempt as the manager saw it).",
    ["miner"],
    buckets=STEP_BUCKETS,
    registry=None,
)
PROOF_STEP = Histogram(
    "prover_proof_step_seconds",
    "Seconds per step of a partition proof: challenges, vanilla, snark and total as the "
    "worker timed them, verify as the manager's verifier took.",
    ["miner", "step"],
    buckets=STEP_BUCKETS,
    registry=None,
)

# Shadow mode: how long before Close our proof would have gone, and how each
# partition compared with the chain at Close.
SHADOW_MARGIN = Histogram(
    "prover_shadow_ready_margin_epochs",
    "Shadow mode: epochs between the moment a partition's verified proof would have been "
    "pushed and its deadline's Close.",
    ["miner"],
    buckets=(0, 1, 2, 4, 6, 10, 15, 20, 30, 40, 60),
    registry=None,
)
SHADOW_OUTCOMES = _counter(
    "prover_shadow_partitions",
    "Shadow mode: partitions compared at Close, by outcome: both (ours ready, the chain's PoSt "
    "landed), ours_only, chain_only (we would have missed), neither.",
    ["miner", "outcome"],
)

# A PoSt of ours disputed on chain and found invalid (the dispute watch).
POSTS_DISPUTED = _counter(
    "prover_posts_disputed",
    "PoSts of ours disputed on chain (DisputeWindowedPoSt) and found invalid: their partitions' "
    "sectors became faulty and the miner was penalised.",
    ["miner"],
)

MANAGER_EVENTS: tuple[Collector, ...] = (
    *MESSAGES.values(),
    GAS_USED,
    FEES_PAID,
    PARTITIONS_PROVEN,
    PARTITIONS_MISSED,
    SECTORS_SKIPPED,
    PROOFS_REFUSED,
    JOBS_FINISHED,
    WORKER_HEARTBEATS,
    JOB_DURATION,
    PROOF_STEP,
    SHADOW_MARGIN,
    SHADOW_OUTCOMES,
    POSTS_DISPUTED,
)


def registry_of(collectors: Iterable[Collector]) -> CollectorRegistry:
    """A registry of its own holding ``collectors`` (a collector may sit in
    several registries: each scrape asks it afresh)."""
    registry = CollectorRegistry(auto_describe=True)
    for c in collectors:
        registry.register(c)
    return registry


def message(event: str, kind: str, miner: int, deadline: int) -> None:
    """A message ``event`` (a key of ``MESSAGE_EVENTS``) of one deadline."""
    MESSAGES[event].labels(str(miner), str(deadline), str(kind)).inc()


def message_executed(
    kind: str,
    miner: int,
    deadline: int,
    *,
    landed: bool,
    partitions: int,
    gas_used: int | None,
    fee_paid: int | None,
) -> None:
    """An executed message: landed or failed, the gas and fee it paid, and
    for a landed PoSt the partitions it proved."""
    message("landed" if landed else "failed", kind, miner, deadline)
    if gas_used:
        GAS_USED.labels(str(miner), str(kind)).inc(gas_used)
    if fee_paid:
        FEES_PAID.labels(str(miner), str(kind)).inc(fee_paid / ATTO_PER_FIL)
    if landed and kind == "post" and partitions:
        PARTITIONS_PROVEN.labels(str(miner), str(deadline)).inc(partitions)


# The reasons ``sectors_skipped`` is told.
SKIP_REASONS = ("not_found", "faulty")

# Miners followed and workers heard from in this process: proofs refused
# (per miner and worker) start at 0 for each pair once both are known.
_followed: set[str] = set()
_workers: set[str] = set()
_known_lock = threading.Lock()


def miner_followed(miner: int, deadlines: int) -> None:
    """Every counter series of ``miner`` whose labels are known in advance,
    at 0: messages failed, replaced and dropped per deadline and kind,
    partitions proven and missed per deadline, gas and fees per kind and
    sectors skipped per reason. A series that exists from the start draws
    a flat line under ``increase()``; one born at its first event reads as
    "no data" until then, and its first increase is lost to ``rate()``.

    About 400 series per miner on mainnet (48 deadlines): 30 miners add
    12,000 lines to a scrape, which prometheus_client writes in tens of
    milliseconds. Pushed and landed are left to be born at their first
    event: every deadline with partitions pushes within its period."""
    from prover.store.states import MessageKind

    m = str(miner)
    with _known_lock:
        _followed.add(m)
        workers = list(_workers)
    for worker in workers:
        PROOFS_REFUSED.labels(m, worker)
    kinds = [str(k) for k in MessageKind]
    for d in map(str, range(deadlines)):
        for event in ("failed", "replaced", "dropped"):
            for kind in kinds:
                MESSAGES[event].labels(m, d, kind)
        PARTITIONS_PROVEN.labels(m, d)
        PARTITIONS_MISSED.labels(m, d)
    for kind in kinds:
        GAS_USED.labels(m, kind)
        FEES_PAID.labels(m, kind)
    for reason in SKIP_REASONS:
        SECTORS_SKIPPED.labels(m, reason)
    POSTS_DISPUTED.labels(m)


def partition_missed(miner: int, deadline: int) -> None:
    PARTITIONS_MISSED.labels(str(miner), str(deadline)).inc()


def sectors_skipped(miner: int, reason: str, count: int) -> None:
    if count:
        SECTORS_SKIPPED.labels(str(miner), reason).inc(count)


def proof_refused(miner: int, worker: str) -> None:
    PROOFS_REFUSED.labels(str(miner), worker).inc()


def job_finished(
    miner: int,
    worker: str,
    result: str,
    *,
    claimed_for_s: float | None,
    timings: dict[str, float] | None,
) -> None:
    """An attempt's accepted finish (``result``: succeeded, failed, ...)
    with how long it was held and the worker's step timings."""
    JOBS_FINISHED.labels(str(miner), worker, result).inc()
    if claimed_for_s is not None and claimed_for_s >= 0:
        JOB_DURATION.labels(str(miner)).observe(claimed_for_s)
    for step, seconds in (timings or {}).items():
        PROOF_STEP.labels(str(miner), step).observe(seconds)


def proof_verified(miner: int, seconds: float) -> None:
    PROOF_STEP.labels(str(miner), "verify").observe(seconds)


def shadow_ready(miner: int, epochs_before_close: int) -> None:
    SHADOW_MARGIN.labels(str(miner)).observe(epochs_before_close)


def shadow_outcome(miner: int, outcome: str) -> None:
    SHADOW_OUTCOMES.labels(str(miner), outcome).inc()


def post_disputed(miner: int) -> None:
    POSTS_DISPUTED.labels(str(miner)).inc()


def heartbeat(worker: str) -> None:
    WORKER_HEARTBEATS.labels(worker).inc()
    if worker in _workers:
        return
    with _known_lock:
        _workers.add(worker)
        miners = list(_followed)
    for miner in miners:
        PROOFS_REFUSED.labels(miner, worker)
