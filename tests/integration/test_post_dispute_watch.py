"""The dispute watch through the real tracker, the devnet and the real alert
watch: a rogue PoSt (a proof made over the wrong challenge, finished straight
into the job table as if the manager's verification had been bypassed) is
sent by the real submitter and accepted optimistically; another account
disputes it after Close; the devnet makes its sectors faulty, and the
manager records the dispute once, with our message and the worker that made
the proof, and raises ProverPoStDisputed. A dispute of a valid PoSt is
refused on chain and raises nothing. The chain is read cheaply: nothing
before a PoSt of ours lands, then one StateListMessages per pass and each
message read once."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from chain_fixtures import Seconds
from prover.alerts import AlertBook
from prover.alerts import rules as r
from prover.chain.deadlines import Policy
from prover.chain.encoding import METHOD_DISPUTE_WINDOWED_POST, encode_dispute_windowed_post
from prover.chain.lotus import LotusClient
from prover.chain.message import ATTO_PER_FIL
from prover.config import AlertsConfig, ChainConfig
from prover.devnet import Devnet, DevnetMiner, DevnetServer
from prover.devnet.mpool import Account, Mpool, key_address_for
from prover.manager.alert_watch import AlertWatch
from prover.proofs import (
    PoStProofType,
    create_test_sectors,
    ensure_test_params,
    mask_randomness,
    prove_partition,
    prover_id,
)
from prover.store import MessageKind, MessageState
from prover.store.disputes import DisputeBook
from prover.tracker import Tracker

MINER = 1000
KIB2 = PoStProofType.WINDOW_2KIB
WORKER = "t0100"
DISPUTER = "t0200"
# 10-epoch deadlines: deadline 1 open 10..19 (challenge 7), deadline 2 20..29
POLICY = Policy.devnet(challenge_window=10, challenge_lookback=3, fault_declaration_cutoff=5)


class Counting:
    """The tracker's client, counting the dispute watch's reads."""

    def __init__(self, client: LotusClient) -> None:
        self.client = client
        self.lists = 0
        self.reads: list[str] = []

    def state_list_messages(self, **kw):
        self.lists += 1
        return self.client.state_list_messages(**kw)

    def chain_get_message(self, cid):
        self.reads.append(cid)
        return self.client.chain_get_message(cid)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def chain(tmp_path):
    ensure_test_params(KIB2)
    store_dir = tmp_path / "store"
    replicas = create_test_sectors(store_dir, MINER, [1, 2, 3, 4], KIB2)
    miner = DevnetMiner(
        MINER,
        KIB2.chain_id,
        0,
        {1: [[1, 2]], 2: [[3, 4]]},
        {r.sector_id: r.comm_r for r in replicas},
    )
    mpool = Mpool(
        [
            Account(WORKER, key_address_for(WORKER), 1000 * ATTO_PER_FIL),
            Account(DISPUTER, key_address_for(DISPUTER), 10 * ATTO_PER_FIL),
        ]
    )
    clock = Seconds()
    net = Devnet([miner], POLICY, clock=clock, mpool=mpool)
    server = DevnetServer(net, token="t").start()
    client = LotusClient(server.url, "t", network="t", epoch_seconds=1.0)
    yield net, client, clock, {"store-1": store_dir}
    client.close()
    server.stop()


def wait_until(predicate, timeout: float, what: str) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def prove(store, storages, *, rogue: bool) -> int:
    """The ready job of the deadline planned last, proven in process as
    worker "gpu-7" would and finished into the job table; ``rogue``: over
    the wrong challenge, a proof that does not verify (nothing checks it
    here: the manager's verification is the servicer's, bypassed)."""
    job = store.claim("gpu-7")
    assert job is not None
    randomness = mask_randomness(bytes(32) if rogue else bytes(job.randomness))
    result = prove_partition(
        KIB2,
        randomness,
        prover_id(MINER),
        [s.replica(MINER, storages) for s in job.sectors],
        job.partition,
    )
    store.finish("gpu-7", job.id, job.attempt, success=True, proof=result.proof)
    return job.id


def test_a_rogue_post_is_disputed_recorded_once_and_paged(chain, store, workers, ledger):
    net, client, clock, storages = chain
    config = ChainConfig(api="x", network="t", miners=[MINER], confidence=0, notify=False)
    tracker = Tracker(store, ledger, client, config, storages)
    spy = Counting(client)
    tracker.disputes.client = spy
    book = DisputeBook(store.db)
    watch = AlertWatch(
        AlertsConfig(low_balance=0),
        AlertBook(),
        store,
        ledger,
        tracker,
        workers=workers,
        epoch=lambda: tracker.epoch,
        epoch_seconds=1.0,
        worker_live_s=15.0,
    )

    def at(epoch: int) -> None:
        clock.to_epoch(net.genesis, epoch)
        tracker.tick()

    def disputed() -> list[r.Alert]:
        return [a for a in watch.check() if a.name == r.POST_DISPUTED]

    def dispute(deadline: int) -> str:
        return client.mpool_push_message(
            client.address(MINER),
            DISPUTER,
            METHOD_DISPUTE_WINDOWED_POST,
            encode_dispute_windowed_post(deadline, 0),
        )

    try:
        at(8)  # deadline 1's challenge (7) is reached: planned
        wait_until(lambda: store.list_jobs(miner=MINER), 20, "deadline 1's job")
        rogue_job = prove(store, storages, rogue=True)
        at(10)  # open, not yet confidence deep
        assert ledger.deadline_messages(MINER, 0, 1, MessageKind.POST) == []
        at(11)  # the real submitter sends it
        (ours,) = ledger.deadline_messages(MINER, 0, 1, MessageKind.POST)
        assert net.messages[ours.cid].reason == "accepted optimistically"
        assert spy.lists == 0  # nothing of ours on chain yet: the chain is not read
        at(12)  # landed: followed from here
        (ours,) = ledger.deadline_messages(MINER, 0, 1, MessageKind.POST)
        assert ours.state == MessageState.LANDED and ours.job_ids == [rogue_job]
        assert spy.lists == 1

        at(18)  # deadline 2 planned; proven for real
        wait_until(lambda: len(store.list_jobs(miner=MINER)) == 2, 20, "deadline 2's job")
        prove(store, storages, rogue=False)
        at(21)
        (valid,) = ledger.deadline_messages(MINER, 0, 2, MessageKind.POST)
        assert net.messages[valid.cid].exit_code == 0

        cid = dispute(1)  # deadline 1 closed at 20
        assert net.messages[cid].exit_code == 0
        assert net.miners[MINER].faulty >= {1, 2}
        at(22)
        (row,) = book.recent(0)
        assert (row.miner, row.period_start, row.deadline, row.post_index) == (MINER, 0, 1, 0)
        assert (row.partitions, row.dispute_cid, row.disputer) == ([0], cid, DISPUTER)
        assert (row.epoch, row.post_cid, row.workers) == (22, ours.cid, ["gpu-7"])

        (alert,) = disputed()
        assert alert.severity == "critical" and not alert.resolved
        assert dict(alert.labels) == {
            "miner": str(MINER),
            "period_start": "0",
            "deadline": "1",
            "dispute_cid": cid,
        }
        assert "found invalid: partitions 0 are faulty" in alert.summary
        assert alert.details["post_cid"] == ours.cid and alert.details["workers"] == "gpu-7"
        assert disputed() == []  # once

        # a valid PoSt: the dispute is refused on chain, nothing recorded or raised
        at(23)
        at(31)  # deadline 2 closed at 30
        refused = dispute(2)
        assert net.messages[refused].exit_code == 16
        assert net.messages[refused].reason == "failed to dispute valid post"
        at(32)
        at(33)
        assert [row.dispute_cid for row in book.recent(0)] == [cid]
        assert disputed() == []
        # each message to the miner read once by the passes (from the first
        # followed Close on: not our PoSt of deadline 1), however many listed
        # it; the turn's messages once more to map the landed dispute's index
        assert Counter(spy.reads) == {valid.cid: 2, cid: 2, ours.cid: 1, refused: 1}
        assert spy.lists == 8 + 1  # a pass from epoch 12 (12, 18, 21, 22, 23, 31, 32, 33)
    finally:
        tracker.close()
