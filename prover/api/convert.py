"""Between protobuf messages and our records, in one place both sides use:
the manager's servicers, the worker and the CLI. Each record crosses the
wire in exactly one way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp

from prover._proto import manager_pb2 as pb
from prover.proofs.layout import SectorRef
from prover.store.specs import NewJobSpec

if TYPE_CHECKING:
    from prover.alerts.book import Alert
    from prover.store.ledger import Miss
    from prover.store.models import JobRow, MessageRow, MissRow, StorageHostRow, WorkerRow


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def from_timestamp(msg, field: str) -> datetime | None:
    if not msg.HasField(field):
        return None
    return getattr(msg, field).ToDatetime(tzinfo=UTC)


# ---- sectors ---------------------------------------------------------------------


def sector_to_pb(s: SectorRef) -> pb.SectorRef:
    return pb.SectorRef(
        id=s.id,
        comm_r=s.comm_r,
        sealed_storage=s.sealed_storage,
        cache_storage=s.cache_storage,
        upgraded=s.upgraded,
    )


def sector_from_pb(msg: pb.SectorRef) -> SectorRef:
    return SectorRef(msg.id, msg.comm_r, msg.sealed_storage, msg.cache_storage, msg.upgraded)


# ---- step timings and GPUs -------------------------------------------------------

TIMING_STEPS = ("challenges", "vanilla", "snark", "total")


def timings_to_pb(timings: dict) -> pb.StepTimings:
    return pb.StepTimings(**{k: float(timings.get(k, 0.0)) for k in TIMING_STEPS})


def timings_from_pb(msg: pb.StepTimings) -> dict[str, float]:
    return {k: getattr(msg, k) for k in TIMING_STEPS}


def gpu_to_dict(g: pb.GpuInfo) -> dict:
    return {
        "index": g.index,
        "name": g.name,
        "uuid": g.uuid,
        "memory_total": g.memory_total,
        "memory_used": g.memory_used,
        "utilization": g.utilization,
        "temperature": g.temperature,
    }


def gpu_fallback_to_pb(
    count: int, gpu_snarks: int, current: bool, reason: str, last_at: datetime | None
) -> pb.GpuFallback:
    msg = pb.GpuFallback(count=count, gpu_snarks=gpu_snarks, current=current, reason=reason)
    if last_at is not None:
        msg.last_at.FromDatetime(last_at)
    return msg


def gpu_fallback_from_pb(msg: pb.GpuFallback) -> dict:
    """A worker's report as the workers table keeps it (JSON)."""
    return {
        "count": msg.count,
        "gpu_snarks": msg.gpu_snarks,
        "current": msg.current,
        "reason": msg.reason[:2000],
        "last_at": msg.last_at.ToDatetime(tzinfo=UTC).isoformat()
        if msg.HasField("last_at")
        else None,
    }


# ---- jobs --------------------------------------------------------------------------


def job_to_pb(job: JobRow, *, include_proof: bool = True, include_sectors: bool = True) -> pb.Job:
    """A job on the wire; without ``include_sectors``/``include_proof`` those
    columns are not touched (a listing does not read them)."""
    msg = pb.Job(
        id=job.id,
        miner=job.miner,
        proof_type=job.proof_type,
        period_start=job.period_start,
        deadline=job.deadline,
        partition=job.partition,
        generation=job.generation,
        randomness=job.randomness,
        sectors=[sector_to_pb(s) for s in job.sectors] if include_sectors else [],
        sector_count=job.sector_count,
        skipped=job.skipped,
        state=job.state,
        tries=job.tries,
        max_tries=job.max_tries,
        attempt=job.attempt,
        worker=job.worker or "",
        error=job.error or "",
        proof=(job.proof or b"") if include_proof else b"",
        faulty=job.faulty,
        dry_run=job.dry_run,
    )
    for name in ("challenge_epoch", "open_epoch", "close_epoch"):
        value = getattr(job, name)
        if value is not None:
            setattr(msg, name, value)
    if job.timings:
        msg.timings.CopyFrom(timings_to_pb(job.timings))
    for name in ("created_at", "updated_at", "started_at", "heartbeat_at", "finished_at"):
        value = getattr(job, name)
        if value is not None:
            getattr(msg, name).FromDatetime(value)
    return msg


def new_job_from_pb(msg: pb.NewJob) -> NewJobSpec:
    return NewJobSpec(
        miner=msg.miner,
        proof_type=msg.proof_type,
        period_start=msg.period_start,
        deadline=msg.deadline,
        partition=msg.partition,
        challenge_epoch=msg.challenge_epoch if msg.HasField("challenge_epoch") else None,
        open_epoch=msg.open_epoch if msg.HasField("open_epoch") else None,
        close_epoch=msg.close_epoch if msg.HasField("close_epoch") else None,
        randomness=msg.randomness,
        sectors=[sector_from_pb(s) for s in msg.sectors],
        skipped=list(msg.skipped),
        max_tries=msg.max_tries if msg.HasField("max_tries") else None,
    )


def new_job_to_pb(spec: NewJobSpec) -> pb.NewJob:
    msg = pb.NewJob(
        miner=spec.miner,
        proof_type=spec.proof_type,
        period_start=spec.period_start,
        deadline=spec.deadline,
        partition=spec.partition,
        randomness=spec.randomness,
        sectors=[sector_to_pb(s) for s in spec.sectors],
        skipped=list(spec.skipped),
    )
    for name in ("challenge_epoch", "open_epoch", "close_epoch", "max_tries"):
        value = getattr(spec, name)
        if value is not None:
            setattr(msg, name, value)
    return msg


# ---- workers -----------------------------------------------------------------------


def worker_to_pb(w: WorkerRow, running: list[int]) -> pb.Worker:
    msg = pb.Worker(
        name=w.name,
        host=w.host,
        version=w.version,
        gpus=[pb.GpuInfo(**g) for g in w.gpus],
        cpus=w.cpus,
        cpuset=w.cpuset,
        allowed_miners=w.allowed_miners,
        allowed_proof_types=w.allowed_proof_types,
        draining=w.draining,
        running_jobs=running,
        param_problems=param_problems_to_pb(w.param_problems or ()),
        build=w.build or "",
        driver_required=w.driver_required or "",
        api_version=w.api_version or 0,
    )
    msg.registered_at.CopyFrom(timestamp(w.registered_at))
    msg.last_seen_at.CopyFrom(timestamp(w.last_seen_at))
    if w.gpu_fallback:
        fb = w.gpu_fallback
        last_at = datetime.fromisoformat(fb["last_at"]) if fb.get("last_at") else None
        msg.gpu_fallback.CopyFrom(
            gpu_fallback_to_pb(
                fb.get("count", 0),
                fb.get("gpu_snarks", 0),
                bool(fb.get("current")),
                fb.get("reason", ""),
                last_at,
            )
        )
    return msg


# ---- parameter problems (a worker's start-up check) -------------------------------

PARAM_PROBLEM_FIELDS = ("proof_type", "file", "problem", "detail")


def param_problems_to_pb(problems) -> list[pb.ParamProblem]:
    """Dicts ({proof_type, file, problem, detail}) as messages."""
    return [
        pb.ParamProblem(
            proof_type=int(p.get("proof_type") or 0),
            file=str(p.get("file", "")),
            problem=str(p.get("problem", "")),
            detail=str(p.get("detail", "")),
        )
        for p in problems
    ]


def param_problems_from_pb(msgs) -> list[dict]:
    return [{k: getattr(m, k) for k in PARAM_PROBLEM_FIELDS} for m in msgs]


# ---- the ledger --------------------------------------------------------------------


def miss_to_pb(m: Miss | MissRow) -> pb.Miss:
    msg = pb.Miss(
        miner=m.miner,
        period_start=m.period_start,
        deadline=m.deadline,
        partition=m.partition,
        close_epoch=m.close_epoch,
        sectors=list(m.sectors),
        reason=m.reason,
    )
    ts = timestamp(getattr(m, "recorded_at", None))
    if ts is not None:
        msg.recorded_at.CopyFrom(ts)
    return msg


def message_to_pb(m: MessageRow) -> pb.ChainMessage:
    msg = pb.ChainMessage(
        cid=m.cid,
        kind=m.kind,
        deadline=m.deadline,
        partitions=m.partitions,
        state=m.state,
        pushed_epoch=m.pushed_epoch,
        error=m.error or "",
        sender=m.sender or "",
        gas_fee_cap=m.gas_fee_cap or "",
        gas_premium=m.gas_premium or "",
        replaced_cids=m.replaced_cids or [],
        base_fee=m.base_fee or "",
        fee_paid=m.fee_paid or "",
    )
    for name in ("landed_epoch", "exit_code", "nonce", "gas_limit", "gas_used"):
        value = getattr(m, name)
        if value is not None:
            setattr(msg, name, value)
    return msg


# ---- alerts ------------------------------------------------------------------------


def alert_to_pb(a: Alert) -> pb.AlertInfo:
    msg = pb.AlertInfo(
        name=a.name,
        labels=dict(a.labels),
        summary=a.summary,
        details=dict(a.details),
        severity=a.severity,
    )
    ts = timestamp(a.starts_at)
    if ts is not None:
        msg.starts_at.CopyFrom(ts)
    return msg


# ---- storage hosts -----------------------------------------------------------------


def storage_host_to_pb(h: StorageHostRow, live: bool) -> pb.StorageHost:
    msg = pb.StorageHost(
        name=h.name,
        address=h.address,
        storages=list(h.storages),
        host=h.host,
        version=h.version,
        tls=h.tls,
        live=live,
    )
    msg.registered_at.CopyFrom(timestamp(h.registered_at))
    msg.last_seen_at.CopyFrom(timestamp(h.last_seen_at))
    return msg


def shadow_to_pb(row) -> pb.ShadowPartition:
    """A ``ShadowRow`` (prover.store.models) on the wire."""
    out = pb.ShadowPartition(
        miner=row.miner,
        period_start=row.period_start,
        deadline=row.deadline,
        partition=row.partition,
        open=row.open_epoch,
        close=row.close_epoch,
        job_id=row.job_id or 0,
        skipped=row.skipped,
        chain_cid=row.chain_cid,
        chain_sender=row.chain_sender,
        chain_faulty=row.chain_faulty,
        outcome=row.outcome,
    )
    for field in ("ready_epoch", "chain_epoch", "chain_exit_code"):
        if getattr(row, field) is not None:
            setattr(out, field, getattr(row, field))
    return out
