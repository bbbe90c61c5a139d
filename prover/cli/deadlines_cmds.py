"""``prover deadlines``: the chain tracker's view of each miner's current and
next deadline, and ``prover deadlines prove``, a dry run of one deadline
through the real workers."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import click
from google.protobuf.json_format import MessageToDict

from prover._proto import manager_pb2 as pb
from prover.api.convert import from_timestamp
from prover.chain.message import fil
from prover.cli.common import api_option, call, connect, elapsed, print_table
from prover.cli.leader import leader_line
from prover.store.states import FINISHED_STATES


def _miss_line(m: pb.Miss) -> str:
    recorded = from_timestamp(m, "recorded_at")
    when = recorded.strftime("%Y-%m-%d %H:%M:%SZ") if recorded else "-"
    return (
        f"  {when}  miner t0{m.miner} deadline {m.deadline} partition {m.partition} "
        f"(closed at epoch {m.close_epoch}, {len(m.sectors)} sectors): {m.reason}"
    )


def _print_deadline(d: pb.DeadlineStatus) -> None:
    when = f"OPEN, {d.seconds_to_close:.0f}s to close" if d.is_open else f"opens at {d.open}"
    click.echo(
        f"miner t0{d.miner} deadline {d.index} (period {d.period_start}; challenge {d.challenge}, "
        f"open {d.open}, close {d.close}, fault cutoff {d.fault_cutoff}): {when}"
    )
    if not d.partitions:
        click.echo("  no jobs yet")
    rows = [
        [
            str(p.partition),
            str(p.job_id or "-"),
            p.job_state or "-",
            str(p.sectors),
            ",".join(map(str, p.skipped)) or "-",
            ",".join(map(str, p.faulty)) or "-",
            p.worker or "-",
            (p.message_cid[:20] + "... " + p.message_state) if p.message_cid else "-",
            p.error or "",
        ]
        for p in d.partitions
    ]
    if rows:
        print_table(
            [
                "  PART",
                "JOB",
                "STATE",
                "SECTORS",
                "SKIPPED",
                "FAULTY",
                "WORKER",
                "MESSAGE",
                "NOTE",
            ],
            [["  " + r[0], *r[1:]] for r in rows],
        )
    for m in d.messages:
        what = "recovery declared in" if m.kind == "recovery" else "PoSt in"
        gas = ""
        if m.HasField("gas_limit"):
            gas = (
                f", from {m.sender} nonce {m.nonce}, gas limit {m.gas_limit}, "
                f"fee cap {m.gas_fee_cap}, premium {m.gas_premium}"
            )
        if m.HasField("gas_used"):
            gas += f", gas used {m.gas_used}"
        if m.fee_paid:
            gas += f", fee paid {fil(int(m.fee_paid))} at base fee {m.base_fee}"
        if m.replaced_cids:
            gas += f", replaced {len(m.replaced_cids)}x by fee"
        click.echo(f"  {what} {m.cid[:20]}... (partitions {list(m.partitions)}): {m.state}{gas}")
    if d.submit_error:
        click.echo(f"  SUBMIT FAILED: {d.submit_error}")


OUTCOME_WORDS = {
    "both": "both proved it",
    "ours_only": "OURS ONLY: ready, the chain has no PoSt",
    "chain_only": "WE WOULD HAVE MISSED: the chain's own PoSt landed",
    "neither": "missed by both",
    "": "open (compared at Close)",
}


def shadow_verdict(p: pb.ShadowPartition) -> str:
    """One partition's comparison in words, with the margins an SP weighs:
    ours before Close, and before the existing system's message."""
    words = OUTCOME_WORDS.get(p.outcome, p.outcome)
    notes = []
    if p.HasField("ready_epoch"):
        notes.append(f"{p.close - p.ready_epoch} epochs before Close")
        if p.HasField("chain_epoch"):
            ahead = p.chain_epoch - p.ready_epoch
            notes.append(
                f"{ahead} epochs before the chain's PoSt"
                if ahead >= 0
                else f"{-ahead} epochs after the chain's PoSt"
            )
    if p.skipped:
        agree = set(p.skipped) <= set(p.chain_faulty)
        notes.append(
            f"we skipped {len(p.skipped)} sectors"
            + (" (faulty on chain too)" if agree else " the chain does not count faulty")
        )
    return words + (f"; {', '.join(notes)}" if notes else "")


def _print_shadow(resp: pb.ShadowResponse) -> None:
    click.echo(
        "shadow mode" if resp.shadow else "this manager runs live (rows from its shadow runs)"
    )
    if not resp.partitions:
        click.echo("  no partition compared yet")
        return
    print_table(
        ["MINER", "DL", "PART", "CLOSE", "OURS READY", "CHAIN POST", "SENDER", "VERDICT"],
        [
            [
                f"t0{p.miner}",
                str(p.deadline),
                str(p.partition),
                str(p.close),
                str(p.ready_epoch) if p.HasField("ready_epoch") else "-",
                (
                    f"{p.chain_epoch} (exit {p.chain_exit_code})"
                    if p.HasField("chain_epoch")
                    else "-"
                ),
                p.chain_sender or "-",
                shadow_verdict(p),
            ]
            for p in resp.partitions
        ],
    )
    counts: dict[str, int] = {}
    for p in resp.partitions:
        counts[p.outcome or "open"] = counts.get(p.outcome or "open", 0) + 1
    click.echo("  " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


def _as_json(resp) -> str:
    return json.dumps(
        MessageToDict(
            resp, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        ),
        indent=1,
    )


@click.group("deadlines", invoke_without_command=True)
@click.option("--miner", type=int, default=None, help="One miner's actor id [default: all].")
@click.option(
    "--shadow",
    is_flag=True,
    help="Shadow mode's record: per partition, when our proof would have gone beside the "
    "chain's own PoSt, newest Close first.",
)
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@api_option
@click.pass_context
def deadlines_group(ctx, miner, shadow, limit, as_json, api, api_ca) -> None:
    """Current and next deadline per miner: partitions, jobs, messages, misses."""
    if ctx.invoked_subcommand is not None:
        return
    client = connect(api, api_ca)
    if shadow:
        request = pb.ShadowRequest(limit=limit)
        if miner is not None:
            request.miner = miner
        resp = call(client, client.admin.Shadow, request)
        if as_json:
            click.echo(_as_json(resp))
        else:
            _print_shadow(resp)
        return
    request = pb.DeadlinesRequest()
    if miner is not None:
        request.miner = miner
    resp = call(client, client.admin.Deadlines, request)
    if as_json:
        click.echo(_as_json(resp))
        return
    click.echo(f"epoch {resp.current_epoch}")
    if resp.leader.managers:
        click.echo(leader_line(resp.leader))
    for d in resp.deadlines:
        _print_deadline(d)
    if resp.misses:
        click.echo("recent misses:")
        for m in resp.misses:
            click.echo(_miss_line(m))


@deadlines_group.command("prove")
@click.option("--miner", type=int, required=True, help="The miner's actor id.")
@click.option("--deadline", type=click.IntRange(0, 47), required=True)
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--timeout", type=float, default=3600, show_default=True, help="Seconds to wait.")
@api_option
def deadlines_prove(miner, deadline, wait, timeout, api, api_ca) -> None:
    """Prove a deadline now through the workers, without submitting (a dry run).

    The proofs are verified by the manager like real ones; the command exits
    non-zero unless every partition was proven."""
    client = connect(api, api_ca)
    resp = call(
        client,
        client.admin.ProveDeadline,
        pb.ProveDeadlineRequest(miner=miner, deadline=deadline),
    )
    click.echo(
        f"miner t0{miner} deadline {deadline}: challenge of epoch {resp.challenge_epoch} "
        f"(period {resp.period_start}), jobs {list(resp.job_ids)}"
    )
    for m in resp.unprovable:
        click.echo(f"  partition {m.partition} cannot be proven: {m.reason}")
    if not wait:
        return
    ids = set(resp.job_ids)
    until = time.monotonic() + timeout
    while True:
        listed = call(
            client,
            client.admin.ListJobs,
            pb.ListJobsRequest(ids=sorted(ids), all=True),
        )
        jobs = sorted((j for j in listed.jobs if j.id in ids), key=lambda j: j.partition)
        if len(jobs) < len(ids):
            raise click.ClickException("a dry-run job was removed before it finished")
        if all(j.state in FINISHED_STATES for j in jobs):
            break
        if time.monotonic() > until:
            raise click.ClickException(f"timed out after {timeout:.0f}s; jobs {sorted(ids)}")
        time.sleep(1.0)
    now = datetime.now(UTC)
    print_table(
        ["PART", "JOB", "STATE", "SECTORS", "SKIPPED", "FAULTY", "TIME", "ERROR"],
        [
            [
                str(j.partition),
                str(j.id),
                j.state,
                str(j.sector_count),
                ",".join(map(str, j.skipped)) or "-",
                ",".join(map(str, j.faulty)) or "-",
                elapsed(j, now),
                j.error,
            ]
            for j in jobs
        ],
    )
    bad = [j.partition for j in jobs if j.state != "succeeded"]
    if bad or resp.unprovable:
        raise click.ClickException(
            f"not every partition proven: {sorted(bad + [m.partition for m in resp.unprovable])}"
        )
    click.echo(f"all {len(jobs)} partitions proven and verified (not submitted)")
