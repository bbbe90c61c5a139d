"""A real manager following a 32GiB miner of placeholder sectors on the
devnet: 32 partitions of 2349 sectors in one deadline (75,168 sectors,
about 4.4 MB of sector records, beyond one 4 MiB gRPC message). The control
plane plans, lists and shows it; nothing on this machine can prove 32GiB
sectors, so with no worker the deadline is missed, and recorded as such."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from chain_fixtures import start_placeholder_devnet, wait_for
from prover.chain.deadlines import Policy

SECTORS = 2349
PARTITIONS = 32


def prover(m, *args):
    proc = subprocess.run(
        [sys.executable, "-m", "prover.cli", *args, "--api", m.api_info("admin")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def fast_tmp(tmp_path):
    """A tmpfs directory where there is one (75,000 placeholder files)."""
    if not Path("/dev/shm").is_dir():
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="prover-test-", dir="/dev/shm"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_deadline_of_32_full_32gib_partitions_is_planned_listed_shown_and_missed(
    tmp_path, fast_tmp
):
    # 10-epoch deadlines: deadline 1's challenge at epoch 8, Close at 20
    policy = Policy.devnet(challenge_window=10, challenge_lookback=2, fault_declaration_cutoff=3)
    chain = start_placeholder_devnet(fast_tmp, {1: PARTITIONS}, policy)
    m = chain.manager(tmp_path / "mgr")
    try:
        wait_for(lambda: m.events("deadline_jobs_created"), 30, "deadline 1 planned")
        (created,) = m.events("deadline_jobs_created")
        assert created["deadline"] == 1 and len(created["jobs"]) == PARTITIONS

        view = json.loads(prover(m, "deadlines", "--json"))
        (status,) = [d for d in view["deadlines"] if d["index"] == 1]
        assert [p["partition"] for p in status["partitions"]] == list(range(PARTITIONS))
        assert {p["sectors"] for p in status["partitions"]} == {SECTORS}
        assert {p["job_state"] for p in status["partitions"]} == {"ready"}

        listed = json.loads(prover(m, "jobs", "list", "--json", "--sectors"))
        assert len(listed) == PARTITIONS
        assert [len(j["sectors"]) for j in listed] == [SECTORS] * PARTITIONS
        assert {s["sealed_storage"] for j in listed for s in j["sectors"]} == {"store-1"}
        numbers = [s["id"] for j in listed for s in j["sectors"]]
        assert numbers == list(range(1, PARTITIONS * SECTORS + 1))

        # no worker (none could prove 32GiB here): missed at Close, recorded
        wait_for(lambda: len(m.events("deadline_missed")) == PARTITIONS, 40, "misses recorded")
        assert all(len(e["sectors"]) == SECTORS for e in m.events("deadline_missed"))
        text = prover(m, "deadlines")
        assert f"deadline 1 partition 31 (closed at epoch 20, {SECTORS} sectors)" in text
        assert "before any worker claimed the job" in text
        assert len(chain.miner.misses) == PARTITIONS
    finally:
        m.kill()
        chain.server.stop()
