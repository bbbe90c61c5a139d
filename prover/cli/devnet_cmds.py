"""``prover devnet`` and ``prover demo``: the embedded default, where a whole
proving pipeline runs on one machine against a devnet; and ``prover devnet
run``, the devnet as a process of its own that several managers follow as
they would follow one Lotus node."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import click

from prover.chain.deadlines import Policy
from prover.cli.common import home_option, read_devnet_status, shape_options
from prover.cli.options import size_option
from prover.config import check_listen, public_host, resolve_home
from prover.devnet import (
    devnet_paths,
    endpoint_path,
    init_devnet,
    load_devnet_setup,
    manager_config_text,
    serve_home_devnet,
)
from prover.devnet.incumbent import (
    INCUMBENT_SENDER,
    IncumbentConfig,
    format_slots,
    parse_deadline_list,
    parse_partition_list,
)
from prover.homelock import DEVNET_LOCK, HomeInUse, holder, lock_devnet_home

# The demo's period: 24 deadlines of 10 s, its 4 partitions one each in
# deadlines 2, 8, 14 and 20, so a proof lands about every minute.
DEMO_DEADLINES = 24


def devnet_policy(window: int, deadlines: int = 48) -> Policy:
    """1 s epochs, ``window`` epochs per deadline, lookback and fault cutoff
    scaled down with it; fewer ``deadlines`` per period bring a deadline
    round again sooner (to watch a recovery)."""
    return Policy.devnet(
        challenge_window=window,
        challenge_lookback=min(3, window // 3),
        fault_declaration_cutoff=min(5, window // 2),
        period_deadlines=deadlines,
    )


@click.group("devnet")
def devnet_group() -> None:
    """The embedded devnet (a chain with miner actors, for trying things out)."""


@devnet_group.command("init")
@click.option("--miners", type=click.IntRange(1, 8), default=1, show_default=True)
@click.option("--sectors", type=click.IntRange(1, 200), default=8, show_default=True)
@click.option(
    "--upgraded",
    type=click.IntRange(0, 200),
    default=0,
    show_default=True,
    help="Of these, how many (the last) are snap-upgraded for real.",
)
@size_option()
@shape_options(48)
@click.option(
    "--incumbent",
    is_flag=True,
    help=f"An existing prover in the devnet submits the miners' WindowPoSts itself "
    f"(from {INCUMBENT_SENDER}), for a manager in shadow mode to compare with.",
)
@click.option(
    "--incumbent-miss",
    default=None,
    metavar="D,D,...",
    help="Deadline indexes the incumbent never proves (they are missed).",
)
@click.option(
    "--incumbent-miss-every",
    type=click.IntRange(0),
    default=0,
    metavar="N",
    help="The incumbent misses every Nth of each miner's deadlines that hold "
    "partitions, counted from the chain's first proving period (0: none).",
)
@click.option(
    "--incumbent-late",
    type=click.IntRange(0),
    default=None,
    metavar="E",
    help="The incumbent pushes when the deadline is E epochs from Close "
    "(0: at Close, too late) instead of at Open.",
)
@click.option(
    "--incumbent-batch",
    type=click.IntRange(0),
    is_flag=False,
    flag_value=0,
    default=None,
    metavar="[N]",
    help="The incumbent packs a deadline's partitions into SubmitWindowedPoSt messages as "
    "lotus-miner does, at most N a message (its MaxPartitionsPerPoStMessage; bare or 0: "
    "as many as the actor takes, 3), instead of one a message as Curio sends them.",
)
@click.option(
    "--incumbent-spread",
    is_flag=True,
    help="The incumbent pushes a deadline's messages an epoch apart (the k-th k epochs "
    "after the first, never at Close), so its partitions land at different epochs.",
)
@click.option(
    "--incumbent-late-partition",
    default=None,
    metavar="D/P,...",
    help="Partitions (deadline/partition) the incumbent pushes alone at Close: too late, "
    "refused by the actor, missed.",
)
@click.option(
    "--incumbent-refused-partition",
    default=None,
    metavar="D/P,...",
    help="Partitions (deadline/partition) the incumbent pushes alone in a message the "
    "actor refuses (exit 16: its commit randomness is not the chain's), missed.",
)
@click.option("--force", is_flag=True, help="Replace an existing devnet.")
@home_option
def devnet_init(
    miners,
    sectors,
    upgraded,
    proof_type,
    window,
    deadlines,
    incumbent,
    incumbent_miss,
    incumbent_miss_every,
    incumbent_late,
    incumbent_batch,
    incumbent_spread,
    incumbent_late_partition,
    incumbent_refused_partition,
    force,
    home,
) -> None:
    """Make test sectors, parameters and a chain state in the home."""
    home = resolve_home(home)
    config, store = devnet_paths(home)
    if config.exists() and not force:
        raise click.ClickException(f"{config} exists; pass --force to replace it")
    if proof_type.sector_size > 8 << 20:
        raise click.UsageError("the devnet uses 2KiB or 8MiB test sectors")
    if upgraded > sectors:
        raise click.UsageError(f"--upgraded {upgraded} is more than --sectors {sectors}")
    settings = _incumbent_settings(
        incumbent,
        incumbent_miss,
        incumbent_miss_every,
        incumbent_late,
        deadlines,
        batch=incumbent_batch,
        spread=incumbent_spread,
        late_partitions=incumbent_late_partition,
        refused_partitions=incumbent_refused_partition,
    )
    try:
        # the running chain's files must not be replaced under it
        with lock_devnet_home(home, "prover devnet init"):
            net = init_devnet(
                home,
                miners=miners,
                sectors=sectors,
                upgraded=upgraded,
                size=proof_type.size_name,
                policy=devnet_policy(window, deadlines),
                incumbent=settings,
            )
    except HomeInUse as exc:
        raise click.ClickException(str(exc)) from exc
    for m in net.miners.values():
        spread = ", ".join(
            f"deadline {d}: {len(p)} partitions" for d, p in sorted(m.deadlines.items())
        )
        snap = f", {len(m.sector_keys)} snap-upgraded" if m.sector_keys else ""
        click.echo(f"miner t0{m.actor_id}: {len(m.comm_r)} sectors{snap} ({spread})")
    if settings.enabled:
        click.echo(f"incumbent: {_describe_incumbent(settings.to_json())}")
    click.echo(f"sectors in {store}; chain set-up in {config}")


def _incumbent_settings(
    enabled: bool,
    miss: str | None,
    miss_every: int,
    late: int | None,
    deadlines: int,
    *,
    batch: int | None = None,
    spread: bool = False,
    late_partitions: str | None = None,
    refused_partitions: str | None = None,
) -> IncumbentConfig:
    """The incumbent's options from ``devnet init``'s flags (refused without
    ``--incumbent``, or naming a deadline the period does not have)."""
    if not enabled:
        told = late_partitions or refused_partitions
        if miss or miss_every or late is not None or batch is not None or spread or told:
            raise click.UsageError("the --incumbent-... options need --incumbent")
        return IncumbentConfig()
    try:
        indexes = parse_deadline_list(miss)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--incumbent-miss") from exc
    if any(d >= deadlines for d in indexes):
        raise click.BadParameter(
            f"deadlines run 0..{deadlines - 1}: {miss}", param_hint="--incumbent-miss"
        )
    slots = {}
    for hint, text in (
        ("--incumbent-late-partition", late_partitions),
        ("--incumbent-refused-partition", refused_partitions),
    ):
        try:
            slots[hint] = parse_partition_list(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=hint) from exc
        if any(d >= deadlines for d, _ in slots[hint]):
            raise click.BadParameter(f"deadlines run 0..{deadlines - 1}: {text}", param_hint=hint)
    try:
        return IncumbentConfig(
            enabled=True,
            miss=indexes,
            miss_every=miss_every,
            late=late,
            batch=batch,
            spread=spread,
            late_partitions=slots["--incumbent-late-partition"],
            refused_partitions=slots["--incumbent-refused-partition"],
        )
    except ValueError as exc:  # a partition both late and refused
        raise click.UsageError(str(exc)) from exc


def _describe_incumbent(cfg: dict) -> str:
    """The incumbent's options for people."""
    parts = [f"proves from {cfg['sender']}"]
    if cfg.get("miss"):
        parts.append(f"misses deadlines {','.join(map(str, cfg['miss']))}")
    if cfg.get("miss_every"):
        parts.append(f"misses every {cfg['miss_every']}th deadline")
    late = cfg.get("late")
    parts.append("pushes at Open" if late is None else f"pushes {late} epochs before Close")
    batch = cfg.get("batch")
    if batch is not None:
        parts.append(
            "batches partitions as the actor allows" if batch == 0 else f"batches up to {batch}"
        )
    if cfg.get("spread"):
        parts.append("an epoch between messages")
    if cfg.get("late_partitions"):
        parts.append(f"partitions {format_slots(map(tuple, cfg['late_partitions']))} at Close")
    if cfg.get("refused_partitions"):
        refused = format_slots(map(tuple, cfg["refused_partitions"]))
        parts.append(f"partitions {refused} refused")
    return ", ".join(parts)


def _print_status(status: dict) -> None:
    click.echo(f"epoch {status['epoch']}")
    for m in status["miners"]:
        click.echo(f"miner t0{m['actor_id']}: deadline {m['current_deadline']} is open")
        for d in m["deadlines"]:
            proven = ",".join(map(str, d["proven"])) or "-"
            click.echo(
                f"  deadline {d['deadline']:>2} (epochs {d['open']}-{d['close'] - 1}): "
                f"{d['partitions']} partitions, proven [{proven}], "
                f"faulty {d['faulty'] or '-'}"
            )
        for miss in m["misses"]:
            click.echo(
                f"  MISSED deadline {miss['deadline']} partition {miss['partition']} "
                f"(period {miss['period_start']}): sectors {miss['sectors']} faulty"
            )
        click.echo(f"  duplicate PoSts refused: {m.get('duplicate_posts', 0)}")
        for dup in m.get("duplicates", []):
            click.echo(
                f"  DUPLICATE deadline {dup['deadline']} partition {dup['partition']} "
                f"(period {dup['period_start']}): message {dup['cid']} refused, proven already"
            )
    for msg in status["messages"]:
        verdict = "accepted" if msg["exit_code"] == 0 else f"REFUSED: {msg['reason']}"
        click.echo(f"  message {msg['cid'][:24]}... at epoch {msg['epoch']}: {verdict}")
    incumbent = status.get("incumbent")
    if incumbent:
        click.echo(
            f"incumbent: {_describe_incumbent(incumbent)}; {len(incumbent['pushed'])} PoSts "
            f"pushed, {len(incumbent['skipped'])} skipped"
        )
    calls = status.get("rpc_calls")
    if calls is not None:
        listed = ", ".join(f"{k.removeprefix('Filecoin.')} {n}" for k, n in calls.items())
        click.echo(f"RPC calls answered: {sum(calls.values())} ({listed or 'none'})")


@devnet_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@home_option
def devnet_status(as_json, home) -> None:
    """Proven, missed and faulty per deadline, PoSts refused as duplicates
    (``duplicate_posts``), the messages the devnet took, the RPC calls it
    answered per method since it started (``rpc_calls``) and, with an
    incumbent, what it pushed and skipped."""
    status = read_devnet_status(resolve_home(home))
    if as_json:
        click.echo(json.dumps(status, indent=1))
    else:
        _print_status(status)


@devnet_group.command("run")
@click.option(
    "--listen",
    default="127.0.0.1:1234",
    show_default=True,
    help="HOST:PORT of the Lotus API (/rpc/v1 and ChainNotify); port 0: any free port.",
)
@click.option(
    "--advertise",
    default=None,
    help="The host others reach it at [default: the listen host; this machine's "
    "name for a wildcard].",
)
@click.option(
    "--token",
    default=None,
    envvar="PROVER_DEVNET_TOKEN",
    help="Require this bearer token on every call, as a Lotus node's API token does.",
)
@home_option
def devnet_run(listen: str, advertise: str | None, token: str | None, home: Path | None) -> None:
    """Serve the home's devnet until SIGTERM or SIGINT, for managers to
    follow through [chain] api, as they would follow a Lotus node."""
    home = resolve_home(home)
    try:
        host, _, port = check_listen(listen).rpartition(":")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from exc
    if advertise is None:
        advertise = public_host(host)
    try:
        running = serve_home_devnet(
            home,
            host=host,
            port=int(port),
            token=token,
            advertise=advertise,
            holder="prover devnet run",
        )
    except HomeInUse as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {listen}: {exc}") from exc
    if running is None:
        raise click.ClickException(f"no devnet in {home}; run `prover devnet init` first")
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        net = running.devnet
        _, store = devnet_paths(home)
        miners = ", ".join(f"t0{m}" for m in sorted(net.miners))
        resumed = (
            f"going on from epoch {net.stopped_epoch}"
            if net.stopped_epoch is not None
            else "a new chain"
        )
        click.echo(
            f"devnet of {home} ({resumed}; miners {miners}; "
            f"{net.policy.epoch_seconds:g} s epochs) serving the Lotus API at {running.url}"
        )
        click.echo(f"FULLNODE_API_INFO={running.api}")
        if running.incumbent is not None:
            click.echo(f"incumbent: {_describe_incumbent(running.incumbent.config.to_json())}")
        click.echo(
            "# a manager follows it with these lines in its config.toml "
            "(`prover devnet chain-config` prints them again):"
        )
        click.echo(manager_config_text(net, running.api, store), nl=False)
        sys.stdout.flush()
        stop.wait()
    finally:
        running.stop()
    click.echo(f"devnet stopped at epoch {running.devnet.epoch()}")


@devnet_group.command("chain-config")
@home_option
def devnet_chain_config(home: Path | None) -> None:
    """Print the config.toml lines ([chain], [[storage]]) of a manager that
    follows the home's running devnet."""
    home = resolve_home(home)
    endpoint = endpoint_path(home)
    net = load_devnet_setup(home)
    # the endpoint of a devnet that crashed stays behind; the lock does not
    if net is None or holder(home, DEVNET_LOCK) is None or not endpoint.is_file():
        raise click.ClickException(
            f"no devnet running in {home} "
            "(start `prover devnet run` or `prover-manager daemon run`)"
        )
    _, store = devnet_paths(home)
    click.echo(manager_config_text(net, endpoint.read_text().strip(), store), nl=False)
