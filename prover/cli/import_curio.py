"""``prover-manager config import-curio``: a manager config from Curio's
config layers in its database (the package prover.curioimport does the
reading, stacking and mapping)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from prover.cli.config_import import echo_report, refuse_overwrite, write_checked
from prover.config import CONFIG_FILE, SECRET_FILE, default_config_text


@click.command("import-curio")
@click.option(
    "--db",
    "db_url",
    required=True,
    metavar="URL",
    help="Curio's database: postgresql://USER:PASSWORD@HOST:PORT/DATABASE (Curio's "
    "defaults: yugabyte:yugabyte@127.0.0.1:5433/yugabyte); its tables are in schema curio.",
)
@click.option(
    "--layers",
    default=None,
    metavar="L1,L2,...",
    help="The layers stacked over base, in order, as given to `curio run --layers` "
    "[default: those of the machines that run WdPost, else base alone].",
)
@click.option(
    "--output",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The config to write [default: config.toml in the home].",
)
@click.option("--force", is_flag=True, help="Overwrite an existing config.")
@click.pass_obj
def import_curio(
    home: Path, db_url: str, layers: str | None, out: Path | None, force: bool
) -> None:
    """Write a prover manager config from Curio's config layers: the miners
    and who sends PoSt ([[Addresses]]), the WindowPoSt fee ([Fees]), the
    check limits ([Proving]), the node followed ([Apis]). Every Curio key
    not carried over is printed with the reason, and where Curio runs
    WindowPoSt today."""
    from prover.api.tokens import new_secret
    from prover.configimport import ConfigImportError, render
    from prover.curioimport import import_database

    target = out or home / CONFIG_FILE
    refuse_overwrite(target, force)
    named = None if layers is None else [t.strip() for t in layers.split(",") if t.strip()]
    try:
        result = import_database(db_url, named)
        header = (
            f"Imported from Curio's layers {','.join(result.layers)} at {result.where} by "
            f"`prover-manager config import-curio` on {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.\n"
            'Keys set from Curio say so in a comment ("imported from ..."); the Curio '
            "settings not carried over are listed at the end."
        )
        text = render(
            result, default_config_text(), header, "Curio settings not carried over, and why:"
        )
    except ConfigImportError as exc:
        raise click.ClickException(str(exc)) from exc
    write_checked(target, text, result)

    click.echo(f"wrote {target} (loaded and checked by the manager's config loader)")
    if out is None and not (home / SECRET_FILE).exists():
        new_secret(home / SECRET_FILE)
        click.echo(f"wrote {home / SECRET_FILE} (mode 0600)")
    echo_report(result)
