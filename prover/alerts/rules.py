"""The conditions an operator is paged for, as pure functions from what the
manager knows to the alerts that hold now (``AlertBook`` makes them fire
once and resolve; nothing here keeps state).

Each alert is labelled so that one occurrence is told from another: a miss
by (miner, period, deadline, partition), a low balance by sender. An alert
about a deadline holds until that deadline comes round again (a proving
period after its Close), when it is either proven, and quiet, or missed
again, which is a new occurrence of the next period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from prover.alerts.book import Alert
from prover.chain.message import fil
from prover.proofs.types import PoStProofType
from prover.store.ledger import Miss

# the kinds (Alertmanager's alertname)
PARTITION_MISSED = "ProverPartitionMissed"
SECTORS_LEFT_OUT = "ProverSectorsLeftOut"
MESSAGE_FAILED = "ProverMessageFailed"
MESSAGE_NOT_LANDED = "ProverMessageNotLanded"
PROOF_REFUSED = "ProverProofRefused"
NO_WORKER = "ProverNoWorker"
LOW_BALANCE = "ProverLowBalance"
HEAD_STALLED = "ProverChainHeadStalled"
STORAGE_HOST_SILENT = "ProverStorageHostSilent"
NO_LEADER = "ProverNoLeader"
PARAMETERS_BAD = "ProverParametersBad"
MANAGER_PARAMETERS_BAD = "ProverManagerParametersBad"
SHADOW_WOULD_MISS = "ProverShadowWouldMiss"
SHADOW_CHAIN_MISSED = "ProverShadowChainMissed"
POST_DISPUTED = "ProverPoStDisputed"
GPU_FALLBACK = "ProverGpuFallback"
ALERT_NAMES = (
    PARTITION_MISSED,
    SECTORS_LEFT_OUT,
    MESSAGE_FAILED,
    MESSAGE_NOT_LANDED,
    PROOF_REFUSED,
    NO_WORKER,
    LOW_BALANCE,
    HEAD_STALLED,
    STORAGE_HOST_SILENT,
    NO_LEADER,
    PARAMETERS_BAD,
    MANAGER_PARAMETERS_BAD,
    SHADOW_WOULD_MISS,
    SHADOW_CHAIN_MISSED,
    POST_DISPUTED,
    GPU_FALLBACK,
)
# raised as warnings, or as information; the others are critical
WARNINGS = frozenset({SECTORS_LEFT_OUT, LOW_BALANCE, SHADOW_WOULD_MISS})
INFOS = frozenset({SHADOW_CHAIN_MISSED})


def usual_severity(name: str) -> str:
    return "warning" if name in WARNINGS else "info" if name in INFOS else "critical"


def _deadline_labels(miner: int, period_start: int, deadline: int, **more: object) -> dict:
    return {
        "miner": str(miner),
        "period_start": str(period_start),
        "deadline": str(deadline),
        **{k: str(v) for k, v in more.items()},
    }


def _recent(close_epoch: int, epoch: int, proving_period: int) -> bool:
    """Still about the deadline's last turn: it has not come round again."""
    return epoch < close_epoch + proving_period


def missed_partitions(misses: Iterable[Miss], epoch: int, proving_period: int) -> list[Alert]:
    return [
        Alert(
            PARTITION_MISSED,
            _deadline_labels(m.miner, m.period_start, m.deadline, partition=m.partition),
            summary=f"partition {m.partition} of deadline {m.deadline} closed without a proof: "
            f"{len(m.sectors)} sectors faulty",
            details={"reason": m.reason, "close_epoch": str(m.close_epoch)},
        )
        for m in misses
        if _recent(m.close_epoch, epoch, proving_period)
    ]


@dataclass(frozen=True)
class ProofFact:
    """An accepted partition proof, with the sectors it left out."""

    miner: int
    period_start: int
    deadline: int
    partition: int
    close_epoch: int
    skipped: Sequence[int]
    faulty: Sequence[int]


def left_out_sectors(proofs: Iterable[ProofFact], epoch: int, proving_period: int) -> list[Alert]:
    out = []
    for p in proofs:
        left = sorted({*p.skipped, *p.faulty})
        if not left or not _recent(p.close_epoch, epoch, proving_period):
            continue
        out.append(
            Alert(
                SECTORS_LEFT_OUT,
                _deadline_labels(p.miner, p.period_start, p.deadline, partition=p.partition),
                summary=f"{len(left)} sectors left out of partition {p.partition}'s proof "
                "(they become faulty on chain)",
                details={"sectors": ",".join(map(str, left[:100])) + ("..." * (len(left) > 100))},
                severity="warning",
            )
        )
    return out


@dataclass(frozen=True)
class MessageFact:
    miner: int
    period_start: int
    deadline: int
    kind: str  # post or recovery
    cid: str
    state: str  # pending, landed, failed, dropped
    close_epoch: int  # of the deadline it is for
    exit_code: int | None = None
    error: str = ""
    partitions: Sequence[int] = ()


def message_problems(
    messages: Iterable[MessageFact], epoch: int, proving_period: int, before_close: int
) -> list[Alert]:
    """A message that failed on chain; a PoSt still not on chain
    ``before_close`` epochs before its deadline's Close.

    A failed message is final, so its CID names it. A late PoSt is named by
    the partitions it carries, its current CID a detail: a replacement by
    fee (a new CID for the same PoSt, as stuck as before) must not resolve
    the alert and fire another (its CID when it fired is a detail)."""
    out = []
    for m in messages:
        if m.state == "failed" and _recent(m.close_epoch, epoch, proving_period):
            out.append(
                Alert(
                    MESSAGE_FAILED,
                    _deadline_labels(m.miner, m.period_start, m.deadline, kind=m.kind, cid=m.cid),
                    summary=f"{m.kind} message for deadline {m.deadline} failed on chain "
                    f"(exit code {m.exit_code})",
                    details={"error": m.error},
                )
            )
        elif (
            m.kind == "post"
            and m.state == "pending"
            and m.close_epoch - before_close <= epoch < m.close_epoch
        ):
            partitions = ",".join(str(p) for p in sorted(m.partitions))
            out.append(
                Alert(
                    MESSAGE_NOT_LANDED,
                    _deadline_labels(
                        m.miner, m.period_start, m.deadline, kind=m.kind, partitions=partitions
                    ),
                    summary=f"PoSt for deadline {m.deadline} not on chain "
                    f"{m.close_epoch - epoch} epochs before Close",
                    details={"cid": m.cid},
                )
            )
    return out


@dataclass(frozen=True)
class RefusalFact:
    """A job attempt whose proof the manager's verifier refused."""

    miner: int
    period_start: int
    deadline: int
    partition: int
    close_epoch: int
    worker: str
    error: str


def refused_proofs(refusals: Iterable[RefusalFact], epoch: int, proving_period: int) -> list[Alert]:
    return [
        Alert(
            PROOF_REFUSED,
            _deadline_labels(r.miner, r.period_start, r.deadline, partition=r.partition),
            summary=f"a proof of partition {r.partition} from worker {r.worker} did not verify",
            details={"worker": r.worker, "error": r.error},
        )
        for r in refusals
        if _recent(r.close_epoch, epoch, proving_period)
    ]


@dataclass(frozen=True)
class WorkerFact:
    name: str
    last_seen: datetime
    draining: bool
    allowed_miners: Sequence[int]  # empty: every miner
    allowed_proof_types: Sequence[int]  # empty: every proof type
    # proof type ids it refuses (its parameter files are wrong), both chain
    # ids of each size
    refused_proof_types: Sequence[int] = ()
    # the files its start-up check found wrong: {proof_type, file, problem, detail}
    param_problems: Sequence[Mapping] = ()
    # a GPU build's SNARKs that went to the CPU, as its last heartbeat said:
    # {count, gpu_snarks, current, reason, last_at}; None from a cpu build
    gpu_fallback: Mapping | None = None


def no_capable_worker(
    miners: Iterable[tuple[int, int]], workers: Iterable[WorkerFact], now: datetime, live_s: float
) -> list[Alert]:
    """The (miner actor id, WindowPoSt proof type) pairs that no live,
    undrained worker may prove."""
    live = [w for w in workers if not w.draining and (now - w.last_seen).total_seconds() <= live_s]
    out = []
    for miner, proof_type in sorted(set(miners)):
        able = [
            w.name
            for w in live
            if (not w.allowed_miners or miner in w.allowed_miners)
            and (not w.allowed_proof_types or proof_type in w.allowed_proof_types)
            and proof_type not in w.refused_proof_types
        ]
        if not able:
            out.append(
                Alert(
                    NO_WORKER,
                    {"miner": str(miner), "proof_type": str(proof_type)},
                    summary=f"no live worker can prove miner f0{miner}'s sectors "
                    f"(proof type {proof_type}); {len(live)} workers live",
                )
            )
    return out


def _size(proof_type: int) -> str:

    try:
        return PoStProofType.from_chain_id(int(proof_type)).size_name
    except Exception:
        return f"proof type {proof_type}"


def bad_worker_parameters(
    workers: Iterable[WorkerFact], now: datetime, live_s: float
) -> list[Alert]:
    """One alert per live worker and parameter file its start-up check
    found wrong (it refuses that proof type). A file that is merely absent
    pages only when the worker was told to prove that size
    (``allowed_sizes``): a worker left open to every size lacks the files
    of the sizes it is not meant for, and says so in ``prover workers
    list``; ``ProverNoWorker`` pages when nobody is left for a miner."""
    out = []
    for w in workers:
        if (now - w.last_seen).total_seconds() > live_s:
            continue
        for p in w.param_problems:
            pt = int(p.get("proof_type") or 0)
            if p.get("problem") == "missing" and pt not in w.allowed_proof_types:
                continue
            out.append(
                Alert(
                    PARAMETERS_BAD,
                    {"worker": w.name, "file": str(p.get("file", ""))},
                    summary=f"worker {w.name} refuses {_size(pt)} proofs: its parameter file "
                    f"{p.get('file')} is {p.get('problem')}",
                    details={
                        "proof_type": _size(pt),
                        "problem": str(p.get("problem", "")),
                        "detail": str(p.get("detail", "")),
                    },
                )
            )
    return out


def gpu_fallbacks(workers: Iterable[WorkerFact], now: datetime, live_s: float) -> list[Alert]:
    """A live worker of a GPU build whose latest SNARK ran on the CPU: no
    GPU kernel ran (no device visible, a driver too old for the build's
    kernels) or one failed mid-proof. Its proofs still verify, so nothing
    else pages, but each takes many times longer: a 32GiB partition close to
    a deadline's 30 minutes. Critical; resolved by the worker's next SNARK
    on the GPU (or when it is no longer live, which other alerts cover)."""
    out = []
    for w in workers:
        fb = w.gpu_fallback or {}
        if not fb.get("current") or (now - w.last_seen).total_seconds() > live_s:
            continue
        count, on_gpu = int(fb.get("count") or 0), int(fb.get("gpu_snarks") or 0)
        out.append(
            Alert(
                GPU_FALLBACK,
                {"worker": w.name},
                summary=f"worker {w.name} proves on the CPU: its GPU build's latest SNARK fell "
                f"back ({count} since it started, {on_gpu} on the GPU): {fb.get('reason') or '?'}",
                details={
                    "reason": str(fb.get("reason") or ""),
                    "count": str(count),
                    "gpu_snarks": str(on_gpu),
                    "last_at": str(fb.get("last_at") or ""),
                    "fix": "prover doctor --role worker on that host (its GPU proof check)",
                },
            )
        )
    return out


def bad_manager_parameters(
    manager: str, problems: Iterable[Mapping], in_use: Iterable[int] = ()
) -> list[Alert]:
    """The manager's own verifying keys found wrong at its start (it cannot
    verify those proof types' proofs, so their results wait in the
    workers' spools): one alert per file, labelled with the manager's name.
    An absent key pages only for a proof type some miner or job uses. Every
    manager verifies the results sent to it, so a standby raises these too
    (a kind of its own, kept apart from what the leader raises)."""
    used = {max(PoStProofType.same_size_ids(t)) for t in in_use}  # V1 ids as V1_1
    out = []
    for p in problems:
        pt = int(p.get("proof_type") or 0)
        if p.get("problem") == "missing" and pt not in used:
            continue
        out.append(
            Alert(
                MANAGER_PARAMETERS_BAD,
                {"manager": manager, "file": str(p.get("file", ""))},
                summary=f"manager {manager} cannot verify {_size(pt)} proofs: its verifying "
                f"key {p.get('file')} is {p.get('problem')}",
                details={
                    "proof_type": _size(pt),
                    "problem": str(p.get("problem", "")),
                    "detail": str(p.get("detail", "")),
                },
            )
        )
    return out


def low_balances(balances: Mapping[str, int], threshold: int) -> list[Alert]:
    """Senders whose balance is under ``threshold`` attoFIL."""
    return [
        Alert(
            LOW_BALANCE,
            {"sender": sender},
            summary=f"sender {sender} holds {fil(balance)}, under {fil(threshold)}",
            details={"balance": str(balance), "threshold": str(threshold)},
            severity="warning",
        )
        for sender, balance in sorted(balances.items())
        if balance < threshold
    ]


def head_stalled(
    head_epoch: int | None, seconds_since_change: float, epoch_seconds: float, epochs: int
) -> list[Alert]:
    """The chain head has not moved for ``epochs`` epochs (a node stuck or
    out of sync: no deadline is seen to open)."""
    if seconds_since_change < epochs * epoch_seconds:
        return []
    return [
        Alert(
            HEAD_STALLED,
            {},
            summary=f"the chain head has not moved for {seconds_since_change:.0f} s "
            f"(at epoch {head_epoch})",
        )
    ]


@dataclass(frozen=True)
class StorageHostFact:
    name: str
    address: str
    storages: Sequence[str]
    last_seen: datetime


def silent_storage_hosts(
    hosts: Iterable[StorageHostFact], now: datetime, live_s: float
) -> list[Alert]:
    """Storage hosts that stopped announcing themselves: the sectors of
    their storages are read by no one else (unless another host serves them,
    said in the alert), so they will be skipped from proofs."""
    hosts = list(hosts)
    live = [h for h in hosts if (now - h.last_seen).total_seconds() <= live_s]
    out = []
    for h in hosts:
        silent_for = (now - h.last_seen).total_seconds()
        if silent_for <= live_s:
            continue
        orphaned = sorted(s for s in h.storages if not any(s in o.storages for o in live))
        summary = f"storage host {h.name} ({h.address}) silent for {silent_for:.0f} s"
        if orphaned:
            summary += f"; no other host serves {', '.join(orphaned)}"
        out.append(
            Alert(
                STORAGE_HOST_SILENT,
                {"host": h.name},
                summary=summary,
                details={"storages": ",".join(h.storages), "unserved": ",".join(orphaned)},
                severity="critical" if orphaned else "warning",
            )
        )
    return out


def no_leader(holder: str, expires_at: datetime, now: datetime, ttl_s: float) -> list[Alert]:
    """Nobody has done the chain work for longer than a lease period: the
    lease ran out more than ``ttl_s`` ago and no manager took it (all
    stopped, or none reaches the database). Every manager checks this, so
    that it is raised even when the leader is the one that is gone."""
    lapsed = (now - expires_at).total_seconds()
    if lapsed <= ttl_s:
        return []
    last = f"manager {holder}" if holder else "never held"
    return [
        Alert(
            NO_LEADER,
            {},
            summary=f"no manager has led for {lapsed:.0f}s (the last lease: {last}): nothing "
            "follows the chain, plans, submits or declares recoveries",
            details={"last_leader": holder or "", "lease_expired_at": expires_at.isoformat()},
        )
    ]


@dataclass(frozen=True)
class ShadowFact:
    """A partition compared in shadow mode (a settled ``ShadowRow``)."""

    miner: int
    period_start: int
    deadline: int
    partition: int
    close_epoch: int
    outcome: str  # both, ours_only, chain_only, neither
    ready_epoch: int | None
    chain_epoch: int | None
    chain_sender: str
    chain_cid: str


def shadow_differences(facts: Iterable[ShadowFact], epoch: int, proving_period: int) -> list[Alert]:
    """Where shadow mode and the existing system disagreed: we would have
    missed a partition its PoSt proved (a warning: switching now would lose
    it), or we were ready where it failed (information, the case for us)."""
    out = []
    for f in facts:
        if not _recent(f.close_epoch, epoch, proving_period):
            continue
        labels = _deadline_labels(f.miner, f.period_start, f.deadline, partition=f.partition)
        if f.outcome == "chain_only":
            ready = (
                f"ours was ready only at epoch {f.ready_epoch}"
                if f.ready_epoch is not None
                else "ours was never ready"
            )
            out.append(
                Alert(
                    SHADOW_WOULD_MISS,
                    labels,
                    summary=f"shadow mode would have missed partition {f.partition} of deadline "
                    f"{f.deadline}: the chain's own PoSt landed at epoch {f.chain_epoch}, "
                    f"{ready} (Close {f.close_epoch})",
                    details={"chain_cid": f.chain_cid, "chain_sender": f.chain_sender},
                    severity="warning",
                )
            )
        elif f.outcome == "ours_only":
            out.append(
                Alert(
                    SHADOW_CHAIN_MISSED,
                    labels,
                    summary=f"the existing system did not prove partition {f.partition} of "
                    f"deadline {f.deadline}; shadow mode was ready at epoch {f.ready_epoch} "
                    f"(Close {f.close_epoch})",
                    details={"chain_cid": f.chain_cid},
                    severity="info",
                )
            )
    return out


@dataclass(frozen=True)
class DisputeFact:
    """A dispute that landed against a PoSt of ours (a ``DisputeRow``)."""

    miner: int
    period_start: int
    deadline: int
    post_index: int
    partitions: Sequence[int]
    dispute_cid: str
    disputer: str
    epoch: int  # where it executed
    post_cid: str  # ours ("" when the PoSt it named was not)
    workers: Sequence[str]


def disputed_posts(facts: Iterable[DisputeFact], epoch: int, proving_period: int) -> list[Alert]:
    """A PoSt of ours that the chain, on dispute, found invalid: a proof we
    verified before sending failed the chain's verifier, so something is
    deeply wrong (a bug, a corrupt parameter file or verifying key, a
    compromised worker) and may do it again. Critical; held for a proving
    period after the dispute landed."""
    out = []
    for f in facts:
        if not _recent(f.epoch, epoch, proving_period):
            continue
        parts = ", ".join(map(str, f.partitions)) or "unknown"
        workers = ", ".join(f.workers) or "unknown"
        out.append(
            Alert(
                POST_DISPUTED,
                _deadline_labels(f.miner, f.period_start, f.deadline, dispute_cid=f.dispute_cid),
                summary=f"a PoSt of miner f0{f.miner} for deadline {f.deadline} was disputed on "
                f"chain at epoch {f.epoch} and found invalid: partitions {parts} are faulty and "
                f"the miner was penalised. Find what made it (workers: {workers}): drain them, "
                "run prover params check on them and on the manager; the sectors are declared "
                "recovered once they prove again",
                details={
                    "dispute_cid": f.dispute_cid,
                    "disputer": f.disputer,
                    "post_index": str(f.post_index),
                    "post_cid": f.post_cid,
                    "partitions": ",".join(map(str, f.partitions)),
                    "workers": ",".join(f.workers),
                    "epoch": str(f.epoch),
                },
            )
        )
    return out
