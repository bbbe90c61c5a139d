"""``prover devnet`` and ``prover demo``: the embedded default, where a whole
proving pipeline runs on one machine against a devnet; and ``prover devnet
run``, the devnet as a process of its own that several managers follow as
they would follow one Lotus node."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

from prover.chain.deadlines import Policy
from prover.chain.lotus import LotusClient, LotusError, parse_api_info
from prover.chain.message import fil
from prover.cli.options import size_option
from prover.config import CONFIG_FILE, SECRET_FILE, check_listen, resolve_home
from prover.devnet import (
    DEVNET_DIR,
    STORAGE_NAME,
    devnet_paths,
    endpoint_path,
    init_devnet,
    load_devnet_setup,
    manager_config_text,
    serve_home_devnet,
)
from prover.homelock import DEVNET_LOCK, HomeInUse, holder, lock_demo_home, lock_devnet_home

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


def _shape_options(deadlines: int):
    """--window and --deadlines: the shape of a new devnet's proving period."""

    def options(f):
        f = click.option(
            "--deadlines",
            type=click.IntRange(4, 48),
            default=deadlines,
            show_default=True,
            help="Deadlines per proving period (48 on mainnet) of a new devnet.",
        )(f)
        return click.option(
            "--window",
            type=click.IntRange(4, 120),
            default=10,
            show_default=True,
            help="Epochs per deadline (1 s epochs) of a new devnet.",
        )(f)

    return options


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
@_shape_options(48)
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
            )
    except HomeInUse as exc:
        raise click.ClickException(str(exc)) from exc
    for m in net.miners.values():
        spread = ", ".join(
            f"deadline {d}: {len(p)} partitions" for d, p in sorted(m.deadlines.items())
        )
        snap = f", {len(m.sector_keys)} snap-upgraded" if m.sector_keys else ""
        click.echo(f"miner t0{m.actor_id}: {len(m.comm_r)} sectors{snap} ({spread})")
    click.echo(f"sectors in {store}; chain set-up in {config}")


def _devnet_client(home: Path) -> LotusClient:
    endpoint = endpoint_path(home)
    if not endpoint.is_file():
        raise click.ClickException(
            "no devnet running (start `prover devnet run` or `prover-manager daemon run`)"
        )
    token, url = parse_api_info(endpoint.read_text().strip())
    return LotusClient(url, token, network="t", retries=0, timeout=5)


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
        click.echo(f"  duplicate PoSts refused: {m.get('duplicate_posts', 0)}")
        for dup in m.get("duplicates", []):
            click.echo(
                f"  DUPLICATE deadline {dup['deadline']} partition {dup['partition']} "
                f"(period {dup['period_start']}): message {dup['cid']} refused, proven already"
            )
    for msg in status["messages"]:
        verdict = "accepted" if msg["exit_code"] == 0 else f"REFUSED: {msg['reason']}"
        click.echo(f"  message {msg['cid'][:24]}... at epoch {msg['epoch']}: {verdict}")


@devnet_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@_home_option
def devnet_status(as_json, home) -> None:
    """Proven, missed and faulty per deadline, PoSts refused as duplicates
    (``duplicate_posts``), and the messages the devnet took."""
    status = _status(resolve_home(home))
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
@_home_option
def devnet_run(listen: str, advertise: str | None, token: str | None, home: Path | None) -> None:
    """Serve the home's devnet until SIGTERM or SIGINT, for managers to
    follow through [chain] api, as they would follow a Lotus node."""
    home = resolve_home(home)
    try:
        host, _, port = check_listen(listen).rpartition(":")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from exc
    if advertise is None and host in ("0.0.0.0", ""):
        advertise = socket.gethostname()
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
@_home_option
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


@click.command("demo")
@click.option("--workers", type=click.IntRange(1, 8), default=2, show_default=True)
@click.option(
    "--minutes", type=float, default=0, help="Stop after this long [default: run until Ctrl-C]."
)
@_shape_options(DEMO_DEADLINES)
@_home_option
def demo(workers, minutes, window, deadlines, home) -> None:
    """Devnet + manager + local workers on this machine, deadlines proven live."""
    from prover.api.tokens import make_token, new_secret, read_secret
    from prover.cli.manager_main import default_config_text

    home = resolve_home(home)
    try:
        lock_demo_home(home)  # held until the demo exits: one demo per home
    except HomeInUse as exc:
        raise click.ClickException(str(exc)) from exc
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
        init_devnet(home, upgraded=2, policy=devnet_policy(window, deadlines), spread=True)
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
            # any free port: a manager already on 9701 must not stop the demo
            "--http-listen",
            "127.0.0.1:0",
            # as in production: sector files only through the storage host
            "--no-storage-mounts",
        ],
        env=env,
        stdout=(logs / "manager.log").open("w"),
        stderr=subprocess.STDOUT,
        process_group=0,  # Ctrl-C reaches the demo, which stops them in order
    )
    procs.append(manager)
    try:
        port, http = _wait_for_port(logs / "manager.log", manager)
        token = make_token(read_secret(home / SECRET_FILE), "worker")
        # the devnet's store is served by a storage host; the workers mount
        # nothing and get their vanilla proofs from it
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prover.cli.storage_main",
                    "--name",
                    "storage-local",
                    "--listen",
                    "127.0.0.1:0",
                    "--storage",
                    f"{STORAGE_NAME}={store}",
                    "--api",
                    f"{token}:127.0.0.1:{port}",
                ],
                env=env,
                stdout=(logs / "storage.log").open("w"),
                stderr=subprocess.STDOUT,
                process_group=0,
            )
        )
        worker_toml = home / "worker-local.toml"
        worker_toml.write_text("claim_wait_s = 5.0\n")
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
                    process_group=0,
                )
            )
        click.echo(
            f"manager on 127.0.0.1:{port}, a storage host and {workers} local workers "
            f"without mounts; logs in {logs}"
        )
        if http:
            click.echo(f"dashboard: http://{http}/")
            click.echo(f"metrics: http://{http}/metrics")
        admin = make_token(read_secret(home / SECRET_FILE), "admin")
        _watch(home, minutes, procs, f"{admin}:127.0.0.1:{port}")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def _wait_for_port(log: Path, proc: subprocess.Popen) -> tuple[int, str]:
    """The manager's gRPC port and its HTTP address ("" when off), from its
    ``manager_started`` line."""
    for _ in range(600):
        if proc.poll() is not None:
            raise click.ClickException(f"the manager exited; see {log}")
        for line in log.read_text().splitlines():
            if "manager_started" in line and "listen=" in line:
                port = int(line.split("listen=")[1].split()[0].rpartition(":")[2])
                http = line.split(" http=")[1].split()[0] if " http=" in line else ""
                return port, http.strip("'\"")
        time.sleep(0.1)
    raise click.ClickException(f"the manager did not start; see {log}")


class _Run:
    """What one demo run saw on the devnet: its events and its tallies
    (what a resumed chain had before the run is history, not counted)."""

    def __init__(self) -> None:
        self.seen: set = set()
        self.first = True
        self.proven: set = set()  # (miner, deadline open epoch, deadline)
        self.partitions = 0
        self.missed: set = set()
        self.missed_partitions = 0
        self.missed_stopped = 0
        self.accepted = self.refused = 0
        self.fees = 0
        self.epochs = (0, 0)

    def update(self, status: dict) -> list[str]:
        """The lines to print for what changed since the last status."""
        now, lines = status["epoch"], []
        stopped = status.get("stopped_epoch")
        if self.first:
            self.epochs = (now, now)
            if stopped is not None:
                lines.append(f"the chain goes on from epoch {now} (it stopped at epoch {stopped})")
        self.epochs = (self.epochs[0], now)
        for m in status["miners"]:
            miner = f"miner t0{m['actor_id']}"
            for d in m["deadlines"]:
                for p in d["proven"]:
                    key = ("proven", m["actor_id"], d["open"], d["deadline"], p)
                    if key in self.seen:
                        continue
                    self.seen.add(key)
                    if not self.first:
                        self.proven.add(key[1:4])
                        self.partitions += 1
                        lines.append(
                            f"epoch {now:>5}: {miner} deadline {d['deadline']} partition {p} proven"
                        )
            for miss in m["misses"]:
                key = ("miss", json.dumps(miss, sort_keys=True))
                if key in self.seen:
                    continue
                self.seen.add(key)
                close = miss.get("close", now)
                where = f"deadline {miss['deadline']} partition {miss['partition']}"
                if self.first and stopped is not None and close <= self.epochs[0]:
                    if close > stopped:
                        self.missed_stopped += 1
                        lines.append(
                            f"missed while the chain was stopped: {miner} {where} "
                            f"(closed at epoch {close}; its sectors are faulty until recovered)"
                        )
                    continue
                if self.first and stopped is None and close <= self.epochs[0]:
                    continue
                self.missed.add((m["actor_id"], miss["period_start"], miss["deadline"]))
                self.missed_partitions += 1
                lines.append(f"epoch {now:>5}: {miner} MISSED {where} (closed at epoch {close})")
        for msg in status["messages"]:
            if msg["cid"] in self.seen:
                continue
            self.seen.add(msg["cid"])
            if self.first:
                continue
            if msg["exit_code"] == 0:
                self.accepted += 1
                verdict = "accepted"
            else:
                self.refused += 1
                verdict = f"refused: {msg['reason']}"
            self.fees += int(msg.get("fee", 0))
            lines.append(f"epoch {msg['epoch']:>5}: message {msg['cid'][:20]}... {verdict}")
        self.first = False
        return lines

    def summary(self) -> str:
        first, last = self.epochs
        stopped = (
            f"; {self.missed_stopped} partitions missed while the chain was stopped"
            if self.missed_stopped
            else ""
        )
        return (
            f"summary (epochs {first}-{last}): {len(self.proven)} deadlines proven "
            f"({self.partitions} partitions), {len(self.missed)} missed "
            f"({self.missed_partitions} partitions); {self.accepted + self.refused} messages "
            f"({self.accepted} accepted, {self.refused} refused), fees {fil(self.fees)}{stopped}"
        )


def _proving(client) -> str:
    """What the manager is proving now (partitions with unfinished jobs or
    messages in flight), from its admin API; '' when it cannot say."""
    import grpc

    from prover._proto import manager_pb2 as pb
    from prover.store.states import FINISHED_STATES

    try:
        resp = client.call(client.admin.Deadlines, pb.DeadlinesRequest(), timeout=2)
    except grpc.RpcError:
        return ""
    busy = []
    for d in resp.deadlines:
        for p in d.partitions:
            if p.job_id and p.job_state not in FINISHED_STATES:
                on = f" on {p.worker}" if p.worker else ""
                busy.append(f"deadline {d.index} partition {p.partition} {p.job_state}{on}")
            elif p.message_state == "pending":
                busy.append(f"deadline {d.index} partition {p.partition} message pending")
    return ", ".join(busy) or "nothing"


def _status_line(status: dict, proving: str) -> tuple[str, str]:
    """Epoch, the open deadline, what is proven and the next Close of a
    deadline with partitions; and what of it is news (not the clock)."""
    now = status["epoch"]
    period = status["challenge_window"] * status["period_deadlines"]
    m = status["miners"][0]
    current = next((d for d in m["deadlines"] if d["open"] <= now < d["close"]), None)
    ahead = [
        (d["close"] + (0 if d["close"] > now else period), d["deadline"]) for d in m["deadlines"]
    ]
    line = f"epoch {now}: deadline {m['current_deadline']} open"
    if current is not None:
        line += f" ({current['partitions']} partitions, {len(current['proven'])} proven)"
    news = f"proving: {proving}" if proving else ""
    if ahead:
        close, index = min(ahead)
        news += f"; next Close: deadline {index} at epoch {close}"
        line += f"; {news} (in {close - now} s)"
    return line, news


class _Screen:
    """Event lines, and the status line: rewritten in place on a terminal,
    otherwise printed when its news (what is proven, the next Close)
    changes."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.shown = ""
        self.last_news = ""

    def event(self, line: str) -> None:
        if self.tty and self.shown:
            sys.stdout.write("\r\033[K")
            self.shown = ""
        click.echo(line)

    def status(self, line: str, news: str) -> None:
        if self.tty:
            width = shutil.get_terminal_size().columns - 1
            sys.stdout.write("\r\033[K" + line[:width])
            sys.stdout.flush()
            self.shown = line
            return
        if news != self.last_news:
            self.last_news = news
            click.echo(line)

    def done(self) -> None:
        if self.tty and self.shown:
            sys.stdout.write("\n")
            self.shown = ""


def _watch(home: Path, minutes: float, procs, api: str) -> None:
    """Prints what happens on the devnet, with a live status line, until
    the time is up or Ctrl-C; then a summary of the run."""
    from prover.api.client import ManagerClient, parse_api_info

    until = time.monotonic() + minutes * 60 if minutes else float("inf")
    run, screen = _Run(), _Screen()
    client = ManagerClient(parse_api_info(api))
    try:
        while time.monotonic() < until:
            if any(p.poll() is not None for p in procs):
                raise click.ClickException("a process exited early; see the logs")
            try:
                status = _status(home)
            except click.ClickException:
                time.sleep(0.5)
                continue
            for line in run.update(status):
                screen.event(line)
            screen.status(*_status_line(status, _proving(client)))
            time.sleep(1.0)
    except KeyboardInterrupt:
        screen.event("stopping")
    finally:
        client.close()
        screen.done()
        click.echo(run.summary())
