"""What ``prover deadlines`` shows: per miner the current and next deadline
from the chain, each partition's job and message, and the recent misses,
built from the tracker's chain reads and the job store."""

from __future__ import annotations

from prover._proto import manager_pb2 as pb
from prover.api.convert import message_to_pb, miss_to_pb
from prover.chain.deadlines import DeadlineInfo
from prover.store import MessageKind
from prover.store.models import JobRow, MessageRow, MissRow
from prover.tracker import Tracker


def _partition(job: JobRow, posts: list[MessageRow], miss: MissRow | None) -> pb.PartitionStatus:
    carrying = [m for m in posts if job.partition in m.partitions]
    last = carrying[-1] if carrying else None
    return pb.PartitionStatus(
        partition=job.partition,
        job_id=job.id,
        job_state=job.state,
        generation=job.generation,
        sectors=job.sector_count,
        skipped=job.skipped,
        faulty=job.faulty,
        worker=job.worker or "",
        message_cid=last.cid if last else "",
        message_state=last.state if last else "",
        error=miss.reason if miss else (job.error or ""),
    )


def deadline_status(tracker: Tracker, miner: int, d: DeadlineInfo) -> pb.DeadlineStatus:
    latest = tracker.jobs.latest_deadline_jobs(miner, d.period_start, d.index)
    messages = tracker.ledger.deadline_messages(miner, d.period_start, d.index)
    posts = [m for m in messages if m.kind == MessageKind.POST]
    misses = {
        m.partition: m
        for m in tracker.ledger.list_misses(miner, period_start=d.period_start, deadline=d.index)
    }
    partitions = [_partition(j, posts, misses.get(p)) for p, j in sorted(latest.items())]
    partitions += [
        pb.PartitionStatus(partition=p, sectors=len(m.sectors), error=m.reason)
        for p, m in sorted(misses.items())
        if p not in latest
    ]
    return pb.DeadlineStatus(
        miner=miner,
        index=d.index,
        period_start=d.period_start,
        challenge=d.challenge,
        open=d.open,
        close=d.close,
        fault_cutoff=d.fault_cutoff,
        is_open=d.is_open(),
        seconds_to_close=d.seconds_until_close(),
        partitions=sorted(partitions, key=lambda p: p.partition),
        messages=[message_to_pb(m) for m in messages],
        submit_error=tracker.submitter.push_errors.get((miner, d.period_start, d.index), ""),
    )


def deadlines_view(tracker: Tracker, miner: int | None, misses: int = 20) -> pb.DeadlinesResponse:
    miners = tracker.config.miners if miner is None else [miner]
    out = pb.DeadlinesResponse()
    for m in miners:
        current = tracker.client.state_miner_proving_deadline(m).info
        out.current_epoch = current.current_epoch
        for d in (current, current.next()):
            out.deadlines.append(deadline_status(tracker, m, d))
    out.misses.extend(miss_to_pb(x) for x in tracker.ledger.list_misses(miner, limit=misses))
    return out
