"""``prover-manager``: the manager daemon's command."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from prover import __version__
from prover.api.tokens import PERMS, make_token, new_secret, read_secret
from prover.cli.import_curio import import_curio
from prover.cli.import_lotus import import_lotus
from prover.cli.options import version_option
from prover.config import (
    CONFIG_FILE,
    ENDPOINT_FILE,
    SECRET_FILE,
    ConfigError,
    ManagerConfig,
    database_url,
    default_config_text,
    load_manager_config,
    resolve_home,
)
from prover.homelock import HomeInUse, lock_manager_home
from prover.logs import configure_logging, get_logger
from prover.settings import Override
from prover.store.database import unavailable_on_db_errors
from prover.store.errors import StoreUnavailable


@click.group()
@version_option("prover-manager")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory [default: PROVER_HOME or ~/.prover].",
)
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """Filecoin WindowPoSt prover: the manager."""
    ctx.obj = resolve_home(home)


@cli.group()
def daemon() -> None:
    """Set up and run the manager daemon."""


@daemon.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing config (the secret is kept).")
@click.pass_obj
def daemon_init(home: Path, force: bool) -> None:
    """Write a commented default config and the token secret into the home."""
    home.mkdir(parents=True, exist_ok=True)
    config, secret = home / CONFIG_FILE, home / SECRET_FILE
    if config.exists() and not force:
        raise click.ClickException(f"{config} exists; pass --force to overwrite it")
    config.write_text(default_config_text())
    click.echo(f"wrote {config}")
    if secret.exists():
        click.echo(f"kept {secret}")
    else:
        new_secret(secret)
        click.echo(f"wrote {secret} (mode 0600)")


def _load(home: Path, overrides: list[Override] | None = None):
    """The home's config with the command line's settings on top, validated
    as one (the merge is what runs: a file value a flag replaces is not
    refused, and a bad flag is named), and the token secret."""
    try:
        config = load_manager_config(home / CONFIG_FILE, overrides or ())
        secret = read_secret(home / SECRET_FILE)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    return config, secret


@daemon.command("run")
@click.option("--listen", default=None, help="HOST:PORT, overriding api.listen.")
@click.option(
    "--http-listen",
    default=None,
    help='HOST:PORT of /metrics and the dashboard, overriding http.listen ("" turns it off).',
)
@click.option(
    "--no-storage-mounts",
    is_flag=True,
    help="Read sector files only through storage hosts (prover-storage): ignore "
    "[[storage]] and the embedded devnet's store.",
)
@click.option(
    "--endpoint-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Where to write its pid, version and bound addresses (JSON) once it serves, removed "
    f"at a clean stop [default: {ENDPOINT_FILE} in the home; give managers sharing a home "
    "one each].",
)
@click.option(
    "--shadow",
    is_flag=True,
    help="Shadow mode ([chain] shadow): prove every deadline as live, never sign or send, and "
    "compare with the PoSts the chain shows from the existing system.",
)
@click.pass_obj
def daemon_run(
    home: Path,
    listen: str | None,
    http_listen: str | None,
    no_storage_mounts: bool,
    endpoint_file: Path | None,
    shadow: bool,
) -> None:
    """Serve until SIGTERM or SIGINT."""
    from prover.manager.server import Manager, run_until_signalled

    overrides = [
        *([Override("--shadow", "chain.shadow", True)] if shadow else []),
        *([Override("--listen", "api.listen", listen)] if listen else []),
        *(
            [Override("--http-listen", "http.listen", http_listen)]
            if http_listen is not None
            else []
        ),
    ]
    config, secret = _load(home, overrides)
    lock = None
    if database_url(config, home).startswith("sqlite"):
        # One manager per SQLite home, checked before anything is opened:
        # two on one file would each run the chain work (no lease between
        # them is worth having on SQLite). With PostgreSQL several managers
        # may share a home; the devnet lock still stops two embedded devnets.
        try:
            lock = lock_manager_home(home)
        except HomeInUse as exc:
            raise click.ClickException(str(exc)) from exc
    configure_logging(json=config.log.json_lines, level=config.log.level)
    _check_schema(config, home)
    try:
        if no_storage_mounts:
            config = config.model_copy(update={"storage": []})
        manager = Manager(
            config,
            home,
            secret,
            mounts=not no_storage_mounts,
            endpoint_file=endpoint_file or home / ENDPOINT_FILE,
        )
        run_until_signalled(manager)
    except Exception as exc:
        get_logger("prover.manager").error("manager_failed", error=str(exc))
        sys.exit(1)
    finally:
        if lock is not None:
            lock.release()  # the process exiting would drop it too


def _check_schema(config: ManagerConfig, home: Path) -> None:
    """Before anything starts: an older schema is upgraded ([database]
    migrate = "auto") or refused with what to run, exit 1 ("never"); a newer
    one is run on, with a warning. Unreachable, the database is left to the
    daemon's own start, which says so as before."""
    from prover.store.engine import make_engine
    from prover.store.migrate import MigrationLockTimeout, SchemaBehind, upgrade

    url = database_url(config, home)
    engine = make_engine(url)
    try:
        unavailable_on_db_errors(upgrade)(engine, policy=config.database.migrate_policy(url))
    except SchemaBehind as exc:
        get_logger("prover.manager").error(
            "schema_older_than_this_manager",
            schema=exc.status.current,
            head=exc.status.head,
            hint="prover-manager db upgrade",
        )
        raise click.ClickException(str(exc)) from exc
    except MigrationLockTimeout as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreUnavailable:
        pass
    finally:
        engine.dispose()


@cli.group("db")
def db_group() -> None:
    """The database schema: where it stands, and upgrading it (once per
    release, from any manager host, while the managers run)."""


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The manager's config [default: config.toml in the home].",
)


def _db_engine(home: Path, config_path: Path | None):
    """(the database URL, an engine on it) as the config names them."""
    from prover.store.engine import make_engine

    try:
        config = load_manager_config(config_path or home / CONFIG_FILE)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    # the outcome is printed; the log says only what needs a second look
    # (a schema newer than this build, a wait for the migration lock)
    configure_logging(json=config.log.json_lines, level="warning")
    url = database_url(config, home)
    return url, make_engine(url)


@db_group.command("status")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_obj
def db_status(home: Path, config_path: Path | None, as_json: bool) -> None:
    """The schema's revision, this build's head, and whether it is behind or ahead."""
    import json

    from prover.store.migrate import schema_status

    _, engine = _db_engine(home, config_path)
    try:
        status = unavailable_on_db_errors(schema_status)(engine)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(status.as_dict()))
        return
    click.echo(f"current: {status.current or 'none'}")
    click.echo(f"head:    {status.head} (this build, {__version__})")
    click.echo(status.describe())


@db_group.command("upgrade")
@_config_option
@click.pass_obj
def db_upgrade(home: Path, config_path: Path | None) -> None:
    """Apply this build's migrations, under a database lock (one process
    migrates at a time; managers of the previous release keep running)."""
    from prover.store.migrate import MigrationLockTimeout, upgrade

    url, engine = _db_engine(home, config_path)
    lock = None
    try:
        if url.startswith("sqlite"):
            lock = lock_manager_home(home)  # SQLite: one manager, stopped for this
        done = unavailable_on_db_errors(upgrade)(engine)
    except (HomeInUse, StoreUnavailable, MigrationLockTimeout) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
        if lock is not None:
            lock.release()
    if done.applied:
        click.echo(
            f"upgraded the schema from {done.before.current or 'none'} to {done.after}: "
            f"{', '.join(done.applied)}"
        )
    else:
        click.echo(done.before.describe())


@cli.group("config")
def config_group() -> None:
    """Manager configs: import one from a lotus-miner repo or from Curio's layers."""


config_group.add_command(import_lotus)
config_group.add_command(import_curio)


@cli.group()
def auth() -> None:
    """API tokens."""


@auth.command("api-info")
@click.option("--perm", type=click.Choice(PERMS), required=True)
@click.pass_obj
def auth_api_info(home: Path, perm: str) -> None:
    """Print the PROVER_API_INFO line for a worker or an operator."""
    config, secret = _load(home)
    click.echo(f"PROVER_API_INFO={make_token(secret, perm)}:{config.api.listen}")


if __name__ == "__main__":
    cli()
