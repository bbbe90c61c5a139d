"""``prover demo``: the embedded default, a whole proving pipeline on this
machine against a devnet: the devnet, the manager (or several, on a
PostgreSQL the demo starts), a storage host serving the devnet's sectors,
and local workers, all real processes. The demo watches them: one that
exits is started again on the same ports, as systemd would, and said so.
SIGTERM stops it as Ctrl-C does (summary, children stopped in order), and
its children die with it however it ends (prover.cli.children)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from prover.chain.message import fil
from prover.cli.children import dies_with_this_process
from prover.cli.common import home_option, read_devnet_status, shape_options
from prover.cli.devnet_cmds import DEMO_DEADLINES, devnet_policy
from prover.config import CONFIG_FILE, ENDPOINT_FILE, SECRET_FILE, resolve_home
from prover.devnet import STORAGE_NAME, devnet_paths, endpoint_path, init_devnet
from prover.endpoints import Endpoint, read_endpoint
from prover.homelock import HomeInUse, lock_demo_home

# A process that keeps exiting is given up on: this many starts in a minute.
MAX_RESTARTS_PER_MINUTE = 5
# Deadline windows of a new demo devnet (1-s epochs). Several managers get
# windows of three production lease periods (10 s): a leader killed at the
# worst moment (its partition proven, the PoSt not yet sent) is replaced one
# lease period later, which leaves two for the new leader to plan, prove and
# land the PoSt before Close. The production lease is kept, not shortened:
# the demo shows the takeover a fleet would see, and a lease of a few
# seconds would flap on a loaded machine.
DEMO_WINDOW = 10
# where the storage host and the workers write their endpoint files, in the
# demo's home (a manager writes its own in its home)
RUN_DIR = "run"
DEMO_WINDOW_SEVERAL = 30
LEASES_PER_WINDOW = 3


@dataclass
class _Proc:
    """One process of the demo: how to start it (``argv`` is asked again at
    each start, so a restart reuses the ports it learnt), its log, and its
    starts."""

    name: str
    argv: Callable[[], list[str]]
    env: dict[str, str]
    log: Path
    # where it says what it bound (prover.endpoints); None: the devnet's own
    endpoint: Path | None = None
    popen: subprocess.Popen | None = None
    starts: list[float] = field(default_factory=list)
    # set once known (a manager's API and HTTP ports, the devnet's; a
    # worker's or storage host's /metrics address)
    port: int = 0
    http: str = ""

    def start(self) -> _Proc:
        # a new log each demo; a restart's lines follow its first run's
        mode = "a" if self.starts else "w"
        self.starts.append(time.monotonic())
        if self.endpoint is not None:
            # left by a run killed before it could remove it: in a fresh pid
            # namespace (a restarted container) it may even name this pid
            self.endpoint.unlink(missing_ok=True)
        self.popen = subprocess.Popen(
            dies_with_this_process(self.argv()),  # SIGTERM to it when the demo ends
            env=self.env,
            stdout=self.log.open(mode),
            stderr=subprocess.STDOUT,
            process_group=0,  # Ctrl-C reaches the demo, which stops them in order
        )
        return self

    def exited(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def bound(self) -> Endpoint | None:
        """What this run of it wrote to its endpoint file; None before
        (one left by an earlier run names another pid)."""
        if self.popen is None or self.endpoint is None:
            return None
        return read_endpoint(self.endpoint, pid=self.popen.pid)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        if self.popen is None:
            return
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _manager_argv(proc: _Proc, no_mounts: bool = True) -> Callable[[], list[str]]:
    """A manager on any free port the first time, the same ones after."""

    def argv() -> list[str]:
        out = _python(
            "prover.cli.manager_main",
            "daemon",
            "run",
            "--listen",
            f"127.0.0.1:{proc.port}",
            # any free port: a manager already on 9701 must not stop the demo
            "--http-listen",
            proc.http or "127.0.0.1:0",
        )
        # as in production: sector files only through the storage host
        return [*out, "--no-storage-mounts"] if no_mounts else out

    return argv


def _wait_for_manager(proc: _Proc) -> None:
    """The manager's gRPC port and its HTTP address ("" when off), from its
    endpoint file, written once it has started."""
    for _ in range(600):
        if proc.exited() is not None:
            raise click.ClickException(f"{proc.name} exited; see {proc.log}")
        bound = proc.bound()
        if bound is not None:
            proc.port, proc.http = bound.grpc_port, bound.http
            return
        time.sleep(0.1)
    raise click.ClickException(f"{proc.name} did not start; see {proc.log}")


def _metrics_option(proc: _Proc) -> list[str]:
    """``--metrics-listen`` on any free port the first time, the same one
    after (the scrape config the demo wrote stays true across a restart)."""
    return ["--metrics-listen", proc.http or "127.0.0.1:0"]


def _metrics_address(proc: _Proc) -> str:
    """The ``/metrics`` address in ``proc``'s endpoint file, "" while it
    has not written it yet."""
    bound = proc.bound()
    return bound.http if bound is not None else ""


class _ScrapeConfig:
    """Writes the demo's ``prometheus.yml`` once every worker and the
    storage host has said where its ``/metrics`` is (asked from the watch
    loop, so that the demo's first status is not held up by their starts)."""

    def __init__(self, path: Path, managers: list[_Proc], storage: _Proc, workers: list[_Proc]):
        self.path = path
        self.managers, self.storage, self.workers = managers, storage, workers
        self.written = False

    def poll(self) -> str | None:
        """The line to print once written; None before and after."""
        if self.written:
            return None
        self.storage.http = self.storage.http or _metrics_address(self.storage)
        for w in self.workers:
            w.http = w.http or _metrics_address(w)
        if not self.storage.http or not all(w.http for w in self.workers):
            return None
        self.path.write_text(
            scrape_config(
                [m.http for m in self.managers if m.http],
                [self.storage.http],
                [w.http for w in self.workers],
            )
        )
        self.written = True
        return (
            f"metrics of the storage host and workers too; a Prometheus scrape config for "
            f"every process: {self.path}"
        )


def scrape_config(managers: list[str], storage: list[str], workers: list[str]) -> str:
    """A Prometheus configuration scraping every process of the demo (the
    jobs are named after the daemons: prover-manager, prover-storage,
    prover-worker), so that the Grafana dashboard in contrib/ has all its
    series, the workers' and the storage host's included."""
    lines = [
        "# written by `prover demo`: every process of the demo, scraped each 5 s.",
        "# prometheus --config.file=THIS_FILE, then import contrib/grafana/prover.json",
        "global:",
        "  scrape_interval: 5s",
        "  evaluation_interval: 5s",
        "scrape_configs:",
    ]
    for job, targets in (
        ("prover-manager", managers),
        ("prover-storage", storage),
        ("prover-worker", workers),
    ):
        lines += [
            f"  - job_name: {job}",
            "    static_configs:",
            f"      - targets: [{', '.join(json.dumps(t) for t in targets)}]",
        ]
    return "\n".join(lines) + "\n"


def _wait_for_devnet(home: Path, proc: _Proc) -> str:
    """The devnet's API (``prover devnet run``), from the home's endpoint file."""
    endpoint = endpoint_path(home)
    for _ in range(600):
        if proc.exited() is not None:
            raise click.ClickException(f"the devnet exited; see {proc.log}")
        if endpoint.is_file():
            return endpoint.read_text().strip()
        time.sleep(0.1)
    raise click.ClickException(f"the devnet did not start; see {proc.log}")


@click.command("demo")
@click.option("--workers", type=click.IntRange(1, 8), default=2, show_default=True)
@click.option(
    "--managers",
    type=click.IntRange(1, 5),
    default=1,
    show_default=True,
    help="Managers: more than one run on a PostgreSQL the demo starts (one leads, "
    "the others stand by), following `prover devnet run`.",
)
@click.option(
    "--minutes",
    type=float,
    default=0,
    help="Stop after this long [default: run until Ctrl-C or SIGTERM].",
)
@shape_options(
    DEMO_DEADLINES,
    window=None,
    window_help=f"  [default: {DEMO_WINDOW}; {DEMO_WINDOW_SEVERAL} with --managers 2 or more, "
    "so that a leader killed at any moment is replaced before Close]",
)
@home_option
def demo(workers, managers, minutes, window, deadlines, home) -> None:
    """Devnet + manager + local workers on this machine, deadlines proven live."""
    from prover.api.tokens import make_token, read_secret

    _stop_on_signals()
    home = resolve_home(home)
    try:
        lock_demo_home(home)  # held until the demo exits: one demo per home
    except HomeInUse as exc:
        raise click.ClickException(str(exc)) from exc
    if window is None:
        window = DEMO_WINDOW_SEVERAL if managers > 1 else DEMO_WINDOW
    store = _prepare_home(home, window, deadlines)
    (home / "logs").mkdir(exist_ok=True)
    env = {**os.environ, "PROVER_HOME": str(home)}
    secret = read_secret(home / SECRET_FILE)
    procs: list[_Proc] = []
    postgres = None
    try:
        postgres, up = _start_managers(home, managers, env, procs)
        addresses = ",".join(f"127.0.0.1:{m.port}" for m in up)
        token = make_token(secret, "worker")
        storage, local = _storage_and_workers(
            home, store, workers, f"{token}:{addresses}", env, procs
        )
        scrape = _ScrapeConfig(home / "prometheus.yml", up, storage, local)
        _say_what_runs(home, up, workers, postgres)
        admin = make_token(secret, "admin")
        _watch(home, minutes, procs, f"{admin}:{addresses}", several=managers > 1, scrape=scrape)
    finally:
        for p in reversed(procs):
            p.stop()
        for p in procs:
            p.wait()
        if postgres is not None:
            postgres.close()


def _stop_on_signals() -> None:
    """SIGTERM (what timeout, systemd and CI send) as Ctrl-C:
    KeyboardInterrupt, so the summary is printed and the children are
    stopped in order; and Ctrl-C itself, even where it came in ignored:
    Python leaves an inherited SIG_IGN in place (a demo started by
    ``nohup ... &`` from a script), and such a demo could then only be
    stopped by SIGTERM."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _start_managers(home: Path, count: int, env: dict, procs: list[_Proc]):
    """(PostgreSQL or None, the managers), each started and its ports
    known: one manager runs the devnet itself (the embedded default), on
    the demo's home; several follow ``prover devnet run``
    (``_several_managers``)."""
    logs = home / "logs"
    if count > 1:
        return _several_managers(home, count, env, logs, procs)
    m = _Proc("manager", lambda: [], env, logs / "manager.log", home / ENDPOINT_FILE)
    m.argv = _manager_argv(m)
    procs.append(m.start())
    _wait_for_manager(m)
    return None, [m]


def _say_what_runs(home: Path, up: list[_Proc], workers: int, postgres) -> None:
    """What the demo started, and where each manager's dashboard is."""
    logs, addresses = home / "logs", ",".join(f"127.0.0.1:{m.port}" for m in up)
    if postgres is None:
        click.echo(
            f"manager on 127.0.0.1:{up[0].port}, a storage host and {workers} "
            f"local workers without mounts; logs in {logs}"
        )
    else:
        click.echo(
            f"{len(up)} managers on {addresses} (PostgreSQL at {postgres.url}), following "
            f"`prover devnet run`; a storage host and {workers} local workers given every "
            f"manager's address; logs in {logs}"
        )
    for m in up:
        if m.http:
            who = f"{m.name} " if len(up) > 1 else ""
            click.echo(f"{who}dashboard: http://{m.http}/")
            click.echo(f"{who}metrics: http://{m.http}/metrics")


def _prepare_home(home: Path, window: int, deadlines: int) -> Path:
    """The home's manager config, secret and devnet, made the first time;
    the devnet's sector store."""
    from prover.api.tokens import new_secret
    from prover.config import default_config_text

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
    endpoint_path(home).unlink(missing_ok=True)
    return store


def _storage_and_workers(
    home: Path, store: Path, workers: int, api: str, env: dict, procs: list[_Proc]
) -> tuple[_Proc, list[_Proc]]:
    """The storage host serving the devnet's store, and the local workers:
    they mount nothing and get their vanilla proofs from it."""
    logs, run = home / "logs", home / RUN_DIR
    storage = _Proc("storage host", lambda: [], env, logs / "storage.log", run / "storage.json")
    storage.argv = lambda: _python(
        "prover.cli.storage_main",
        "--name",
        "storage-local",
        "--listen",
        "127.0.0.1:0",
        "--storage",
        f"{STORAGE_NAME}={store}",
        "--api",
        api,
        *_metrics_option(storage),
        "--endpoint-file",
        str(storage.endpoint),
    )
    procs.append(storage.start())
    worker_toml = home / "worker-local.toml"
    # each worker's spool (prover-spool-<name>) in the demo's home: under a
    # shared /tmp another demo's workers of the same names would deliver
    # this one's results to their manager
    worker_toml.write_text(f"claim_wait_s = 5.0\ntmpdir = {json.dumps(str(home / 'tmp'))}\n")
    (home / "tmp").mkdir(exist_ok=True)
    local = []
    for i in range(workers):
        w = _Proc(f"worker local-{i}", lambda: [], env, logs / f"worker-{i}.log")
        w.endpoint = run / f"worker-{i}.json"
        w.argv = lambda w=w, i=i: _python(
            "prover.cli.worker_main",
            "--config",
            str(worker_toml),
            "--name",
            f"local-{i}",
            "--api",
            api,
            *_metrics_option(w),
            "--endpoint-file",
            str(w.endpoint),
        )
        procs.append(w.start())
        local.append(w)
    return storage, local


def _several_managers(home: Path, count: int, env: dict, logs: Path, procs: list[_Proc]):
    """A PostgreSQL of the demo's own, the devnet as its own process, and
    ``count`` managers following it on that database, each in a home of its
    own (sharing the demo's token secret). The first to start leads."""
    from prover.devnet import follow_settings, load_devnet_setup
    from prover.localpg import LocalPostgres, NoPostgres, data_dir_for

    try:
        postgres = LocalPostgres(data_dir_for(home)).start(replace_leftover=True)
    except NoPostgres as exc:
        raise click.ClickException(f"--managers {count}: {exc}") from exc
    click.echo(f"PostgreSQL for {count} managers at {postgres.url} (data in {postgres.data})")
    devnet = _Proc("devnet", lambda: [], env, logs / "devnet.log")

    def devnet_argv() -> list[str]:
        listen = f"127.0.0.1:{devnet.port}"
        return _python("prover.cli", "devnet", "run", "--home", str(home), "--listen", listen)

    devnet.argv = devnet_argv
    procs.append(devnet.start())
    api = _wait_for_devnet(home, devnet)
    devnet.port = int(api.rpartition(":")[2].split("/")[0])
    net = load_devnet_setup(home)
    _warn_short_windows(net.policy)
    chain = "".join(f"{k} = {json.dumps(v)}\n" for k, v in follow_settings(net, api).items())
    up = []
    for i in range(1, count + 1):
        mhome = home / "managers" / f"manager-{i}"
        mhome.mkdir(parents=True, exist_ok=True)
        (mhome / CONFIG_FILE).write_text(
            "# written by `prover demo --managers`: one of several managers on one\n"
            "# PostgreSQL database, following the demo's `prover devnet run`\n"
            # the demo's own database, kept between runs: a newer prover
            # upgrades it at start (a fleet runs `prover-manager db upgrade`)
            f'[database]\nurl = "{postgres.url}"\nmigrate = "auto"\n\n'
            f'[lease]\nname = "manager-{i}"\n\n'
            f"[chain]\n{chain}"
        )
        shutil.copy(home / SECRET_FILE, mhome / SECRET_FILE)
        m = _Proc(
            f"manager-{i}",
            lambda: [],
            {**env, "PROVER_HOME": str(mhome)},
            logs / f"manager-{i}.log",
            mhome / ENDPOINT_FILE,  # the default: in its home
        )
        m.argv = _manager_argv(m)
        procs.append(m.start())
        _wait_for_manager(m)
        up.append(m)
    return postgres, up


def _warn_short_windows(policy) -> None:
    """Says so when this home's devnet (made by an earlier run, or with
    --window) has windows too short for a takeover: a leader killed late
    enough then costs the deadline."""
    from prover.config import LeaseConfig

    lease = LeaseConfig().ttl_s
    window_s = policy.challenge_window * policy.epoch_seconds
    if window_s < LEASES_PER_WINDOW * lease:
        click.echo(
            f"warning: this devnet's deadlines last {window_s:g} s; a killed leader is replaced "
            f"after its lease ({lease:g} s), so a kill late in a window can cost the deadline. "
            f"A new home (--home) makes windows of {DEMO_WINDOW_SEVERAL} s.",
            err=True,
        )


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


def _leader(client) -> tuple[str, int]:
    """(the leading manager's name, its term), ("", 0) when none leads or
    no manager answers."""
    import grpc

    from prover._proto import manager_pb2 as pb

    try:
        leader = client.call(client.admin.Status, pb.StatusRequest(), timeout=2).leader
    except grpc.RpcError:
        return "", 0
    return leader.name, leader.term


def _supervise(procs: list[_Proc], screen: _Screen) -> None:
    """Starts again, on the same ports, a process that exited; gives up on
    one that keeps exiting."""
    now = time.monotonic()
    for p in procs:
        code = p.exited()
        if code is None:
            continue
        recent = [t for t in p.starts if now - t < 60]
        if len(recent) >= MAX_RESTARTS_PER_MINUTE:
            raise click.ClickException(
                f"{p.name} exited {len(recent)} times in a minute (last code {code}); see {p.log}"
            )
        screen.event(f"{p.name} exited (code {code}); starting it again")
        p.start()


def _watch(
    home: Path,
    minutes: float,
    procs,
    api: str,
    *,
    several: bool = False,
    scrape: _ScrapeConfig | None = None,
) -> None:
    """Prints what happens on the devnet, with a live status line, until
    the time is up, Ctrl-C or SIGTERM; then a summary of the run."""
    from prover.api.client import ManagerClient, parse_api_info
    from prover.logs import configure_logging

    # the screen says what happens; the admin client's own notes (moving
    # between managers while one starts again) are in the logs, not here
    configure_logging(level="warning")
    until = time.monotonic() + minutes * 60 if minutes else float("inf")
    run, screen = _Run(), _Screen()
    client = ManagerClient(parse_api_info(api))
    led = ("", 0)
    try:
        while time.monotonic() < until:
            _supervise(procs, screen)
            written = scrape.poll() if scrape is not None else None
            if written:
                screen.event(written)
            if several:
                now = _leader(client)
                if now != led and now[0]:
                    screen.event(f"{now[0]} leads (term {now[1]})")
                elif now != led:
                    screen.event("no manager leads now")
                led = now
            try:
                status = read_devnet_status(home)
            except click.ClickException:
                time.sleep(0.5)
                continue
            for line in run.update(status):
                screen.event(line)
            line, news = _status_line(status, _proving(client))
            if several and led[0]:
                line = f"[{led[0]} leads] {line}"
            screen.status(line, news)
            time.sleep(1.0)
    except KeyboardInterrupt:
        screen.event("stopping")
    finally:
        client.close()
        screen.done()
        click.echo(run.summary())
