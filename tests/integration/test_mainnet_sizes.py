"""The control plane at the size storage providers run: a placeholder 32GiB
miner on the devnet, partitions of 2349 sectors spread over three storages,
planned by the tracker's planner into the job store (both backends)."""

from __future__ import annotations

import threading
import time

import pytest

from chain_fixtures import Seconds
from prover.chain.deadlines import Policy
from prover.chain.encoding import encode_dispute_windowed_post, encode_submit_windowed_post
from prover.chain.lotus import TAG_POST_CHAIN_COMMIT, LotusClient
from prover.config import ChainConfig
from prover.devnet import Devnet, DevnetServer, placeholder_miner, write_placeholder_files
from prover.devnet.placeholders import placeholder_comm_r
from prover.proofs import PoStProofType
from prover.proofs.layout import SectorRef
from prover.tracker import Tracker
from prover.tracker.planning import Planner, ProofTypes

MINER = 1000
SECTORS = 2349
KIB32 = PoStProofType.from_sector_size("32GiB")


@pytest.fixture
def big_chain(tmp_path):
    miner = placeholder_miner(MINER, "32GiB", {0: 2, 1: 1})
    roots = [tmp_path / f"store-{k}" for k in range(3)]
    write_placeholder_files(roots, miner)
    clock = Seconds()
    net = Devnet([miner], Policy.devnet(), clock=clock)
    server = DevnetServer(net, token="devnet-token").start()
    client = LotusClient(server.url, "devnet-token", network="t", epoch_seconds=1.0)
    yield net, client, clock, {f"store-{k}": root for k, root in enumerate(roots)}
    client.close()
    server.stop()


def test_the_devnet_serves_a_32gib_miners_partitions_and_sectors(big_chain):
    net, client, clock, _ = big_chain
    clock.to_epoch(net.genesis, 5)
    info = client.state_miner_info(MINER)
    assert info.window_post_proof_type == KIB32.chain_id
    parts = client.state_miner_partitions(MINER, 0)
    assert [len(p.to_prove) for p in parts] == [SECTORS, SECTORS]
    sectors = client.state_miner_sectors(MINER, set(parts[1].to_prove))
    assert len(sectors) == SECTORS
    assert sectors[0].comm_r == placeholder_comm_r(MINER, SECTORS + 1)


def test_the_planner_stores_every_sector_of_2349_sector_partitions_with_its_storage(
    big_chain, store, ledger
):
    net, client, clock, storages = big_chain
    clock.to_epoch(net.genesis, 5)  # deadline 0 open, its challenge on chain
    planner = Planner(store, ledger, client, storages, ProofTypes(client), kick=lambda: None)
    d = client.state_miner_proving_deadline(MINER).info
    start = time.perf_counter()
    planner.create_jobs(MINER, d)
    took = time.perf_counter() - start
    jobs = store.list_jobs(sectors=True)
    assert [(j.deadline, j.partition, j.sector_count) for j in jobs] == [
        (0, 0, SECTORS),
        (0, 1, SECTORS),
    ]
    for p, job in enumerate(jobs):
        numbers = range(p * SECTORS + 1, (p + 1) * SECTORS + 1)
        assert job.sectors == [
            SectorRef(n, placeholder_comm_r(MINER, n), f"store-{n % 3}", f"store-{n % 3}")
            for n in numbers
        ]
        assert (job.min_sector, job.max_sector, job.skipped) == (numbers[0], numbers[-1], [])
        assert job.proof_type == KIB32.chain_id
    assert took < 10, f"planning two 2349-sector partitions took {took:.1f} s"


def test_a_placeholder_miners_proof_is_taken_optimistically_and_its_dispute_is_not_judged(
    big_chain,
):
    """Without recoveries the actor accepts a PoSt without verifying it, so
    the zero proof of a placeholder miner lands; a dispute verifies it,
    which this machine cannot do for 32GiB (refused, never guessed); where
    the verifying key is present the dispute succeeds."""
    net, client, clock, _ = big_chain
    clock.to_epoch(net.genesis, 5)
    d = client.state_miner_proving_deadline(MINER).info
    params = encode_submit_windowed_post(
        0,
        [(0, set())],
        KIB32.chain_id,
        bytes(192),
        d.challenge,
        client.randomness_from_tickets(TAG_POST_CHAIN_COMMIT, d.challenge),
    )
    cid = client.mpool_push_message(client.address(MINER), "t0100", 5, params)
    clock.to_epoch(net.genesis, 6)
    found = client.state_search_msg(cid)
    assert found is not None and found.exit_code == 0
    assert net.messages[cid].reason == "accepted optimistically"
    clock.to_epoch(net.genesis, 11)  # deadline 0 closed, partition 1 unproven
    parts = client.state_miner_partitions(MINER, 0)
    assert [len(p.faulty) for p in parts] == [0, SECTORS]
    dispute = client.mpool_push_message(
        client.address(MINER), "t0100", 24, encode_dispute_windowed_post(0, 0)
    )
    clock.to_epoch(net.genesis, 12)
    found = client.state_search_msg(dispute)
    reason = net.messages[dispute].reason
    parts = client.state_miner_partitions(MINER, 0)
    if found.exit_code == 16:  # no 32GiB verifying key here
        assert "cannot be verified here" in reason and len(parts[0].faulty) == 0
    else:
        assert found.exit_code == 0 and len(parts[0].faulty) == SECTORS


def test_a_slow_plan_for_one_miner_does_not_hold_up_another(tmp_path, store, ledger):
    big = placeholder_miner(MINER, "32GiB", {0: 2})
    small = placeholder_miner(MINER + 1, "32GiB", {0: 1}, first_sector=10**6)
    roots = [tmp_path / "store-0"]
    write_placeholder_files(roots, big)
    write_placeholder_files(roots, small)
    clock = Seconds()
    net = Devnet([big, small], Policy.devnet(), clock=clock)
    clock.to_epoch(net.genesis, 5)
    server = DevnetServer(net, token="devnet-token").start()
    client = LotusClient(server.url, "devnet-token", network="t", epoch_seconds=1.0)
    config = ChainConfig(
        api="x", network="t", miners=[MINER, MINER + 1], confidence=0, notify=False
    )
    tracker = Tracker(store, ledger, client, config, {"store-0": roots[0]})
    release = threading.Event()
    plan = tracker.planner.create_jobs

    def stuck_for_the_big_miner(miner, d):
        if miner == MINER:
            assert release.wait(30)
        plan(miner, d)

    tracker.planner.create_jobs = stuck_for_the_big_miner
    try:
        start = time.monotonic()
        tracker.tick()
        assert time.monotonic() - start < 5  # the tick did not wait for the plan

        def miners_with_jobs():
            return {j.miner for j in store.list_jobs()}

        deadline = time.monotonic() + 20
        while miners_with_jobs() != {MINER + 1} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert miners_with_jobs() == {MINER + 1}  # the other miner was planned meanwhile
        # (its thread lets go of the deadline just after storing its jobs)
        while tracker.planning() != {(MINER, 0, 0)} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tracker.planning() == {(MINER, 0, 0)}
        tracker.tick()  # a deadline being planned is not planned twice
        release.set()
        while miners_with_jobs() != {MINER, MINER + 1} and time.monotonic() < deadline:
            time.sleep(0.05)
        while tracker.planning() and time.monotonic() < deadline:
            time.sleep(0.05)  # the thread lets go of the deadline just after storing
        assert [j.sector_count for j in store.list_jobs(miner=MINER)] == [SECTORS, SECTORS]
        assert tracker.planning() == set()
    finally:
        release.set()
        tracker.close()
        client.close()
        server.stop()
