"""Which release each process runs, seen from outside during a rolling
upgrade (issue 26): the manager's start line and Status, a 0.1.0 worker
(which sends neither its build nor its API) beside a 0.2.0 cuda one in
``prover workers list``, and the managers' versions on the leader line."""

from __future__ import annotations

import json
import subprocess
import sys

from prover._proto import manager_pb2 as pb
from prover.buildinfo import API_VERSION, MIN_CLIENT_API, build_info


def _workers_list(manager, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "prover.cli", "workers", "list", *args],
        env={**manager.env(), "PROVER_API_INFO": manager.api_info()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_versions_and_builds_are_shown_for_old_and_new_clients(manager):
    (started,) = manager.events("manager_started")
    assert started["version"] == build_info().describe()

    client = manager.client()
    status = client.call(client.admin.Status, pb.StatusRequest())
    info = build_info()
    assert (status.version, status.commit, status.build) == (info.version, info.commit, info.build)
    assert (status.api_version, status.min_client_api) == (API_VERSION, MIN_CLIENT_API)
    assert status.schema and status.schema == status.schema_head

    # a 0.1.0 worker: none of the new fields
    client.call(client.worker.Register, pb.RegisterRequest(name="old", host="h", version="0.1.0"))
    answer = client.call(
        client.worker.Register,
        pb.RegisterRequest(
            name="new",
            host="h",
            version="0.2.0+abc1234",
            build="cuda",
            driver_required="580.65.06",
            api_version=API_VERSION,
        ),
    )
    assert answer.server_version == info.short()
    assert (answer.api_version, answer.min_client_api) == (API_VERSION, MIN_CLIENT_API)

    rows = {w["name"]: w for w in json.loads(_workers_list(manager, "--json"))}
    assert rows["old"]["version"] == "0.1.0" and rows["old"]["build"] is None
    assert rows["old"]["api_version"] == 1
    assert rows["new"]["build"] == "cuda" and rows["new"]["driver_required"] == "580.65.06"
    assert rows["new"]["api_version"] == API_VERSION

    table = _workers_list(manager)
    new_line = next(line for line in table.splitlines() if line.startswith("new "))
    assert "0.2.0+abc1234" in new_line and "cuda (driver >= 580.65.06)" in new_line
    old_line = next(line for line in table.splitlines() if line.startswith("old "))
    assert " ? " in old_line  # a 0.1.0 worker does not say its build
