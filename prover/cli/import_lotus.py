"""``prover-manager config import-lotus``: a manager config from a
lotus-miner repo (the package prover.lotusimport does the reading and mapping)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click

from prover.config import (
    CONFIG_FILE,
    SECRET_FILE,
    ConfigError,
    default_config_text,
    load_manager_config,
)


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
    from prover.lotusimport import LotusImportError, Nodes, import_repo, parse_miner, render

    target = out or home / CONFIG_FILE
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it")
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
    except LotusImportError as exc:
        raise click.ClickException(str(exc)) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_checked(target, text, result)

    click.echo(f"wrote {target} (loaded and checked by the manager's config loader)")
    if out is None and not (home / SECRET_FILE).exists():
        new_secret(home / SECRET_FILE)
        click.echo(f"wrote {home / SECRET_FILE} (mode 0600)")
    click.echo("\nmapped:")
    for s in result.settings:
        click.echo(f"  [{s.section}] {s.key} = {_show(s)}  <- {s.source}")
    for meta in result.storages:
        click.echo(f"  [[storage]] {meta.id} = {meta.path}  <- {result.repo.storage_file}")
    click.echo("\nnot mapped:")
    for u in result.unmapped:
        click.echo(f"  {u}")
    for meta in result.storages:
        for ignored in meta.ignored():
            click.echo(f"  {meta.file}: {ignored}")
    if result.notes:
        click.echo("\nnotes:")
        for note in result.notes:
            click.echo(f"  {note}")
    if result.storages:
        click.echo("\non each storage host, the same paths by their IDs:")
        paths = " ".join(f"--storage {m.path}" for m in result.storages)
        click.echo(f"  prover-storage {paths}")


def _show(setting) -> str:
    from prover.chain.lotus import parse_api_info
    from prover.lotusimport import toml_value

    if setting.key == "api":  # it carries the node's token: not printed
        token, _url = parse_api_info(setting.value)
        if token:
            return toml_value("<token>" + setting.value[len(token) :])
    return toml_value(setting.value)


def _write_checked(target: Path, text: str, result) -> None:
    """Writes ``text`` beside ``target``, loads it with the manager's config
    loader and checks that each imported key reads back as imported, then
    moves it into place (mode 0600: [chain] api may carry a token)."""
    from prover.config import parse_fil

    fd, name = tempfile.mkstemp(prefix=".import-", suffix=".toml", dir=target.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        try:
            config = load_manager_config(tmp)
        except ConfigError as exc:
            raise click.ClickException(f"the written config does not load (a bug): {exc}") from exc
        for s in result.settings:
            got = getattr(getattr(config, s.section), s.key)
            want = s.value
            if s.key.endswith("_gas_fee"):
                want = parse_fil(want)
            if isinstance(got, list | tuple):
                got = list(got)
            if got != want:
                raise click.ClickException(
                    f"[{s.section}] {s.key} reads back as {got!r}, not {want!r} (a bug)"
                )
        if [(st.name, st.path) for st in config.storage] != [
            (m.id, m.path) for m in result.storages
        ]:
            raise click.ClickException("the [[storage]] entries do not read back (a bug)")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
