"""Shadow mode end to end: a devnet whose miner is proven by someone else
(the devnet's incumbent, which misses deadline 3), a real manager with
``shadow = true`` and a real worker. The manager proves every deadline but
the node never sees a sending call; at each Close it records the chain's own
PoSt beside ours, pages about the deadline the incumbent missed (as
information), and answers ``prover deadlines --shadow``. Then the same
manager home is switched to live with a config change and a restart: the
job table and the shadow record carry on, and it proves the next deadline
itself."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from contextlib import contextmanager

import pytest

from chain_fixtures import start_devnet, wait_for
from prover._proto import manager_pb2 as pb
from prover.chain.deadlines import Policy
from prover.devnet.incumbent import INCUMBENT_SENDER, Incumbent, IncumbentConfig

# deadlines 2..4 compared in shadow mode (the incumbent misses 3), deadline
# 10 (epochs 60-66) proven live after the switch, the incumbent told to
# leave it alone
DEADLINES = {2: [[1, 2]], 3: [[3, 4]], 4: [[5, 6]], 10: [[7, 8]]}
SENDING = re.compile(r"^Filecoin\.(WalletSign|MpoolPush|GasEstimate)")


@pytest.fixture
def chain(tmp_path):
    setup = start_devnet(tmp_path, DEADLINES)
    incumbent = Incumbent(setup.net, setup.store, IncumbentConfig(enabled=True, miss=(3, 10)))
    incumbent.start()
    yield setup
    incumbent.stop()
    setup.server.stop()


def shadow_rows(manager) -> list[pb.ShadowPartition]:
    admin = manager.client("admin")
    return list(admin.call(admin.admin.Shadow, pb.ShadowRequest()).partitions)


def outcomes(manager) -> dict[int, str]:
    return {p.deadline: p.outcome for p in shadow_rows(manager) if p.outcome}


def test_shadow_mode_proves_sends_nothing_compares_at_close_and_switches_to_live(tmp_path, chain):
    net = chain.net
    home = tmp_path / "mgr"
    m = chain.manager(home, shadow=True)
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: set(outcomes(m)) >= {2, 3, 4}, 60, "deadlines 2-4 compared at Close")
        assert outcomes(m) == {2: "both", 3: "ours_only", 4: "both"}, m.events("shadow_settled")
        rows = {p.deadline: p for p in shadow_rows(m)}
        for d in (2, 4):
            r = rows[d]
            assert r.chain_sender == INCUMBENT_SENDER and r.chain_exit_code == 0
            assert r.open <= r.ready_epoch < r.close  # ours was ready in time
            assert r.open <= r.chain_epoch <= r.close
        assert not rows[3].chain_cid and rows[3].HasField("ready_epoch")
        # the chain shows the incumbent's miss: deadline 3's sectors fault
        assert {3, 4} <= chain.miner.faulty
        # nothing from the manager reached the node's wallet or mpool
        calls = chain.server.rpc_calls.snapshot()
        assert calls.get("Filecoin.StateListMessages") and calls.get("Filecoin.ChainGetMessage")
        assert not [c for c in calls if SENDING.match(c)], calls
        assert {msg.sender for msg in net.messages.values()} <= {INCUMBENT_SENDER}
        assert not m.events("post_submitted") and m.events("shadow_ready")
        # the incumbent missed deadline 3 where we were ready: information
        admin = m.client("admin")

        def chain_missed():
            alerts = admin.call(admin.admin.ListAlerts, pb.ListAlertsRequest()).alerts
            return [a for a in alerts if a.name == "ProverShadowChainMissed"]

        wait_for(chain_missed, 20, "ProverShadowChainMissed")
        (alert,) = chain_missed()
        assert alert.severity == "info" and dict(alert.labels)["deadline"] == "3"
        # prover deadlines --shadow, as an operator runs it
        cli = subprocess.run(
            [sys.executable, "-m", "prover.cli", "deadlines", "--shadow", "--json"],
            env={**m.env(), "PROVER_API_INFO": m.api_info("admin")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        listed = json.loads(cli.stdout)
        assert listed["shadow"] is True
        assert {p["deadline"]: p["outcome"] for p in listed["partitions"] if p["outcome"]} == {
            2: "both",
            3: "ours_only",
            4: "both",
        }
        jobs_before = {
            j.id for j in admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
        }
    finally:
        m.kill()
    # live: the same home, shadow off, restarted; deadline 10 proven by us
    # (on the port the worker knows: [api] listen comes before [http]'s)
    config = (home / "config.toml").read_text().replace("shadow = true", "shadow = false")
    config = config.replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{m.port}"', 1)
    (home / "config.toml").write_text(config)
    m = m.start()
    try:
        wait_for(lambda: chain.proven(0, 10) == {0}, 60, "deadline 10 proven live")
        assert m.events("post_submitted")
        admin = m.client("admin")
        jobs = {j.id for j in admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs}
        assert jobs_before <= jobs  # the job table carried on
        listed = admin.call(admin.admin.Shadow, pb.ShadowRequest())
        assert listed.shadow is False and {p.deadline for p in listed.partitions} >= {2, 3, 4}
        assert chain.miner.duplicate_posts == []
    finally:
        w.kill()
        m.kill()


# ---- how the existing system packs and lands a deadline's partitions ----------------------

# 10-epoch deadlines: deadline 1 (challenge 8, epochs 10..19) gives the
# incumbent and our worker time to prove two 2KiB partitions each on a
# small, busy machine
WIDE = Policy.devnet(challenge_window=10, challenge_lookback=2, fault_declaration_cutoff=3)
TWO = {1: [[1, 2], [3, 4]]}


@contextmanager
def incumbent_chain(tmp_path, **options):
    setup = start_devnet(tmp_path, TWO, WIDE)
    incumbent = Incumbent(setup.net, setup.store, IncumbentConfig(enabled=True, **options))
    incumbent.start()
    try:
        yield setup
    finally:
        incumbent.stop()
        setup.server.stop()


def settled_deadline_1(tmp_path, setup, **chain) -> dict[int, pb.ShadowPartition]:
    """Deadline 1 compared by a shadow manager and its worker, per partition."""
    m = setup.manager(tmp_path / "mgr", shadow=True, **chain)
    w = setup.worker(tmp_path / "w1", m)
    try:

        def rows():
            found = {p.partition: p for p in shadow_rows(m) if p.deadline == 1 and p.outcome}
            return found if len(found) == len(TWO[1]) else None

        wait_for(rows, 60, "deadline 1 compared at Close")
        return rows()
    finally:
        w.kill()
        m.kill()


def test_shadow_mode_judges_a_batching_incumbent_per_partition(tmp_path):
    """As lotus-miner: both partitions of deadline 1 in one
    SubmitWindowedPoSt; each partition is judged by it."""
    with incumbent_chain(tmp_path, batch=0) as setup:
        rows = settled_deadline_1(tmp_path, setup)
        (message,) = setup.net.messages.values()
    assert {p: r.outcome for p, r in rows.items()} == {0: "both", 1: "both"}
    for r in rows.values():
        assert (r.chain_cid, r.chain_sender, r.chain_exit_code) == (
            message.cid,
            INCUMBENT_SENDER,
            0,
        )
        assert r.chain_epoch == message.height and r.open < r.chain_epoch <= r.close


def test_shadow_mode_judges_partitions_landing_apart_one_late_one_refused(tmp_path):
    """As Curio, one partition a message: partition 1's is refused by the
    actor in the window, partition 0's goes at Close, too late, and is
    refused too. The manager reads the chain two epochs after Close
    (``confidence``), so the late one is there to show: neither counts, both
    are shown with the message that carried them."""
    options = {"late_partitions": ((1, 0),), "refused_partitions": ((1, 1),)}
    with incumbent_chain(tmp_path, **options) as setup:
        rows = settled_deadline_1(tmp_path, setup, confidence=2)
        faulty = set(setup.miner.faulty)
    assert {p: r.outcome for p, r in rows.items()} == {0: "ours_only", 1: "ours_only"}
    late, refused = rows[0], rows[1]
    assert (refused.chain_exit_code, late.chain_exit_code) == (16, 16)
    assert refused.open < refused.chain_epoch <= refused.close
    assert late.chain_epoch == late.close + 1  # executed at Close
    assert late.chain_cid and refused.chain_cid and late.chain_cid != refused.chain_cid
    assert faulty == {1, 2, 3, 4}  # the chain missed both
