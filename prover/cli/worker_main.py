"""``prover-worker``: one per GPU; pulls jobs, proves them, pushes results."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from prover.cli.options import version_option
from prover.config import ConfigError
from prover.settings import Override


@click.command()
@version_option("prover-worker")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Worker TOML (see configs/worker.toml).",
)
@click.option(
    "--api",
    default=None,
    help="TOKEN:HOST:PORT[,HOST:PORT...] of the managers [default: config, PROVER_API_INFO].",
)
@click.option(
    "--gpu",
    type=click.IntRange(min=0),
    default=None,
    help="GPU index: the compute sees only it (CUDA_VISIBLE_DEVICES).",
)
@click.option("--cpuset", default=None, help="CPUs to run on, e.g. 0-15.")
@click.option("--name", default=None, help="Worker name [default: config, host name].")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=8),
    default=None,
    help="Jobs at once; 2 overlaps one job's vanilla proofs with another's SNARK.",
)
@click.option(
    "--metrics-listen",
    default=None,
    help="HOST:PORT of this worker's Prometheus /metrics [default: config, off].",
)
@click.option(
    "--spool-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where finished results wait for a manager [default: config, TMPDIR/prover-spool-NAME].",
)
@click.option(
    "--endpoint-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write its /metrics address here as JSON once listening; removed at a clean stop "
    "[default: config, none].",
)
@click.option("--log-json", is_flag=True)
@click.option(
    "--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"])
)
def cli(
    config_path,
    api,
    gpu,
    cpuset,
    name,
    concurrency,
    metrics_listen,
    spool_dir,
    endpoint_file,
    log_json,
    log_level,
) -> None:
    """Filecoin WindowPoSt prover: a worker."""
    from prover.logs import configure_logging, get_logger
    from prover.proofs.native import NativeUnavailable
    from prover.proofs.native import load as load_native
    from prover.worker.config import default_spool_dir, load_worker_config
    from prover.worker.pinning import apply_pinning

    configure_logging(json=log_json, level=log_level)
    log = get_logger("prover.worker")
    try:  # a cuda build without the NVIDIA driver: say so before anything else
        load_native()
    except NativeUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    flags = {
        "api": api,
        "gpu": gpu,
        "cpuset": cpuset,
        "name": name,
        "concurrency": concurrency,
        "metrics_listen": metrics_listen,
        "spool_dir": spool_dir,
        "endpoint_file": endpoint_file,
    }
    overrides = [
        Override(f"--{key.replace('_', '-')}", key, str(v) if isinstance(v, Path) else v)
        for key, v in flags.items()
        if v is not None
    ]
    try:  # the file and the flags validated as one: a flag overrides the file's value
        config = load_worker_config(config_path, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    # before pinning points TMPDIR at a folder of this process' own
    config = config.model_copy(update={"spool_dir": config.spool_dir or default_spool_dir(config)})
    try:
        pinning = apply_pinning(config.gpu, config.cpuset, config.tmpdir)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if pinning.gpu is None:
        log.warning("no_gpu", note="running SNARKs on CPU (no --gpu given)")

    # Only now load anything that touches the proofs library or gRPC.
    from prover.api.client import ApiInfoError, ManagerClient, resolve_api_info

    try:
        info = resolve_api_info(config.api or None)
    except ApiInfoError as exc:
        raise click.UsageError(str(exc)) from exc
    client = ManagerClient(info, ca_file=config.api_ca)
    try:
        worker = _worker_class()(config, client, pinning)
    except OSError as exc:  # the spool cannot be made
        raise click.ClickException(f"spool_dir {config.spool_dir}: {exc}") from exc

    def on_signal(signum, _frame) -> None:
        log.info("signal_received", signal=signal.Signals(signum).name)
        worker.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        worker.run()
    except Exception as exc:
        log.error("worker_failed", error=f"{type(exc).__name__}: {exc}")
        sys.exit(1)
    finally:
        pinning.release()  # the compute children are gone: run() killed them


def _worker_class():
    """The Worker, imported only once the settings are checked (it loads
    gRPC and the proofs library)."""
    from prover.worker.loop import Worker

    return Worker


if __name__ == "__main__":
    cli()
