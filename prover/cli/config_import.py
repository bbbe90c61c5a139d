"""What ``prover-manager config import-lotus`` and ``import-curio`` do alike
once the import is read: refuse to overwrite, write the config so that the
manager's own loader has read it back before it replaces anything, and
print each key mapped and each setting not carried over with the reason."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from prover.config import ConfigError, load_manager_config, parse_fil
from prover.configimport import ImportReport, Setting, toml_value


def refuse_overwrite(target: Path, force: bool) -> None:
    """An existing config is kept unless ``--force``: an import is a start,
    and a config edited since must not be lost to a second run."""
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it")


def write_checked(target: Path, text: str, result: ImportReport) -> None:
    """Writes ``text`` beside ``target``, loads it with the manager's config
    loader and checks that each imported key reads back as imported, then
    moves it into place (mode 0600: [chain] api may carry a token)."""
    target.parent.mkdir(parents=True, exist_ok=True)
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


def echo_report(result: ImportReport, storage_source: Any = None) -> None:
    """Each key mapped and where from, each setting not carried over with
    the reason, then the notes."""
    click.echo("\nmapped:")
    for s in result.settings:
        click.echo(f"  [{s.section}] {s.key} = {show(s)}  <- {s.source}")
    for meta in result.storages:
        click.echo(f"  [[storage]] {meta.id} = {meta.path}  <- {storage_source}")
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


def show(setting: Setting) -> str:
    """A value as printed: [chain] api without its token."""
    from prover.chain.lotus import parse_api_info

    if setting.key == "api":  # it carries the node's token: not printed
        token, _url = parse_api_info(setting.value)
        if token:
            return toml_value("<token>" + setting.value[len(token) :])
    return toml_value(setting.value)
