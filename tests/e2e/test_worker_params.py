"""Parameter files checked at start, end to end: a real worker whose 2KiB
parameter file is truncated refuses 2KiB jobs, says which file in ``prover
workers list`` and is paged about, while a worker with whole files proves
the job; a manager with a truncated verifying key pages about its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from manager_harness import ManagerProcess, WorkerProcess, free_port
from prover._proto import manager_pb2 as pb
from prover.proofs import PoStProofType, parameter_cache_dir, parameter_files
from prover.proofs.paramcheck import record_path
from proving_fixtures import proven_set

KIB2 = PoStProofType.WINDOW_2KIB
FAST = {
    "heartbeat_timeout_s = 15.0": "heartbeat_timeout_s = 3.0",
    "interval_s = 10.0": "interval_s = 0.5",  # the alert watch
}


def prover(m: ManagerProcess, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "prover.cli", *args, "--api", m.api_info("admin")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def truncated_copy(directory: Path, kind: str) -> Path:
    """The shared 2KiB test parameters (and their record), one file cut short."""
    directory.mkdir()
    files = parameter_files(KIB2, parameter_cache_dir())
    for path in (files.params, files.verifying_key, record_path(files.params)):
        shutil.copy(path, directory / path.name)
    cut = directory / (files.params if kind == "params" else files.verifying_key).name
    with cut.open("r+b") as f:
        f.truncate(cut.stat().st_size - 96)
    return cut


def wait_until(what, timeout: float, message: str):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        got = what()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(message)


def alert_named(m: ManagerProcess, name: str) -> list[dict]:
    return [a for a in json.loads(prover(m, "alerts", "--json", check=False)) if a["name"] == name]


def test_a_worker_with_a_truncated_file_refuses_that_size_and_names_the_file(tmp_path):
    s = proven_set()
    cut = truncated_copy(tmp_path / "bad-params", "params")
    m = ManagerProcess(tmp_path / "mgr", port=free_port(), replace=FAST).start()
    workers = []
    try:
        c = m.client("admin")
        (job_id,) = c.call(c.admin.AddJobs, pb.AddJobsRequest(jobs=[s.new_job()])).ids
        bad = WorkerProcess(tmp_path / "w1", m.api_info("worker"), storages={"store-1": s.root})
        bad.env = {**bad.env, "FIL_PROOFS_PARAMETER_CACHE": str(cut.parent)}
        workers.append(bad.start())
        refused = bad.wait_for("parameters_refused", 60, proof_type="2KiB")
        assert (refused["file"], refused["problem"]) == (cut.name, "truncated")
        bad.wait_for("worker_started", 30)
        time.sleep(2.0)  # several claims' worth: the 2KiB job is not handed to w1
        (job,) = c.call(c.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
        assert job.state == "ready" and not bad.events("job_claimed")

        text = prover(m, "workers", "list")
        assert "refuses 2KiB" in text
        assert f"w1 refuses 2KiB: {cut.name} truncated:" in text
        (listed,) = json.loads(prover(m, "workers", "list", "--json"))
        problems = {p["file"]: p for p in listed["param_problems"]}
        assert problems[cut.name]["problem"] == "truncated"
        assert problems[cut.name]["proof_type"] == KIB2.chain_id
        # only 2KiB files in its directory: the other sizes have none at all
        assert listed["refused_sizes"] == ["2KiB", "8MiB", "512MiB", "32GiB", "64GiB"]
        assert "w1 has no parameter files for 8MiB, 512MiB, 32GiB, 64GiB" in text

        (alert,) = wait_until(
            lambda: alert_named(m, "ProverParametersBad"), 30, "no ProverParametersBad alert"
        )
        assert alert["labels"]["worker"] == "w1" and alert["labels"]["file"] == cut.name
        assert "refuses 2KiB proofs" in alert["summary"]

        # a worker with whole files takes and proves the job
        good = WorkerProcess(tmp_path / "w2", m.api_info("worker"), name="w2",
                             storages={"store-1": s.root})  # fmt: skip
        workers.append(good.start())

        def done():
            (j,) = c.call(c.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
            return j if j.state == "succeeded" else None

        finished = wait_until(done, 90, "the job was not proven by w2")
        assert finished.id == job_id and finished.worker == "w2"
    finally:
        for w in workers:
            w.kill()
        m.kill()


def test_a_manager_with_a_truncated_verifying_key_pages_about_it(tmp_path):
    cut = truncated_copy(tmp_path / "bad-params", "vk")
    m = ManagerProcess(tmp_path / "mgr", port=free_port(), replace=FAST)
    env = {**m.env(), "FIL_PROOFS_PARAMETER_CACHE": str(cut.parent)}
    m.env = lambda: env
    m.start()
    try:
        (bad,) = m.events("verifying_key_bad")
        assert (bad["file"], bad["problem"], bad["proof_type"]) == (cut.name, "truncated", "2KiB")
        (alert,) = wait_until(
            lambda: alert_named(m, "ProverManagerParametersBad"), 30, "no manager alert"
        )
        assert alert["labels"]["file"] == cut.name
        assert "cannot verify 2KiB proofs" in alert["summary"]
    finally:
        m.kill()
    assert os.environ.get("FIL_PROOFS_PARAMETER_CACHE") != str(cut.parent)
