"""``prover-manager``: the manager daemon's command."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from prover.api.tokens import PERMS, make_token, new_secret, read_secret
from prover.cli.import_lotus import import_lotus
from prover.config import (
    CONFIG_FILE,
    SECRET_FILE,
    ConfigError,
    HttpConfig,
    database_url,
    load_manager_config,
    resolve_home,
)
from prover.homelock import HomeInUse, lock_manager_home
from prover.logs import configure_logging, get_logger


def default_config_text() -> str:
    """The commented default config (configs/manager.toml), shipped in the package."""
    from importlib import resources

    return resources.files("prover").joinpath("manager.default.toml").read_text()


@click.group()
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


def _load(home: Path):
    try:
        config = load_manager_config(home / CONFIG_FILE)
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
    shadow: bool,
) -> None:
    """Serve until SIGTERM or SIGINT."""
    from prover.manager.server import Manager, run_until_signalled

    config, secret = _load(home)
    if shadow:
        config = config.model_copy(
            update={"chain": config.chain.model_copy(update={"shadow": True})}
        )
    if listen:
        config = config.model_copy(update={"api": config.api.model_copy(update={"listen": listen})})
    if http_listen is not None:
        try:
            http = HttpConfig.model_validate({"listen": http_listen})
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--http-listen") from exc
        config = config.model_copy(update={"http": http})
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
    try:
        if no_storage_mounts:
            config = config.model_copy(update={"storage": []})
        run_until_signalled(Manager(config, home, secret, mounts=not no_storage_mounts))
    except Exception as exc:
        get_logger("prover.manager").error("manager_failed", error=str(exc))
        sys.exit(1)
    finally:
        if lock is not None:
            lock.release()  # the process exiting would drop it too


@cli.group("config")
def config_group() -> None:
    """Manager configs: import one from a lotus-miner repo."""


config_group.add_command(import_lotus)


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
