"""Deadlines from the chain become jobs, and proofs go back to it: a devnet,
a real manager with its tracker, two real workers."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from manager_harness import ManagerProcess, WorkerProcess
from prover.chain.deadlines import Policy
from prover.chain.devnet import Devnet, DevnetMiner, DevnetServer
from prover.proofs import PoStProofType, create_test_sectors, ensure_test_params

MINER = 1000
KIB2 = PoStProofType.WINDOW_2KIB
ROOT = Path(__file__).resolve().parent.parent
POLICY = Policy.devnet(challenge_window=6, challenge_lookback=2, fault_declaration_cutoff=3)


@pytest.fixture
def devnet(tmp_path):
    ensure_test_params(KIB2)
    store = tmp_path / "store"
    replicas = create_test_sectors(store, MINER, range(1, 9), KIB2)
    miner = DevnetMiner(
        actor_id=MINER,
        proof_type=KIB2.chain_id,
        period_offset=0,
        # deadlines 2..4 (opening 12 s after genesis: time to start everything)
        deadlines={2: [[1, 2]], 3: [[3, 4], [5, 6]], 4: [[7, 8]]},
        comm_r={r.sector_id: r.comm_r for r in replicas},
    )
    net = Devnet([miner], POLICY)
    server = DevnetServer(net, token="devnet-token").start()
    yield net, server, store, replicas
    server.stop()


def manager_for(tmp_path, server, store, **chain) -> ManagerProcess:
    settings = {
        "api": f"devnet-token:{server.url}",
        "network": "t",
        "miners": [MINER],
        "sender": "t0100",
        "confidence": 1,
        "poll_interval_s": 0.3,
        "epoch_seconds": 1.0,
        **chain,
    }
    template = (ROOT / "configs" / "manager.toml").read_text()
    replace = {"# [[storage]]\n": f'[[storage]]\nname = "store-1"\npath = "{store}"\n'}
    for key in settings:  # drop the template's line for every key set here
        (line,) = re.findall(rf"^{key} = .*\n", template, flags=re.M)
        replace[line] = ""
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    replace["[chain]\n"] = f"[chain]\n{lines}"
    return ManagerProcess(tmp_path / "mgr", replace=replace).start()


def wait_for(predicate, timeout, what):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_consecutive_deadlines_are_proven_and_accepted(tmp_path, devnet):
    net, server, store, _ = devnet
    m = manager_for(tmp_path, server, store)
    workers = [
        WorkerProcess(
            tmp_path / name, m.api_info("worker"), name=name, storages={"store-1": store}
        ).start()
        for name in ("w1", "w2")
    ]
    try:
        miner = net.miners[MINER]
        wait_for(
            lambda: {(0, 2), (0, 3), (0, 4)} <= {k for k, v in miner.proven.items() if v},
            60,
            "deadlines 2, 3, 4 proven",
        )
        assert miner.proven[(0, 3)] == {0, 1}
        assert miner.faulty == set() and miner.misses == []
        accepted = [msg for msg in net.messages.values() if msg.exit_code == 0]
        assert len(accepted) >= 3
        wait_for(  # the manager's log line may trail the devnet's state a little
            lambda: {e["deadline"] for e in m.events("post_submitted")} >= {2, 3, 4},
            10,
            "post_submitted events",
        )
        assert sum(len(w.events("job_finished")) for w in workers) >= 4
    finally:
        for w in workers:
            w.kill()
        m.kill()


def test_a_corrupt_sector_is_skipped_and_the_partition_still_proven(tmp_path, devnet):
    net, server, store, replicas = devnet
    by_id = {r.sector_id: r for r in replicas}
    by_id[3].sealed_path.unlink()  # deadline 3, partition 0
    m = manager_for(tmp_path, server, store)
    w = WorkerProcess(tmp_path / "w1", m.api_info("worker"), storages={"store-1": store}).start()
    try:
        miner = net.miners[MINER]
        wait_for(lambda: miner.proven.get((0, 3)) == {0, 1}, 60, "deadline 3 proven")
        assert 3 in miner.faulty and 4 not in miner.faulty  # skipped -> faulty on chain
        assert not miner.misses
    finally:
        w.kill()
        m.kill()


def test_with_no_worker_the_deadline_is_missed_and_its_sectors_fault(tmp_path, devnet):
    net, server, store, _ = devnet
    m = manager_for(tmp_path, server, store)
    try:
        miner = net.miners[MINER]
        wait_for(
            lambda: (
                net.epoch() >= 19
                and (net.settle() or True)
                and any(x["deadline"] == 2 for x in miner.misses)
            ),
            40,
            "deadline 2 missed",
        )
        assert {1, 2} <= miner.faulty
        admin = m.client("admin")
        from prover._proto import manager_pb2 as pb

        wait_for(
            lambda: any(
                j.state == "expired" and j.deadline == 2
                for j in admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
            ),
            10,
            "job expired",
        )
    finally:
        m.kill()


def test_a_message_dropped_by_a_reorg_is_pushed_again(tmp_path, devnet):
    net, server, store, _ = devnet
    net.drop_next = 1  # the first SubmitWindowedPoSt never lands
    m = manager_for(tmp_path, server, store, resubmit_after=2)
    w = WorkerProcess(tmp_path / "w1", m.api_info("worker"), storages={"store-1": store}).start()
    try:
        miner = net.miners[MINER]
        wait_for(lambda: miner.proven.get((0, 2)) == {0}, 40, "deadline 2 proven")
        wait_for(lambda: m.events("post_dropped"), 10, "the drop noticed")
        submitted = [e for e in m.events("post_submitted") if e["deadline"] == 2]
        assert len(submitted) >= 2 and submitted[0]["cid"] != submitted[1]["cid"]
        assert not miner.misses
    finally:
        w.kill()
        m.kill()
