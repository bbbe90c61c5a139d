"""The ``prover`` command: operator tools around the proof core."""

from __future__ import annotations

import click

from prover.cli.alerts_cmds import alerts
from prover.cli.deadlines_cmds import deadlines_group
from prover.cli.demo import demo
from prover.cli.devnet_cmds import devnet_group
from prover.cli.doctor_cmd import doctor
from prover.cli.jobs_cmds import jobs_group, workers_group
from prover.cli.options import version_option
from prover.cli.proofs_cmds import bench_group, params_group, sectors_group
from prover.cli.storage_cmds import storage_group
from prover.logs import configure_logging


@click.group()
@version_option("prover")
@click.option("--log-json", is_flag=True, help="Log JSON lines instead of key=value text.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def cli(log_json: bool, log_level: str) -> None:
    """Filecoin WindowPoSt prover: operator tools."""
    configure_logging(json=log_json, level=log_level)


cli.add_command(params_group)
cli.add_command(sectors_group)
cli.add_command(bench_group)
cli.add_command(jobs_group)
cli.add_command(workers_group)
cli.add_command(devnet_group)
cli.add_command(deadlines_group)
cli.add_command(demo)
cli.add_command(alerts)
cli.add_command(storage_group)
cli.add_command(doctor)
