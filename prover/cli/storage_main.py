"""``prover-storage``: one per storage host; computes vanilla proofs of the
sectors on its own disks for GPU workers and the manager."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from prover.cli.options import version_option
from prover.config import ConfigError
from prover.settings import Override

if TYPE_CHECKING:
    from prover.storage.config import StorageHostConfig


@click.command()
@version_option("prover-storage")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Storage host TOML (see configs/storage.toml).",
)
@click.option(
    "--api",
    default=None,
    help="TOKEN:HOST:PORT[,HOST:PORT...] of the managers [default: config, PROVER_API_INFO].",
)
@click.option("--name", default=None, help="Host name the manager knows [default: config].")
@click.option("--listen", default=None, help="HOST:PORT of its StorageService [default: config].")
@click.option("--advertise", default=None, help="HOST:PORT callers dial [default: config].")
@click.option(
    "--storage",
    "storages",
    multiple=True,
    metavar="NAME=PATH|PATH",
    help="A storage to serve (repeat); adds to the config's [[storage]]. A PATH alone is "
    "a Lotus storage path, named by the ID in its sectorstore.json.",
)
@click.option(
    "--metrics-listen", default=None, help="HOST:PORT of its Prometheus /metrics [config]."
)
@click.option(
    "--lotus-listen",
    default=None,
    help="HOST:PORT of Lotus' POST /remote/vanilla/single [config lotus_listen].",
)
@click.option(
    "--lotus-miner-api",
    default=None,
    metavar="TOKEN:MULTIADDR",
    help="Attach the storages to this lotus-miner's sector index, as a lotus-worker does "
    "(an admin token: lotus-miner auth api-info --perm admin) [config [lotus_index] api].",
)
@click.option(
    "--endpoint-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the bound addresses here as JSON once listening; removed at a clean stop "
    "[config endpoint_file].",
)
@click.option("--log-json", is_flag=True)
@click.option(
    "--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"])
)
def cli(
    config_path,
    api,
    name,
    listen,
    advertise,
    storages,
    metrics_listen,
    lotus_listen,
    lotus_miner_api,
    endpoint_file,
    log_json,
    log_level,
) -> None:
    """Filecoin WindowPoSt prover: a storage host."""
    from prover.logs import configure_logging

    configure_logging(json=log_json, level=log_level)
    flags = _overrides(
        api=api,
        name=name,
        listen=listen,
        advertise=advertise,
        storages=storages,
        metrics_listen=metrics_listen,
        lotus_listen=lotus_listen,
        lotus_miner_api=lotus_miner_api,
        endpoint_file=str(endpoint_file) if endpoint_file is not None else None,
    )
    config = _load_config(config_path, flags)
    _size_read_pool(config.parallelism)
    _serve_until_signalled(config)
    sys.exit(0)


def _load_config(path: Path | None, overrides: list[Override]) -> StorageHostConfig:
    """The file and the flags validated as one (a setting may sit in
    either); the Lotus storage paths' settings a prover ignores, said."""
    from prover.storage.config import load_storage_config
    from prover.storage.sectorstore import lotus_path_notes

    try:
        config = load_storage_config(path, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    for note in lotus_path_notes(config.storages):  # a prover only reads: say what it ignores
        _log().info("lotus_storage_path", **note)
    return config


def _size_read_pool(parallelism: int) -> None:
    """The proofs library reads a sector's challenges on rayon's global
    pool, one thread per core by default: that pool, not our threads,
    bounds the reads in flight, so it is sized to the read limit before its
    first use (bench/storage_paths.py: 32 reads at once over a 50 ms mount
    took 72 s for 200 sectors with the default pool of 2, 10 s with 32)."""
    if "RAYON_NUM_THREADS" not in os.environ:
        os.environ["RAYON_NUM_THREADS"] = str(max(parallelism, os.cpu_count() or 1))


def _serve_until_signalled(config: StorageHostConfig) -> None:
    """Serves until SIGTERM or SIGINT, then stops cleanly (detached from a
    miner's index, its endpoint file removed)."""
    from prover.api.client import ApiInfoError, resolve_api_info
    from prover.storage.daemon import StorageHost

    try:
        info = resolve_api_info(config.api or None)
    except ApiInfoError as exc:
        raise click.UsageError(str(exc)) from exc
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        _log().info("signal_received", signal=signal.Signals(signum).name)
        stop.set()

    # before start: a SIGTERM as soon as it has attached to a miner's index
    # (its start line) must still detach it, not kill it where it stands
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        host = StorageHost(config, info).start()
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        stop.wait()
    finally:
        host.stop()


def _log():
    from prover.logs import get_logger

    return get_logger("prover.storage")


def _overrides(*, storages: tuple[str, ...], **flags: str | None) -> list[Override]:
    """The options given, as overrides of the file's settings (each named
    by its option, for the errors); ``--storage`` adds to ``[[storage]]``."""
    from prover.storage.sectorstore import storage_option

    keys = {"lotus_miner_api": "lotus_index.api"}
    out = [
        Override(f"--{flag.replace('_', '-')}", keys.get(flag, flag), value)
        for flag, value in flags.items()
        if value is not None
    ]
    extra = []
    for item in storages:
        try:
            label, path = storage_option(item)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--storage") from exc
        extra.append({"name": label, "path": str(path)})
    if extra:
        out.append(Override("--storage", "storage", extra, extend=True))
    return out


if __name__ == "__main__":
    cli()
