"""``prover devnet`` and ``prover demo``: the embedded default, where a whole
proving pipeline runs on one machine against a devnet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from prover.chain.deadlines import Policy
from prover.chain.lotus import LotusClient, LotusError
from prover.cli.options import size_option
from prover.config import CONFIG_FILE, SECRET_FILE, resolve_home
from prover.devnet import DEVNET_DIR, STORAGE_NAME, devnet_paths, init_devnet


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


def _shape_options(f):
    """--window and --deadlines: the shape of a new devnet's proving period."""
    f = click.option(
        "--deadlines",
        type=click.IntRange(4, 48),
        default=48,
        show_default=True,
        help="Deadlines per proving period (48 on mainnet).",
    )(f)
    return click.option(
        "--window",
        type=click.IntRange(4, 120),
        default=10,
        show_default=True,
        help="Epochs per deadline (1 s epochs).",
    )(f)


def _home_option(f):
    return click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory [default: PROVER_HOME or ~/.prover].",
    )(f)


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
@_shape_options
@click.option("--force", is_flag=True, help="Replace an existing devnet.")
@_home_option
def devnet_init(miners, sectors, upgraded, proof_type, window, deadlines, force, home) -> None:
    """Make test sectors, parameters and a chain state in the home."""
    home = resolve_home(home)
    config, store = devnet_paths(home)
    if config.exists() and not force:
        raise click.ClickException(f"{config} exists; pass --force to replace it")
    if proof_type.sector_size > 8 << 20:
        raise click.UsageError("the devnet uses 2KiB or 8MiB test sectors")
    if upgraded > sectors:
        raise click.UsageError(f"--upgraded {upgraded} is more than --sectors {sectors}")
    net = init_devnet(
        home,
        miners=miners,
        sectors=sectors,
        upgraded=upgraded,
        size=proof_type.size_name,
        policy=devnet_policy(window, deadlines),
    )
    for m in net.miners.values():
        spread = ", ".join(
            f"deadline {d}: {len(p)} partitions" for d, p in sorted(m.deadlines.items())
        )
        snap = f", {len(m.sector_keys)} snap-upgraded" if m.sector_keys else ""
        click.echo(f"miner t0{m.actor_id}: {len(m.comm_r)} sectors{snap} ({spread})")
    click.echo(f"sectors in {store}; chain set-up in {config}")


def _devnet_client(home: Path) -> LotusClient:
    endpoint = home / DEVNET_DIR / "endpoint"
    if not endpoint.is_file():
        raise click.ClickException("no devnet running (start `prover-manager daemon run`)")
    return LotusClient(endpoint.read_text().strip(), network="t", retries=0, timeout=5)


def _status(home: Path) -> dict:
    client = _devnet_client(home)
    try:
        return client.call("DevnetStatus")
    except LotusError as exc:
        raise click.ClickException(f"devnet not reachable: {exc}") from exc
    finally:
        client.close()


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
    for msg in status["messages"]:
        verdict = "accepted" if msg["exit_code"] == 0 else f"REFUSED: {msg['reason']}"
        click.echo(f"  message {msg['cid'][:24]}... at epoch {msg['epoch']}: {verdict}")


@devnet_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@_home_option
def devnet_status(as_json, home) -> None:
    """Proven, missed and faulty per deadline, and the messages the devnet took."""
    status = _status(resolve_home(home))
    if as_json:
        click.echo(json.dumps(status, indent=1))
    else:
        _print_status(status)


@click.command("demo")
@click.option("--workers", type=click.IntRange(1, 8), default=2, show_default=True)
@click.option(
    "--minutes", type=float, default=0, help="Stop after this long [default: run until Ctrl-C]."
)
@_shape_options
@_home_option
def demo(workers, minutes, window, deadlines, home) -> None:
    """Devnet + manager + local workers on this machine, deadlines proven live."""
    from prover.api.tokens import make_token, new_secret, read_secret
    from prover.cli.manager_main import default_config_text

    home = resolve_home(home)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / CONFIG_FILE).exists():
        (home / CONFIG_FILE).write_text(default_config_text())
    if not (home / SECRET_FILE).exists():
        new_secret(home / SECRET_FILE)
    devnet_config, store = devnet_paths(home)
    if not devnet_config.exists():
        click.echo(
            "making the devnet: 8 test sectors (2 of them snap-upgraded) "
            "and 2KiB test parameters ..."
        )
        init_devnet(home, upgraded=2, policy=devnet_policy(window, deadlines))
    (home / DEVNET_DIR / "endpoint").unlink(missing_ok=True)
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    env = {**os.environ, "PROVER_HOME": str(home)}
    procs = []
    manager = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prover.cli.manager_main",
            "daemon",
            "run",
            "--listen",
            "127.0.0.1:0",
        ],
        env=env,
        stdout=(logs / "manager.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    procs.append(manager)
    try:
        port = _wait_for_port(logs / "manager.log", manager)
        token = make_token(read_secret(home / SECRET_FILE), "worker")
        worker_toml = home / "worker-local.toml"
        worker_toml.write_text(
            f'claim_wait_s = 5.0\n[[storage]]\nname = "{STORAGE_NAME}"\npath = "{store}"\n'
        )
        for i in range(workers):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "prover.cli.worker_main",
                        "--config",
                        str(worker_toml),
                        "--name",
                        f"local-{i}",
                        "--api",
                        f"{token}:127.0.0.1:{port}",
                    ],
                    env=env,
                    stdout=(logs / f"worker-{i}.log").open("w"),
                    stderr=subprocess.STDOUT,
                )
            )
        click.echo(f"manager on 127.0.0.1:{port}, {workers} local workers; logs in {logs}")
        _watch(home, minutes, procs)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def _wait_for_port(log: Path, proc: subprocess.Popen) -> int:
    for _ in range(600):
        if proc.poll() is not None:
            raise click.ClickException(f"the manager exited; see {log}")
        for line in log.read_text().splitlines():
            if "manager_started" in line and "listen=" in line:
                return int(line.split("listen=")[1].split()[0].rpartition(":")[2])
        time.sleep(0.1)
    raise click.ClickException(f"the manager did not start; see {log}")


def _watch(home: Path, minutes: float, procs) -> None:
    """Prints what changes on the devnet until the time is up (or Ctrl-C)."""
    until = time.monotonic() + minutes * 60 if minutes else float("inf")
    seen: set[str] = set()
    try:
        while time.monotonic() < until:
            if any(p.poll() is not None for p in procs):
                raise click.ClickException("a process exited early; see the logs")
            try:
                status = _status(home)
            except click.ClickException:
                time.sleep(0.5)
                continue
            for m in status["miners"]:
                for d in m["deadlines"]:
                    for p in d["proven"]:
                        key = f"proven {m['actor_id']} {d['deadline']} {p} {d['open']}"
                        if key not in seen:
                            seen.add(key)
                            click.echo(
                                f"epoch {status['epoch']:>5}: miner t0{m['actor_id']} "
                                f"deadline {d['deadline']} partition {p} proven"
                            )
                for miss in m["misses"]:
                    key = f"miss {json.dumps(miss, sort_keys=True)}"
                    if key not in seen:
                        seen.add(key)
                        click.echo(
                            f"epoch {status['epoch']:>5}: miner t0{m['actor_id']} "
                            f"MISSED deadline {miss['deadline']} partition "
                            f"{miss['partition']}"
                        )
            for msg in status["messages"]:
                if msg["cid"] not in seen:
                    seen.add(msg["cid"])
                    verdict = "accepted" if msg["exit_code"] == 0 else f"refused: {msg['reason']}"
                    click.echo(f"epoch {msg['epoch']:>5}: message {msg['cid'][:20]}... {verdict}")
            time.sleep(1.0)
    except KeyboardInterrupt:
        click.echo("stopping")
