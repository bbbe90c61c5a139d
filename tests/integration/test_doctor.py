"""`prover doctor` on real homes: parameter files missing or corrupt, storage
paths that cannot be proven from, a wrong token against a real manager on
loopback, a chain whose head is stale, and a healthy demo-like home (a real
manager with its embedded devnet, a worker config, a storage host config)
that passes for every role. The command runs as an operator runs it, in a
process of its own, reading the environment (the proofs library reads its
parameter directory once per process)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manager_harness import ManagerProcess, free_port
from prover.api.tokens import make_token, new_secret
from prover.buildinfo import API_VERSION
from prover.chain.deadlines import Policy
from prover.devnet import Devnet, DevnetMiner, DevnetServer, init_devnet
from prover.doctor import FAIL, OK, SKIP, WARN, Options, run_doctor
from prover.proofs.paramcheck import record_path


def doctor(*args: str, **env: str) -> tuple[int, dict[str, dict]]:
    """``prover doctor --json ARGS`` in a process of its own: the exit status
    and the checks by name."""
    base = {k: v for k, v in os.environ.items() if k not in ("PROVER_API_INFO", "PROVER_HOME")}
    proc = subprocess.run(
        [sys.executable, "-m", "prover.cli", "doctor", "--json", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    return proc.returncode, {c["name"]: c for c in report["checks"]}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---- parameters ---------------------------------------------------------------------


def test_missing_parameters_fail_with_the_command_that_makes_them(tmp_path):
    config = write(tmp_path / "worker.toml", 'allowed_sizes = ["2KiB"]\n')
    empty = tmp_path / "params"
    empty.mkdir()
    rc, checks = doctor("--config", str(config), FIL_PROOFS_PARAMETER_CACHE=str(empty))
    assert rc == 1
    found = checks["parameters 2KiB"]
    assert (
        found["status"] == FAIL and "missing" in found["detail"] and str(empty) in found["detail"]
    )
    assert "prover params generate --size 2KiB" in found["fix"]
    # the missing file is what the parameter cache's disk must make room for
    assert "room for the missing 2KiB" in checks["disk: parameter cache"]["detail"]


@pytest.mark.parametrize(
    ("damage", "verdict"),
    [("vk byte flipped", "wrong digest"), ("params cut short", "truncated")],
)
def test_a_corrupt_parameter_file_fails_naming_the_file(tmp_path, params_2kib, damage, verdict):
    copy = tmp_path / "params"
    copy.mkdir()
    stem = params_2kib.params.stem
    for f in params_2kib.directory.glob(f"{stem}*"):
        shutil.copy(f, copy / f.name)
    assert (copy / record_path(params_2kib.params).name).is_file()  # recorded test parameters
    if damage == "vk byte flipped":
        vk = copy / params_2kib.verifying_key.name
        data = bytearray(vk.read_bytes())
        data[len(data) // 2] ^= 0x01
        vk.write_bytes(bytes(data))
        bad = vk.name
    else:
        params = copy / params_2kib.params.name
        params.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
        bad = params.name
    config = write(tmp_path / "worker.toml", 'allowed_sizes = ["2KiB"]\nconcurrency = 1\n')
    rc, checks = doctor("--config", str(config), FIL_PROOFS_PARAMETER_CACHE=str(copy))
    assert rc == 1
    found = checks["parameters 2KiB"]
    assert found["status"] == FAIL and verdict in found["detail"] and bad in found["detail"]
    # `params generate` leaves files that are there alone: the pair must go first
    assert (
        found["fix"].startswith("remove ") and "prover params generate --size 2KiB" in found["fix"]
    )


# ---- storage paths ------------------------------------------------------------------


def test_storage_paths_that_cannot_be_proven_from_fail(tmp_path, make_sectors):
    """Tests may run as root, whom chmod 000 does not stop: a path that is
    a file, and a sector whose replica was cut short, stop anyone."""
    make_sectors([1, 2], root=tmp_path / "good")
    make_sectors([5, 6], root=tmp_path / "cut")
    sealed = tmp_path / "cut" / "sealed" / "s-t01000-5"
    sealed.write_bytes(sealed.read_bytes()[:1000])
    shutil.copytree(tmp_path / "good", tmp_path / "lotus")
    (tmp_path / "lotus" / "sectors.json").unlink()  # as a Lotus path: comm_r is on chain
    write(tmp_path / "a-file", "not a directory\n")
    lines = [
        f'[[storage]]\nname = "{n}"\npath = "{tmp_path / p}"\n'
        for n, p in (("good", "good"), ("cut", "cut"), ("file", "a-file"), ("lotus", "lotus"))
    ]
    config = write(tmp_path / "storage.toml", "parallelism = 4\n" + "".join(lines))
    rc, checks = doctor("--config", str(config))
    assert rc == 1
    assert checks["storage file"]["status"] == FAIL
    assert "not a directory" in checks["storage file"]["detail"]
    cut = checks["vanilla proof cut"]
    assert cut["status"] == FAIL and "s-t01000-5" in cut["detail"] and "1000 bytes" in cut["detail"]
    good = checks["vanilla proof good"]
    assert good["status"] == OK and "verified" in good["detail"]
    lotus = checks["vanilla proof lotus"]
    assert lotus["status"] == OK and "Merkle paths check against p_aux" in lotus["detail"]


def test_a_storage_path_that_is_gone(tmp_path):
    api = f"worker.0:127.0.0.1:{free_port()}"
    report = run_doctor(Options(role="storage", storages=[("gone", tmp_path / "nope")], api=api))
    by_name = {c.name: c for c in report.checks}
    assert (
        by_name["storage gone"].status == FAIL
        and "does not exist" in by_name["storage gone"].detail
    )
    assert not report.ok


# ---- a real manager on loopback -------------------------------------------------------


def test_tokens_against_a_real_manager(manager, tmp_path):
    config = write(tmp_path / "worker.toml", "claim_wait_s = 5.0\n")
    here = f"127.0.0.1:{manager.port}"
    dead = f"127.0.0.1:{free_port()}"
    wrong = make_token(os.urandom(32), "worker")  # well formed, another manager's secret

    rc, checks = doctor("--config", str(config), "--api", f"{wrong}:{here},{dead}")
    assert rc == 1
    token = checks[f"token at {here}"]
    assert token["status"] == FAIL and "invalid token" in token["detail"]
    assert "prover-manager auth api-info --perm worker" in token["fix"]
    assert checks[f"manager {here}"]["status"] == OK
    assert checks[f"manager {dead}"]["status"] == FAIL  # each address is asked on its own

    rc, checks = doctor("--config", str(config), PROVER_API_INFO=manager.api_info("worker"))
    assert checks[f"token at {here}"]["status"] == OK
    assert checks[f"API at {here}"]["status"] == SKIP  # Status takes an admin token

    rc, checks = doctor("--config", str(config), "--api", manager.api_info("admin"))
    assert checks[f"token at {here}"]["status"] == WARN  # more than a worker needs
    api = checks[f"API at {here}"]
    assert api["status"] == OK and f"this host API {API_VERSION}" in api["detail"]


# ---- the chain --------------------------------------------------------------------------


def manager_home(tmp_path: Path, api: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    new_secret(home / "secret")
    write(
        home / "config.toml",
        f'[chain]\napi = "{api}"\nnetwork = "t"\nminers = [1000]\nepoch_seconds = 2.0\n',
    )
    return home


def serve_chain(lag_s: float) -> DevnetServer:
    """A devnet node whose chain runs ``lag_s`` behind the wall clock: its
    head's timestamp is that old, while its HTTP clock is right."""
    miner = DevnetMiner(1000, 10, 0, {}, {})
    net = Devnet([miner], Policy.devnet(epoch_seconds=2.0), clock=lambda: time.time() - lag_s)
    net.genesis = time.time() - 3600
    return DevnetServer(net).start()


@pytest.mark.parametrize(("lag_s", "status"), [(0, OK), (600, FAIL)])
def test_a_stale_head_fails(tmp_path, params_2kib, lag_s, status):
    server = serve_chain(lag_s)
    try:
        home = manager_home(tmp_path, server.url)
        report = run_doctor(Options(home=home))
    finally:
        server.stop()
    by_name = {c.name: c for c in report.checks}
    assert by_name["chain"].status == OK and "f01000" in by_name["chain"].detail
    assert by_name["chain head"].status == status, by_name["chain head"]
    assert by_name["clock"].status == OK  # the node's clock agrees with ours
    assert by_name["parameters 2KiB"].status == OK  # the miner's size, from StateMinerInfo
    if status == FAIL:
        assert (
            "stale" in by_name["chain head"].detail
            and "lotus sync wait" in by_name["chain head"].fix
        )
    assert report.ok == (status == OK)


def test_a_chain_that_does_not_answer_fails(tmp_path):
    home = manager_home(tmp_path, f"http://127.0.0.1:{free_port()}/rpc/v1")
    report = run_doctor(Options(home=home, timeout_s=2))
    head = next(c for c in report.checks if c.name == "chain head")
    assert head.status == FAIL and "ChainHead" in head.detail


# ---- a healthy demo-like home -------------------------------------------------------------


def test_a_healthy_demo_home_passes_for_every_role(tmp_path, params_2kib):
    home = tmp_path / "home"
    mgr = ManagerProcess(home)
    init_devnet(home, sectors=4, policy=Policy.devnet())
    mgr.start()
    try:
        worker = write(tmp_path / "worker-local.toml", "claim_wait_s = 5.0\n")
        store = home / "devnet" / "store"
        storage = write(
            tmp_path / "storage.toml", f'[[storage]]\nname = "devnet"\npath = "{store}"\n'
        )
        token = {"PROVER_API_INFO": mgr.api_info("worker")}
        runs = {
            "manager": ((), {"PROVER_HOME": str(home)}),
            "worker": (("--config", str(worker)), token),
            "storage": (("--config", str(storage)), token),
        }
        for role, (args, env) in runs.items():
            t0 = time.monotonic()
            rc, checks = doctor(*args, **env)
            seconds = time.monotonic() - t0
            bad = {n: c for n, c in checks.items() if c["status"] not in (OK, SKIP)}
            assert rc == 0 and not bad, (role, bad)
            print(f"prover doctor ({role}): {seconds:.2f} s, {len(checks)} checks")
            if role == "manager":
                assert checks["chain head"]["status"] == OK and checks["schema"]["status"] == OK
            if role == "storage":
                assert "verified" in checks["vanilla proof devnet"]["detail"]
    finally:
        mgr.kill()
