"""``prover storage list``: the storage hosts the manager's index knows,
the storages each serves, and whether it is live."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from prover._proto import manager_pb2 as pb
from prover.api.convert import from_timestamp
from prover.cli.common import ago, api_option, call, connect, print_table


@click.group("storage")
def storage_group() -> None:
    """Storage hosts (prover-storage) known to the manager."""


@storage_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@api_option
def storage_list(as_json, api, api_ca):
    """Storage hosts, their storages, and their last announcement."""
    with connect(api, api_ca) as client:
        hosts = call(client, client.admin.ListStorageHosts, pb.ListStorageHostsRequest()).hosts
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": h.name,
                        "address": h.address,
                        "storages": list(h.storages),
                        "host": h.host,
                        "version": h.version,
                        "tls": h.tls,
                        "live": h.live,
                        "registered_at": from_timestamp(h, "registered_at").isoformat(),
                        "last_seen_at": from_timestamp(h, "last_seen_at").isoformat(),
                    }
                    for h in hosts
                ],
                indent=1,
            )
        )
        return
    if not hosts:
        click.echo("no storage hosts have announced themselves")
        return
    now = datetime.now(UTC)
    print_table(
        ["Name", "Address", "Storages", "State", "LastSeen"],
        [
            [
                h.name,
                h.address + (" (tls)" if h.tls else ""),
                ",".join(h.storages),
                "live" if h.live else "silent",
                ago(from_timestamp(h, "last_seen_at"), now),
            ]
            for h in hosts
        ],
    )
