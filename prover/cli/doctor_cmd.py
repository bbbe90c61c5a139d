"""``prover doctor``: is this host ready for its role? (``prover.doctor``)

Only click is imported here: ``prover`` loads every command at start, and
the doctor's checks pull in gRPC, SQLAlchemy and the native module, which
the other commands should not pay for (nor fail on, where the native
module cannot load: that is one of the things the doctor reports)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

ROLE_HELP = """Which host this is. Without it: from --config's shape (a manager's
tables such as [database] and [chain]; a worker's gpu, cpuset, concurrency or
allowed_sizes; a storage host's listen, parallelism or lotus_listen; else the
file's name, worker.toml or storage.toml), or a manager when --home (PROVER_HOME,
~/.prover) holds a config.toml."""


@click.command("doctor")
@click.option("--role", type=click.Choice(["manager", "worker", "storage"]), help=ROLE_HELP)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The host's config file (the manager's config.toml, configs/worker.toml or "
    "configs/storage.toml shapes).",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A manager's home [default: the --config's folder, PROVER_HOME or ~/.prover].",
)
@click.option(
    "--api",
    default=None,
    help="TOKEN:HOST:PORT[,HOST:PORT...] of the managers, as the daemon's --api "
    "[default: config api, PROVER_API_INFO].",
)
@click.option("--gpu", type=click.IntRange(min=0), default=None, help="As prover-worker --gpu.")
@click.option("--cpuset", default=None, help="As prover-worker --cpuset.")
@click.option(
    "--storage",
    "storages",
    multiple=True,
    metavar="NAME=PATH|PATH",
    help="As prover-storage --storage (repeat): a storage to check besides the config's.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.5),
    default=5.0,
    show_default=True,
    help="Seconds each network question may take.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def doctor(role, config_path, home, api, gpu, cpuset, storages, timeout, as_json) -> None:
    """Check that this host is ready for its role: for each check ok, warn,
    fail or skip, with what to do. Exit status 0 when nothing fails, 1 when
    something does, 2 for a bad option or a role it cannot tell.

    Run it as the daemon runs, with its environment (PROVER_API_INFO,
    FIL_PROOFS_PARAMETER_CACHE, CUDA_VISIBLE_DEVICES) and flags. A manager:
    its database and schema, the chain (Lotus node or embedded devnet), the
    head's freshness and this clock, its verifying keys. A worker: the cpu or
    cuda build against the GPUs and driver, its cpuset, parameters, RAM and
    disks for its sector sizes, each manager, its token and API. A storage
    host: each storage path, with one real vanilla proof read from it, and
    each manager."""
    from prover.doctor import Options, RoleError, run_doctor
    from prover.storage.sectorstore import storage_option

    extra = []
    for item in storages:
        try:
            extra.append(storage_option(item))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--storage") from exc
    options = Options(
        role=role,
        config=config_path,
        home=home,
        api=api,
        gpu=gpu,
        cpuset=cpuset,
        storages=extra,
        timeout_s=timeout,
    )
    try:
        report = run_doctor(options)
    except RoleError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=1))
    else:
        click.echo(report.render())
    sys.exit(0 if report.ok else 1)
