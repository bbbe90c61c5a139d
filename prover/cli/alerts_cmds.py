"""``prover alerts``: the alerts active in the manager now, as its alert
watch sees them (the same ones its webhooks and Alertmanager were sent)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from prover._proto import manager_pb2 as pb
from prover.api.convert import from_timestamp
from prover.cli.common import ago, api_option, call, connect, print_table


@click.command("alerts")
@click.option("--json", "as_json", is_flag=True, help="One JSON list, for scripts.")
@api_option
def alerts(as_json, api, api_ca):
    """Alerts active now, oldest first; exit status 1 if any is critical."""
    with connect(api, api_ca) as client:
        active = call(client, client.admin.ListAlerts, pb.ListAlertsRequest()).alerts
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": a.name,
                        "severity": a.severity,
                        "labels": dict(a.labels),
                        "summary": a.summary,
                        "details": dict(a.details),
                        "starts_at": (
                            from_timestamp(a, "starts_at") or datetime.now(UTC)
                        ).isoformat(),
                    }
                    for a in active
                ],
                indent=1,
            )
        )
    elif not active:
        click.echo("no active alerts")
    else:
        now = datetime.now(UTC)
        rows = [
            [
                a.severity,
                a.name,
                " ".join(f"{k}={v}" for k, v in sorted(a.labels.items())),
                ago(from_timestamp(a, "starts_at"), now),
                a.summary,
            ]
            for a in active
        ]
        print_table(["Severity", "Alert", "Labels", "For", "Summary"], rows)
    if any(a.severity == "critical" for a in active):
        raise SystemExit(1)
