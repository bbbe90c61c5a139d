"""prover-manager and the operator commands, run as an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(module: str, *args: str, env: dict | None = None, check: bool = True):
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{module} {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def prover(*args, **kw):
    return run("prover.cli", *args, **kw)


def job_file(tmp_path, entries) -> str:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(entries))
    return str(path)


def entry(partition=0, **kw):
    d = {
        "miner": 1000,
        "proof_type": "2KiB",
        "deadline": 4,
        "partition": partition,
        "randomness": "00" * 32,
        "sectors": [{"id": partition + 1, "comm_r": "01" + "00" * 31, "storage": "store-1"}],
    }
    d.update(kw)
    return d


def test_init_writes_commented_config_and_private_secret(tmp_path):
    home = tmp_path / "h"
    out = run("prover.cli.manager_main", "--home", str(home), "daemon", "init").stdout
    assert "config.toml" in out
    config = (home / "config.toml").read_text()
    assert config == (ROOT / "configs" / "manager.toml").read_text()
    assert (home / "secret").stat().st_mode & 0o777 == 0o600
    again = run("prover.cli.manager_main", "--home", str(home), "daemon", "init", check=False)
    assert again.returncode == 1 and "--force" in again.stderr
    secret = (home / "secret").read_text()
    run("prover.cli.manager_main", "--home", str(home), "daemon", "init", "--force")
    assert (home / "secret").read_text() == secret


def test_shipped_default_config_is_the_documented_one():
    shipped = (ROOT / "prover" / "manager.default.toml").read_text()
    assert shipped == (ROOT / "configs" / "manager.toml").read_text()
    tomllib.loads(shipped)


def test_api_info_lines(tmp_path):
    env = {"PROVER_HOME": str(tmp_path / "h")}
    run("prover.cli.manager_main", "daemon", "init", env=env)
    admin = run("prover.cli.manager_main", "auth", "api-info", "--perm", "admin", env=env).stdout
    worker = run("prover.cli.manager_main", "auth", "api-info", "--perm", "worker", env=env).stdout
    assert admin.startswith("PROVER_API_INFO=admin.") and admin.strip().endswith(":127.0.0.1:9700")
    assert worker.startswith("PROVER_API_INFO=worker.") and admin != worker


def test_bad_config_names_the_key(tmp_path):
    home = tmp_path / "h"
    run("prover.cli.manager_main", "--home", str(home), "daemon", "init")
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace("max_tries = 2", "max_tries = 0\nmax_trys = 3"))
    proc = run("prover.cli.manager_main", "--home", str(home), "daemon", "run", check=False)
    assert proc.returncode == 1
    assert "jobs.max_tries" in proc.stderr and "jobs.max_trys" in proc.stderr


def test_jobs_add_list_reset_remove(manager, tmp_path):
    env = {"PROVER_API_INFO": manager.api_info("admin")}
    ids = prover(
        "jobs",
        "add",
        "--from-json",
        job_file(tmp_path, [entry(0, close_epoch=900), entry(1)]),
        env=env,
    ).stdout.split()
    assert len(ids) == 2
    table = prover("jobs", "list", env=env).stdout.splitlines()
    assert table[0].split()[:8] == [
        "JobID",
        "Miner",
        "DDL",
        "Partition",
        "Sectors",
        "Worker",
        "State",
        "Try",
    ]
    assert table[1].split()[:7] == [ids[0], "f01000", "4", "0", "1", "-", "ready"]
    listed = json.loads(prover("jobs", "list", "--json", env=env).stdout)
    assert [j["id"] for j in listed] == [int(i) for i in ids]
    assert [j["sector_count"] for j in listed] == [1, 1] and "sectors" not in listed[0]
    assert listed[0]["close_epoch"] == 900 and listed[1]["close_epoch"] is None
    with_sectors = json.loads(prover("jobs", "list", "--json", "--sectors", env=env).stdout)
    assert with_sectors[0]["sectors"][0]["sealed_storage"] == "store-1"
    (shown,) = json.loads(prover("jobs", "show", ids[1], env=env).stdout)
    assert shown["id"] == int(ids[1]) and shown["sectors"][0]["id"] == 2
    assert [
        j["id"]
        for j in json.loads(prover("jobs", "list", "--json", "--limit", "1", env=env).stdout)
    ] == [int(ids[0])]
    assert "Attempt" in prover("jobs", "list", "--detail", env=env).stdout

    out = prover("jobs", "reset", ids[0], "777", env=env, check=False)
    assert out.returncode == 1
    assert f"{ids[0]}: reset" in out.stdout and "777: not reset: unknown job" in out.stderr
    assert prover("jobs", "remove", ids[1], env=env).stdout.strip() == f"{ids[1]}: removed"
    refused = prover("jobs", "remove-all", env=env, check=False)
    assert refused.returncode == 2 and "--really-do-it" in refused.stderr
    assert "removed 1 jobs" in prover("jobs", "remove-all", "--really-do-it", env=env).stdout
    assert json.loads(prover("jobs", "list", "--all", "--json", env=env).stdout) == []


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([entry(0), entry(1, randomness="zz")], "job 1: randomness: must be 64 hex digits"),
        ([entry(0, proof_type="3KiB")], "job 0: proof_type"),
        ([{k: v for k, v in entry(0).items() if k != "deadline"}], "job 0: deadline: is required"),
        ([entry(0, sectors=[{"id": 1}])], "job 0: sectors[0].comm_r: is required"),
        ([entry(0, colour="red")], "job 0: colour: unknown field"),
        ([entry(0, deadline=60)], "job 0: deadline: must be below 48"),
        ([entry(0), entry(0)], "job 1: partition: the same partition appears twice"),
    ],
)
def test_a_bad_job_file_is_refused_whole(manager, tmp_path, entries, message):
    env = {"PROVER_API_INFO": manager.api_info("admin")}
    proc = prover("jobs", "add", "--from-json", job_file(tmp_path, entries), env=env, check=False)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert json.loads(prover("jobs", "list", "--all", "--json", env=env).stdout) == []


def test_commands_without_a_manager_say_how_to_find_one():
    env = {k: v for k, v in os.environ.items() if k != "PROVER_API_INFO"}
    proc = subprocess.run(
        [sys.executable, "-m", "prover.cli", "jobs", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "PROVER_API_INFO" in proc.stderr
    bad = prover("jobs", "list", "--api", "nonsense", check=False)
    assert bad.returncode == 2 and "TOKEN:HOST:PORT" in bad.stderr


def test_wrong_token_is_reported(manager):
    proc = prover(
        "jobs", "list", "--api", f"admin.{'0' * 64}:127.0.0.1:{manager.port}", check=False
    )
    assert proc.returncode == 1 and "UNAUTHENTICATED" in proc.stderr
    proc = prover("jobs", "list", env={"PROVER_API_INFO": manager.api_info("worker")}, check=False)
    assert proc.returncode == 1 and "PERMISSION_DENIED" in proc.stderr


def test_workers_list_and_drain(manager):
    from prover._proto import manager_pb2 as pb

    w = manager.client("worker")
    w.call(
        w.worker.Register,
        pb.RegisterRequest(
            name="gpu0",
            host="box",
            cpus=16,
            gpus=[pb.GpuInfo(index=0, name="NVIDIA H200", utilization=97, temperature=61)],
        ),
    )
    env = {"PROVER_API_INFO": manager.api_info("admin")}
    out = prover("workers", "list", env=env).stdout
    assert "gpu0" in out and "NVIDIA H200 97% 61C" in out and "active" in out
    assert "draining" in prover("workers", "drain", "gpu0", env=env).stdout
    listed = json.loads(prover("workers", "list", "--json", env=env).stdout)
    assert listed[0]["draining"] is True
    missing = prover("workers", "drain", "nobody", env=env, check=False)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr


def test_deadlines_on_a_manager_that_follows_no_chain(manager):
    env = {"PROVER_API_INFO": manager.api_info("admin")}
    for args in (("deadlines",), ("deadlines", "prove", "--miner", "1000", "--deadline", "3")):
        proc = prover(*args, env=env, check=False)
        assert proc.returncode == 1
        assert "FAILED_PRECONDITION" in proc.stderr and "follows no chain" in proc.stderr
    bad = prover("deadlines", "prove", "--miner", "1000", "--deadline", "48", env=env, check=False)
    assert bad.returncode == 2 and "48" in bad.stderr


def test_jobs_of_mainnet_size_beyond_one_message(manager, tmp_path):
    """40 jobs of 2349 sectors (a 32GiB partition each) are about 5.6 MiB as
    protobuf: more than the 4 MiB gRPC limit. Adding, listing and showing
    them works, by batches and pages."""
    env = {"PROVER_API_INFO": manager.api_info("admin")}
    big = 2349
    entries = [
        entry(
            p,
            proof_type="32GiB",
            deadline=p % 48,
            close_epoch=1000 + p,
            sectors=[
                {"id": n, "comm_r": f"{n:064x}", "storage": "store-1"}
                for n in range(p * big + 1, (p + 1) * big + 1)
            ],
        )
        for p in range(40)
    ]
    ids = [
        int(i)
        for i in prover(
            "jobs", "add", "--from-json", job_file(tmp_path, entries), env=env
        ).stdout.split()
    ]
    assert len(ids) == 40
    assert len(manager.events("jobs_added")) >= 2  # more than one request
    listed = json.loads(prover("jobs", "list", "--json", env=env).stdout)
    assert [j["id"] for j in listed] == ids and {j["sector_count"] for j in listed} == {big}
    table = prover("jobs", "list", env=env).stdout.splitlines()
    assert len(table) == 41 and table[1].split()[4] == str(big)
    with_sectors = json.loads(prover("jobs", "list", "--json", "--sectors", env=env).stdout)
    assert [len(j["sectors"]) for j in with_sectors] == [big] * 40
    assert with_sectors[39]["sectors"][-1]["id"] == 40 * big
    (shown,) = json.loads(prover("jobs", "show", str(ids[7]), env=env).stdout)
    assert shown["sectors"][0] == {
        "id": 7 * big + 1,
        "comm_r": f"{7 * big + 1:064x}",
        "sealed_storage": "store-1",
        "cache_storage": "store-1",
        "upgraded": False,
    }
    # adding the file again is idempotent (the keys exist): the same ids
    again = prover(
        "jobs", "add", "--from-json", job_file(tmp_path, entries), env=env
    ).stdout.split()
    assert [int(i) for i in again] == ids
    missing = prover("jobs", "show", "999999", env=env, check=False)
    assert missing.returncode == 1 and "unknown job(s): 999999" in missing.stderr
