"""``prover jobs ...`` and ``prover workers ...``: operator commands that
speak only AdminService."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import click

from prover._proto import manager_pb2 as pb
from prover.api.client import ManagerClient
from prover.api.convert import (
    from_timestamp,
    gpu_fallback_from_pb,
    gpu_to_dict,
    new_job_to_pb,
    param_problems_from_pb,
    timings_from_pb,
)
from prover.api.jobfile import parse_job_file
from prover.cli.common import ago, api_option, call, connect, elapsed, print_table
from prover.cli.leader import leader_line
from prover.store import InvalidJob


def job_json(job: pb.Job, *, sectors: bool = False) -> dict:
    """A job as ``--json`` prints it; its sectors only when asked for."""

    def ts(name):
        value = from_timestamp(job, name)
        return value.isoformat() if value else None

    return {
        "id": job.id,
        "miner": job.miner,
        "proof_type": job.proof_type,
        "period_start": job.period_start,
        "deadline": job.deadline,
        "partition": job.partition,
        "generation": job.generation,
        "challenge_epoch": job.challenge_epoch if job.HasField("challenge_epoch") else None,
        "open_epoch": job.open_epoch if job.HasField("open_epoch") else None,
        "close_epoch": job.close_epoch if job.HasField("close_epoch") else None,
        "randomness": job.randomness.hex(),
        "sector_count": job.sector_count,
        "skipped": list(job.skipped),
        "state": job.state,
        "tries": job.tries,
        "max_tries": job.max_tries,
        "attempt": job.attempt,
        "worker": job.worker or None,
        "created_at": ts("created_at"),
        "updated_at": ts("updated_at"),
        "started_at": ts("started_at"),
        "heartbeat_at": ts("heartbeat_at"),
        "finished_at": ts("finished_at"),
        "error": job.error or None,
        "proof": job.proof.hex() if job.proof else None,
        "faulty": list(job.faulty),
        "timings": timings_from_pb(job.timings) if job.HasField("timings") else None,
        "dry_run": job.dry_run,
    } | ({"sectors": [sector_json(s) for s in job.sectors]} if sectors else {})


def sector_json(s: pb.SectorRef) -> dict:
    return {
        "id": s.id,
        "comm_r": s.comm_r.hex(),
        "sealed_storage": s.sealed_storage,
        "cache_storage": s.cache_storage,
        "upgraded": s.upgraded,
    }


def list_all(client: ManagerClient, request: pb.ListJobsRequest, limit: int = 0) -> list[pb.Job]:
    """Every job the request matches, page by page (``limit`` > 0: at most that many)."""
    jobs: list[pb.Job] = []
    for page in pages(client, request):
        jobs += page.jobs
        if limit and len(jobs) >= limit:
            break
    return jobs[:limit] if limit else jobs


def pages(client: ManagerClient, request: pb.ListJobsRequest) -> Iterator[pb.ListJobsResponse]:
    """The pages of a listing, the next one asked for while the caller works
    on this one: at 50,000 jobs the manager's paging and this process'
    formatting then share the time instead of adding up."""
    with ThreadPoolExecutor(1) as ahead:
        page = call(client, client.admin.ListJobs, request)
        while True:
            following = None
            if page.next_page_token:
                request.page_token = page.next_page_token
                following = ahead.submit(call, client, client.admin.ListJobs, request)
            yield page
            if following is None:
                return
            page = following.result()


def json_lines(items: list[str]) -> str:
    """A JSON array of already encoded items, one per line. The standard
    library encodes with its C encoder only without ``indent``: for the
    50,000 jobs of a large provider that is seconds saved, and each line is
    still one job."""
    return "[\n" + ",\n".join(items) + "\n]" if items else "[]"


@click.group("jobs")
def jobs_group() -> None:
    """Proving jobs on the manager."""


@jobs_group.command("list")
@click.option("--all", "all_", is_flag=True, help="Include succeeded and expired jobs.")
@click.option("--state", "states", multiple=True, help="Only jobs in this state (repeatable).")
@click.option("--miner", type=int, default=None)
@click.option("--deadline", type=int, default=None)
@click.option("--detail", is_flag=True, help="More columns.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--sectors", is_flag=True, help="With --json: each job's sectors too.")
@click.option(
    "--limit", type=click.IntRange(min=0), default=0, help="At most this many jobs (0: all)."
)
@api_option
def jobs_list(all_, states, miner, deadline, detail, as_json, sectors, limit, api, api_ca):
    """Unfinished and failed jobs (all of them with --all), earliest close first."""
    if sectors and not as_json:
        raise click.UsageError("--sectors goes with --json (or see `prover jobs show ID`)")
    req = pb.ListJobsRequest(
        states=list(states), all=all_, include_proof=as_json, include_sectors=sectors
    )
    if limit:
        req.page_size = min(limit, 1000)
    if miner is not None:
        req.miner = miner
    if deadline is not None:
        req.deadline = deadline
    if as_json:  # formatted page by page, while the next one is on its way
        lines: list[str] = []
        with connect(api, api_ca) as client:
            for page in pages(client, req):
                lines += (json.dumps(job_json(j, sectors=sectors)) for j in page.jobs)
                if limit and len(lines) >= limit:
                    break
        click.echo(json_lines(lines[:limit] if limit else lines))
        return
    with connect(api, api_ca) as client:
        jobs = list_all(client, req, limit)
    now = datetime.now(UTC)
    headers = [
        "JobID",
        "Miner",
        "DDL",
        "Partition",
        "Sectors",
        "Worker",
        "State",
        "Try",
        "CreatedAt",
        "Elapsed",
        "Heartbeat",
        "Error",
    ]
    if detail:
        headers[1:1] = []
        headers += ["Attempt", "PeriodStart", "Close", "Skipped", "Faulty"]
    rows = []
    for j in jobs:
        tries = f"{j.tries}" + (" (max)" if j.tries >= j.max_tries else "")
        created = from_timestamp(j, "created_at")
        row = [
            str(j.id),
            f"f0{j.miner}",
            str(j.deadline),
            str(j.partition),
            str(j.sector_count),
            j.worker or "-",
            j.state + (" (dry run)" if j.dry_run else ""),
            tries,
            created.strftime("%Y-%m-%d %H:%M:%S") if created else "-",
            elapsed(j, now),
            ago(from_timestamp(j, "heartbeat_at"), now) if j.state == "running" else "-",
            (j.error or "")[:60],
        ]
        if detail:
            row += [
                str(j.attempt),
                str(j.period_start),
                str(j.close_epoch) if j.HasField("close_epoch") else "-",
                ",".join(map(str, j.skipped)) or "-",
                ",".join(map(str, j.faulty)) or "-",
            ]
        rows.append(row)
    print_table(headers, rows)


@jobs_group.command("show")
@click.argument("ids", nargs=-1, type=click.IntRange(min=1), required=True)
@api_option
def jobs_show(ids, api, api_ca):
    """Jobs in full, as JSON: every sector, the proof, the step timings."""
    req = pb.ListJobsRequest(ids=ids, all=True, include_proof=True, include_sectors=True)
    with connect(api, api_ca) as client:
        jobs = list_all(client, req)
    if missing := sorted(set(ids) - {j.id for j in jobs}):
        click.echo(f"unknown job(s): {', '.join(map(str, missing))}", err=True)
    click.echo(json.dumps([job_json(j, sectors=True) for j in jobs], indent=1))
    if missing:
        raise SystemExit(1)


def _report(results: pb.JobResultsResponse, verb: str) -> None:
    failed = False
    for r in results.results:
        if r.ok:
            click.echo(f"{r.id}: {verb}")
        else:
            failed = True
            click.echo(f"{r.id}: not {verb}: {r.reason}", err=True)
    if failed:
        raise SystemExit(1)


@jobs_group.command("reset")
@click.argument("ids", nargs=-1, type=click.IntRange(min=1), required=True)
@api_option
def jobs_reset(ids, api, api_ca):
    """Put jobs back to ready with the try count at 0."""
    with connect(api, api_ca) as client:
        _report(call(client, client.admin.ResetJobs, pb.JobIdsRequest(ids=ids)), "reset")


@jobs_group.command("remove")
@click.argument("ids", nargs=-1, type=click.IntRange(min=1), required=True)
@api_option
def jobs_remove(ids, api, api_ca):
    """Delete jobs."""
    with connect(api, api_ca) as client:
        _report(call(client, client.admin.RemoveJobs, pb.JobIdsRequest(ids=ids)), "removed")


@jobs_group.command("remove-all")
@click.option("--really-do-it", is_flag=True, help="Required: this deletes every job.")
@api_option
def jobs_remove_all(really_do_it, api, api_ca):
    """Delete every job."""
    if not really_do_it:
        raise click.UsageError("this deletes every job; pass --really-do-it")
    with connect(api, api_ca) as client:
        results = call(client, client.admin.RemoveJobs, pb.JobIdsRequest(all=True))
    click.echo(f"removed {len(results.results)} jobs")


@jobs_group.command("add")
@click.option(
    "--from-json",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="A JSON object or a list of them.",
)
@api_option
def jobs_add(path, api, api_ca):
    """Put jobs in by hand; prints the new job ids."""
    try:
        specs = parse_job_file(path.read_text())
    except InvalidJob as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    try:
        batches = add_batches([new_job_to_pb(s) for s in specs])
    except ValueError as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    added = 0
    with connect(api, api_ca) as client:
        for batch in batches:
            try:
                resp = call(client, client.admin.AddJobs, pb.AddJobsRequest(jobs=batch))
            except click.ClickException as exc:
                if added:  # adding is idempotent: the same file again adds the rest
                    exc.message += (
                        f" (the first {added} jobs of the file were added; adding the file"
                        " again adds the rest and does not repeat them)"
                    )
                raise
            added += len(batch)
            for job_id in resp.ids:
                click.echo(job_id)


# Under the manager's default 4 MiB message limit, with room for the envelope.
ADD_BATCH_BYTES = 3 << 20


def add_batches(jobs: list[pb.NewJob], budget: int = ADD_BATCH_BYTES) -> list[list[pb.NewJob]]:
    """The jobs in order, cut into AddJobs requests of at most ``budget``
    bytes each (a 32GiB job is about 140 kB)."""
    out: list[list[pb.NewJob]] = []
    used = 0
    for i, job in enumerate(jobs):
        cost = job.ByteSize() + 8
        if cost > budget:
            raise ValueError(f"job {i} alone is {cost} bytes, over the {budget}-byte request limit")
        if not out or used + cost > budget:
            out.append([])
            used = 0
        out[-1].append(job)
        used += cost
    return out


@click.group("workers")
def workers_group() -> None:
    """Workers known to the manager."""


@workers_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@api_option
def workers_list(as_json, api, api_ca):
    """Registered workers, their GPUs and running jobs."""
    with connect(api, api_ca) as client:
        resp = call(client, client.admin.ListWorkers, pb.ListWorkersRequest())
    workers = resp.workers
    now = datetime.now(UTC)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": w.name,
                        "host": w.host,
                        "version": w.version,
                        "build": w.build or None,
                        "driver_required": w.driver_required or None,
                        "api_version": w.api_version or 1,
                        "cpus": w.cpus,
                        "cpuset": w.cpuset,
                        "draining": w.draining,
                        "running_jobs": list(w.running_jobs),
                        "allowed_miners": list(w.allowed_miners),
                        "allowed_proof_types": list(w.allowed_proof_types),
                        "param_problems": param_problems_from_pb(w.param_problems),
                        "refused_sizes": _refused_sizes(w),
                        "gpus": [gpu_to_dict(g) for g in w.gpus],
                        "gpu_fallback": gpu_fallback_from_pb(w.gpu_fallback)
                        if w.HasField("gpu_fallback")
                        else None,
                        "last_seen_at": from_timestamp(w, "last_seen_at").isoformat(),
                    }
                    for w in workers
                ],
                indent=1,
            )
        )
        return
    rows = []
    for w in workers:
        gpus = (
            ", ".join(f"{g.index}:{g.name} {g.utilization}% {g.temperature}C" for g in w.gpus)
            or "none (CPU)"
        )
        if w.HasField("gpu_fallback") and w.gpu_fallback.current:
            gpus += " FALLING BACK TO CPU"
        rows.append(
            [
                w.name,
                w.host,
                w.version or "-",
                _build(w),
                "draining" if w.draining else "active",
                ",".join(map(str, w.running_jobs)) or "-",
                gpus,
                "refuses " + ",".join(_refused_sizes(w)) if w.param_problems else "ok",
                ago(from_timestamp(w, "last_seen_at"), now),
            ]
        )
    print_table(
        ["Name", "Host", "Version", "Build", "State", "Jobs", "GPUs", "Params", "LastSeen"], rows
    )
    for w in workers:
        for line in _param_problem_lines(w):
            click.echo(line)
        if w.HasField("gpu_fallback") and w.gpu_fallback.count:
            click.echo(_fallback_line(w))
    if resp.leader.managers:
        click.echo(leader_line(resp.leader))


def _fallback_line(w: pb.Worker) -> str:
    """A GPU build's SNARKs that ran on the CPU (many times slower), as its
    latest heartbeat reported them."""
    fb = w.gpu_fallback
    state = "its latest SNARK too" if fb.current else "not its latest"
    return (
        f"{w.name}: {fb.count} SNARK(s) fell back to the CPU, {fb.gpu_snarks} ran on the GPU "
        f"({state}): {fb.reason or 'no reason given'}"
    )


def _build(w: pb.Worker) -> str:
    """``cpu``, ``cuda (driver >= 580.65.06)``, or ``?`` for a 0.1.0 worker
    (it does not say)."""
    if not w.build:
        return "?"
    return f"{w.build} (driver >= {w.driver_required})" if w.driver_required else w.build


def _size_name(proof_type: int) -> str:
    from prover.proofs.types import PoStProofType

    try:
        return PoStProofType.from_chain_id(proof_type).size_name
    except ValueError:
        return str(proof_type)


def _refused_sizes(w: pb.Worker) -> list[str]:
    types = sorted({p.proof_type for p in w.param_problems})
    return [_size_name(t) for t in types]


def _param_problem_lines(w: pb.Worker) -> list[str]:
    """Which file makes a worker refuse which size: one line per file found
    wrong, one for the sizes it has no files for at all."""
    lines, absent = [], []
    by_type: dict[int, list] = {}
    for p in w.param_problems:
        by_type.setdefault(p.proof_type, []).append(p)
    for t, problems in sorted(by_type.items()):
        if all(p.problem == "missing" for p in problems) and len(problems) > 1:
            absent.append(_size_name(t))
            continue
        for p in problems:
            why = f"{p.problem}: {p.detail}" if p.detail else p.problem
            lines.append(f"{w.name} refuses {_size_name(t)}: {p.file} {why}")
    if absent:
        lines.append(f"{w.name} has no parameter files for {', '.join(absent)}")
    return lines


@workers_group.command("drain")
@click.argument("name")
@api_option
def workers_drain(name, api, api_ca):
    """Stop a worker claiming; it finishes or hands back what it holds."""
    with connect(api, api_ca) as client:
        call(client, client.admin.DrainWorker, pb.DrainWorkerRequest(name=name))
    click.echo(f"{name}: draining")
