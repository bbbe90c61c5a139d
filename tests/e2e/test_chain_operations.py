"""What an operator lives through on chain: a sector that comes back, a
worker that dies mid-proof, looking at deadlines, and a dry run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chain_fixtures import MINER, POLICY, start_devnet, wait_for
from prover.chain.deadlines import Policy


def test_a_corrupt_sector_is_skipped_then_declared_recovered_and_proven(tmp_path):
    # Four deadlines a period: a deadline comes round again after 24 s.
    policy = Policy.devnet(
        challenge_window=6, challenge_lookback=2, fault_declaration_cutoff=3, period_deadlines=4
    )
    chain = start_devnet(tmp_path, {2: [[3, 4]], 3: [[5, 6]]}, policy)
    sealed = chain.replicas[3].sealed_path
    good = sealed.read_bytes()
    sealed.write_bytes(good[: len(good) // 2])  # corrupt: the worker finds it faulty
    chain.replicas[6].sealed_path.unlink()  # gone for good: never declared
    m = chain.manager(tmp_path / "mgr")
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: chain.proven(0, 2) == {0}, 40, "deadline 2 proven without sector 3")
        assert 3 in chain.miner.faulty and 4 not in chain.miner.faulty
        sealed.write_bytes(good)  # put back
        wait_for(lambda: chain.proven(0, 3) == {0}, 20, "deadline 3 proven without sector 6")
        assert 6 in chain.miner.faulty

        # Declared during deadline 0 of the next period for deadline 2
        # (idx + 2), before its fault cutoff; proven with it, and healed.
        wait_for(lambda: chain.proven(24, 2) == {0}, 40, "deadline 2 proven again")
        assert 3 not in chain.miner.faulty
        (declared,) = m.events("recovery_declared")
        assert declared["deadline"] == 2 and declared["sectors"] == [3]
        wait_for(lambda: chain.proven(24, 3) == {0}, 20, "deadline 3 proven again")
        assert 6 in chain.miner.faulty  # its file is still gone: not declared
        still = [e["sectors"] for e in m.events("sectors_still_faulty")]
        assert any("6" in s for s in still)  # {sector: why}
        refused = [x for x in chain.net.messages.values() if x.exit_code != 0]
        assert refused == [], [x.reason for x in refused]
        assert not chain.miner.misses
    finally:
        w.kill()
        m.kill()
        chain.server.stop()


def test_a_worker_killed_mid_proof_and_the_deadline_still_proven(tmp_path):
    # 12-epoch deadlines: time for a heartbeat timeout inside the window.
    policy = Policy.devnet(challenge_window=12, challenge_lookback=4, fault_declaration_cutoff=5)
    chain = start_devnet(tmp_path, {1: [[1, 2]]}, policy)
    m = chain.manager(tmp_path / "mgr", jobs={"heartbeat_timeout_s": 3.0})
    workers = {name: chain.worker(tmp_path / name, m, name) for name in ("a", "b")}
    try:

        def proving():
            return [n for n, w in workers.items() if w.events("proving_started")]

        wait_for(proving, 30, "a worker proving")
        victim = proving()[0]
        workers[victim].kill()
        wait_for(lambda: chain.proven(0, 1) == {0}, 30, "deadline 1 proven")
        (survivor,) = set(workers) - {victim}
        assert workers[survivor].events("job_finished")
        assert not chain.miner.misses and not chain.miner.faulty
        assert chain.net.epoch() < 24  # before Close
    finally:
        for w in workers.values():
            w.kill()
        m.kill()
        chain.server.stop()


@pytest.fixture
def running(tmp_path):
    chain = start_devnet(tmp_path, {2: [[1, 2]], 3: [[3, 4], [5, 6]]}, POLICY)
    m = chain.manager(tmp_path / "mgr")
    w = chain.worker(tmp_path / "w1", m)
    yield chain, m, w
    w.kill()
    m.kill()
    chain.server.stop()


def prover(m, *args):
    return subprocess.run(
        [sys.executable, "-m", "prover.cli", *args, "--api", m.api_info("admin")],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deadlines_shows_current_and_next_with_jobs_and_messages(running):
    chain, m, _ = running
    wait_for(lambda: chain.proven(0, 2) == {0}, 40, "deadline 2 proven")
    wait_for(lambda: chain.net.epoch() >= 13, 10, "deadline 2 open")
    out = prover(m, "deadlines", "--json")
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    current, following = view["deadlines"]
    assert current["index"] == 2 and current["is_open"] and current["seconds_to_close"] > 0
    (part,) = current["partitions"]
    assert part["job_state"] == "succeeded" and part["message_state"] in ("pending", "landed")
    assert following["index"] == 3 and {p["partition"] for p in following["partitions"]} <= {0, 1}
    text = prover(m, "deadlines", "--miner", str(MINER))
    assert text.returncode == 0 and "deadline 2" in text.stdout and "OPEN" in text.stdout
    bad = prover(m, "deadlines", "--miner", "999")
    assert bad.returncode != 0 and "not one of the configured miners" in bad.stderr


def test_deadlines_prove_is_a_dry_run_through_the_workers(running):
    chain, m, _ = running
    wait_for(lambda: chain.proven(0, 2) == {0}, 40, "deadline 2 proven")
    pushed = len(chain.net.messages)
    out = prover(m, "deadlines", "prove", "--miner", str(MINER), "--deadline", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all 1 partitions proven and verified (not submitted)" in out.stdout
    assert len(chain.net.messages) == pushed  # nothing submitted
    listed = prover(m, "jobs", "list", "--all", "--json")
    dry = [j for j in json.loads(listed.stdout) if j["dry_run"]]
    assert len(dry) == 1 and dry[0]["state"] == "succeeded" and dry[0]["generation"] >= 1

    nothing = prover(m, "deadlines", "prove", "--miner", str(MINER), "--deadline", "1")
    assert nothing.returncode != 0 and "no sectors to prove" in nothing.stderr
    early = prover(m, "deadlines", "prove", "--miner", str(MINER), "--deadline", "40")
    assert early.returncode != 0 and "no challenge on chain yet" in early.stderr
    stranger = prover(m, "deadlines", "prove", "--miner", "999", "--deadline", "2")
    assert stranger.returncode != 0 and "not one of the configured miners" in stranger.stderr


def test_a_miner_the_chain_does_not_know_does_not_hold_up_the_others(tmp_path):
    chain = start_devnet(tmp_path, {2: [[1, 2]]}, POLICY)
    m = chain.manager(tmp_path / "mgr", miners=[999, MINER])  # 999: no such actor
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: chain.proven(0, 2) == {0}, 40, "deadline 2 proven")
        failed = m.events("tracker_miner_failed")
        assert failed and all(e["miner"] == 999 for e in failed)
        assert "t0999" in failed[0]["error"]
    finally:
        w.kill()
        m.kill()
        chain.server.stop()


def test_a_partition_with_no_sector_on_any_storage_is_a_recorded_miss(tmp_path):
    chain = start_devnet(tmp_path, {2: [[1, 2], [3, 4]]}, POLICY)
    for n in (3, 4):  # partition 1 has nothing left to prove from
        chain.replicas[n].sealed_path.unlink()
    m = chain.manager(tmp_path / "mgr")
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: chain.proven(0, 2) == {0}, 40, "partition 0 proven")
        view = json.loads(prover(m, "deadlines", "--json").stdout)
        (miss,) = view["misses"]
        assert (miss["deadline"], miss["partition"], miss["sectors"]) == (2, 1, ["3", "4"])
        assert "no sector of the partition was found on any storage" in miss["reason"]
        dry = prover(m, "deadlines", "prove", "--miner", str(MINER), "--deadline", "2")
        assert dry.returncode == 1
        assert "partition 1 cannot be proven: no sector" in dry.stdout
        assert "not every partition proven: [1]" in dry.stderr
    finally:
        w.kill()
        m.kill()
        chain.server.stop()
