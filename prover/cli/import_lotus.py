"""``prover-manager config import-lotus``: a manager config from a
lotus-miner repo (the package prover.lotusimport does the reading and mapping)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from prover.cli.config_import import echo_report, refuse_overwrite, write_checked
from prover.config import CONFIG_FILE, SECRET_FILE, default_config_text


@click.command("import-lotus")
@click.option(
    "--repo",
    required=True,
    type=click.Path(path_type=Path),
    help="The lotus-miner repo (LOTUS_MINER_PATH, usually ~/.lotusminer).",
)
@click.option(
    "--storage-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Lotus' storage.json [default: the repo's].",
)
@click.option(
    "--miner-api",
    default=None,
    metavar="TOKEN:MULTIADDR",
    help="The miner node, asked for its actor [default: the repo's api and token files, "
    "else MINER_API_INFO].",
)
@click.option(
    "--full-node-api",
    default=None,
    metavar="TOKEN:MULTIADDR",
    help="The full node lotus-miner follows, asked for the control addresses; it becomes "
    "[chain] api [default: FULLNODE_API_INFO].",
)
@click.option(
    "--miner",
    "miners",
    multiple=True,
    metavar="f0XXXX",
    help="A miner actor to prove for (repeat), besides the miner node's.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The config to write [default: config.toml in the home].",
)
@click.option("--force", is_flag=True, help="Overwrite an existing config.")
@click.pass_obj
def import_lotus(
    home: Path,
    repo: Path,
    storage_json: Path | None,
    miner_api: str | None,
    full_node_api: str | None,
    miners: tuple[str, ...],
    out: Path | None,
    force: bool,
) -> None:
    """Write a prover manager config from a lotus-miner repo: its miner and
    control addresses (from its nodes), its [Proving], [Fees] and [Addresses]
    settings, its storage paths. Every Lotus key not carried over is printed
    with the reason."""
    from prover.api.tokens import new_secret
    from prover.configimport import ConfigImportError
    from prover.lotusimport import Nodes, import_repo, parse_miner, render

    target = out or home / CONFIG_FILE
    refuse_overwrite(target, force)
    for value in miners:
        try:
            parse_miner(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--miner") from exc
    nodes = Nodes(miner_api=miner_api, full_node_api=full_node_api, miners=list(miners))
    try:
        result = import_repo(repo, storage_json, nodes)
        header = (
            f"Imported from the lotus-miner repo {result.repo.path} by `prover-manager config "
            f"import-lotus` on {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.\n"
            'Keys set from Lotus say so in a comment ("imported from ..."); the Lotus '
            "settings not carried over are listed at the end."
        )
        text = render(result, default_config_text(), header)
    except ConfigImportError as exc:
        raise click.ClickException(str(exc)) from exc
    write_checked(target, text, result)

    click.echo(f"wrote {target} (loaded and checked by the manager's config loader)")
    if out is None and not (home / SECRET_FILE).exists():
        new_secret(home / SECRET_FILE)
        click.echo(f"wrote {home / SECRET_FILE} (mode 0600)")
    echo_report(result, result.repo.storage_file)
    if result.storages:
        click.echo("\non each storage host, the same paths by their IDs:")
        paths = " ".join(f"--storage {m.path}" for m in result.storages)
        click.echo(f"  prover-storage {paths}")
