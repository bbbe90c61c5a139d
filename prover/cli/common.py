"""What several commands share, in one place rather than borrowed from one
command's module by another: reaching the managers (``--api``, ``connect``,
``call``), printing tables and ages the same way everywhere, the ``--home``
option, and the devnet's shape options and status (``prover devnet`` and
``prover demo`` both draw and read a devnet)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
import grpc

from prover._proto import manager_pb2 as pb
from prover.api.client import ApiInfoError, ManagerClient, resolve_api_info
from prover.api.convert import from_timestamp
from prover.chain.lotus import LotusClient, LotusError, parse_api_info
from prover.devnet import endpoint_path

# ---- the managers -------------------------------------------------------------


def api_option(f):
    f = click.option(
        "--api-ca",
        type=click.Path(dir_okay=False),
        default=None,
        help="CA certificate of a TLS manager [default: PROVER_API_CA].",
    )(f)
    return click.option(
        "--api",
        default=None,
        help="TOKEN:HOST:PORT[,HOST:PORT...] of the managers [default: PROVER_API_INFO].",
    )(f)


def connect(api: str | None, api_ca: str | None) -> ManagerClient:
    try:
        return ManagerClient(resolve_api_info(api), ca_file=api_ca)
    except ApiInfoError as exc:
        raise click.UsageError(str(exc)) from exc


def call(client: ManagerClient, method, request):
    try:
        return client.call(method, request)
    except grpc.RpcError as exc:
        raise click.ClickException(f"{exc.code().name}: {exc.details()}") from exc


# ---- tables ---------------------------------------------------------------------


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def ago(then: datetime | None, now: datetime) -> str:
    """``42s``, ``3m07s`` or ``2h05m`` from ``then`` to ``now``; ``-`` for never."""
    if then is None:
        return "-"
    secs = int((now - then).total_seconds())
    return (
        f"{secs // 3600}h{secs % 3600 // 60:02d}m"
        if secs >= 3600
        else (f"{secs // 60}m{secs % 60:02d}s" if secs >= 60 else f"{secs}s")
    )


def elapsed(job: pb.Job, now: datetime) -> str:
    """How long a job ran (or has been running); ``-`` before it started."""
    started = from_timestamp(job, "started_at")
    if started is None:
        return "-"
    end = from_timestamp(job, "finished_at") or now
    return ago(started, end) if end >= started else "-"


# ---- the home and the devnet ----------------------------------------------------


def home_option(f):
    return click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory [default: PROVER_HOME or ~/.prover].",
    )(f)


def shape_options(deadlines: int, window: int | None = 10, window_help: str = ""):
    """--window and --deadlines: the shape of a new devnet's proving period
    (``window`` None: the command picks its default, said in ``window_help``)."""

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
            default=window,
            show_default=window is not None,
            help="Epochs per deadline (1 s epochs) of a new devnet." + window_help,
        )(f)

    return options


def devnet_client(home: Path) -> LotusClient:
    """A client of the devnet this home runs (its endpoint file), or a
    ClickException saying none runs."""
    endpoint = endpoint_path(home)
    if not endpoint.is_file():
        raise click.ClickException(
            "no devnet running (start `prover devnet run` or `prover-manager daemon run`)"
        )
    token, url = parse_api_info(endpoint.read_text().strip())
    return LotusClient(url, token, network="t", retries=0, timeout=5)


def read_devnet_status(home: Path) -> dict:
    """The running devnet's ``DevnetStatus``: its epoch, miners, deadlines."""
    client = devnet_client(home)
    try:
        return client.call("DevnetStatus")
    except LotusError as exc:
        raise click.ClickException(f"devnet not reachable: {exc}") from exc
    finally:
        client.close()
