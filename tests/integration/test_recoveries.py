"""Recoveries through the real tracker against the devnet: a hung storage
holds up nobody else, and many faulty sectors are declared in several
messages by the limits, each accepted by the actor."""

from __future__ import annotations

import threading
import time

import pytest

from chain_fixtures import Seconds
from prover.chain.deadlines import Policy
from prover.chain.encoding import (
    ADDRESSED_SECTORS_MAX,
    METHOD_DECLARE_FAULTS_RECOVERED,
    METHOD_SUBMIT_WINDOWED_POST,
    decode_declare_faults_recovered,
)
from prover.chain.lotus import LotusClient
from prover.config import ChainConfig
from prover.devnet import Devnet, DevnetMiner, DevnetServer, placeholder_miner
from prover.proofs import (
    PoStProofType,
    create_test_sectors,
    ensure_test_params,
    mask_randomness,
    prove_partition,
    prover_id,
)
from prover.store import MessageKind
from prover.tracker import Tracker

KIB2 = PoStProofType.WINDOW_2KIB
SLOW, FAST = 1000, 1001  # SLOW's storage hangs
# 30-epoch deadlines: deadline 2 opens at epoch 60, its fault cutoff is 55
POLICY = Policy.devnet(challenge_window=30)
CUTOFF = 55


def chain_of(miners: list[DevnetMiner], clock: Seconds):
    net = Devnet(miners, POLICY, clock=clock)
    server = DevnetServer(net, token="devnet-token").start()
    client = LotusClient(server.url, "devnet-token", network="t", epoch_seconds=1.0)
    return net, server, client


def real_miner(actor: int, store, deadlines: dict[int, list[list[int]]]) -> DevnetMiner:
    numbers = [n for parts in deadlines.values() for p in parts for n in p]
    replicas = create_test_sectors(store, actor, numbers, KIB2)
    return DevnetMiner(
        actor, KIB2.chain_id, 0, deadlines, {r.sector_id: r.comm_r for r in replicas}
    )


def prove_ready_jobs(store, storages) -> int:
    """What a worker does, in process: claim, prove, finish."""
    done = 0
    while (job := store.claim("in-test")) is not None:
        replicas = [s.replica(job.miner, storages) for s in job.sectors]
        result = prove_partition(
            PoStProofType.from_chain_id(job.proof_type),
            mask_randomness(bytes(job.randomness)),
            prover_id(job.miner),
            replicas,
            job.partition,
        )
        store.finish("in-test", job.id, job.attempt, success=True, proof=result.proof)
        done += 1
    return done


def wait_until(predicate, timeout: float, what: str, tick=None) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if tick is not None:
            tick()
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Heads:
    """Ticks the tracker, moving the devnet's clock an epoch forward every
    ``step`` seconds (a head, so the tracker's full pass runs); records how
    long each tick took."""

    def __init__(self, tracker: Tracker, net: Devnet, clock: Seconds, epoch: int, step=0.3):
        self.tracker, self.net, self.clock, self.step = tracker, net, clock, step
        self.epoch = epoch
        self.moved = time.monotonic()
        self.ticks: list[float] = []
        clock.to_epoch(net.genesis, epoch)

    def __call__(self) -> None:
        if time.monotonic() - self.moved >= self.step:
            self.epoch += 1
            self.clock.to_epoch(self.net.genesis, self.epoch)
            self.moved = time.monotonic()
        start = time.monotonic()
        self.tracker.tick()
        self.ticks.append(time.monotonic() - start)


def recovery_pushes(tracker: Tracker) -> list[tuple[int, list]]:
    """Spies on the recovery pushes: (miner, declarations) of each."""
    pushed: list[tuple[int, list]] = []
    push = tracker.recoveries.push

    def spy(miner, kind, method, params, record):
        out = push(miner, kind, method, params, record)
        pushed.append((miner, decode_declare_faults_recovered(params)))
        return out

    tracker.recoveries.push = spy
    return pushed


@pytest.fixture
def params():
    ensure_test_params(KIB2)


@pytest.fixture
def stuck():
    """What a hung storage's read waits on; set at the end so its threads go."""
    never = threading.Event()
    yield never
    never.set()


def test_a_hung_storage_does_not_delay_another_miners_submission(
    tmp_path, store, ledger, stuck, params
):
    storages = {"store-1": tmp_path / "store"}
    slow = real_miner(SLOW, storages["store-1"], {2: [[1, 2]]})
    fast = real_miner(FAST, storages["store-1"], {0: [[11, 12]], 2: [[13, 14]]})
    slow.faulty, fast.faulty = {1, 2}, {13}
    clock = Seconds()
    net, server, client = chain_of([slow, fast], clock)
    config = ChainConfig(
        api="x",
        network="t",
        miners=[SLOW, FAST],
        confidence=0,
        notify=False,
        recovery_check_timeout_s=3.0,
    )
    tracker = Tracker(store, ledger, client, config, storages)
    real_check = tracker.recoveries.check

    def check(miner, sector, proof_type):
        if miner == SLOW:
            stuck.wait()  # a read that never returns
        return real_check(miner, sector, proof_type)

    tracker.recoveries.check = check
    pushed = recovery_pushes(tracker)
    heads = Heads(tracker, net, clock, epoch=1, step=10**6)  # deadline 0 open
    try:
        heads()  # plans FAST's deadline 0, starts both miners' recovery checks (deadline 2)
        wait_until(lambda: store.list_jobs(miner=FAST), 20, "FAST's jobs")
        assert prove_ready_jobs(store, storages) == 1
        tracker.job_finished()
        start = time.monotonic()
        heads()  # a finished proof: FAST's deadline goes at once
        (post,) = ledger.deadline_messages(FAST, 0, 0, MessageKind.POST)
        assert time.monotonic() - start < 2, "FAST's submission waited"
        assert (SLOW, 0, 2) in tracker.recoveries.busy()  # hung meanwhile

        # FAST's own check went through the same pool; declared on a later tick
        heads.step = 0.3
        wait_until(
            lambda: FAST in {m for m, _ in pushed} and 13 in net.miners[FAST].recovering,
            20,
            "FAST's recovery declared",
            heads,
        )
        wait_until(lambda: net.miners[FAST].proven.get((0, 0)) == {0}, 10, "FAST proven", heads)

        # SLOW's checks time out: its sectors stay faulty, nothing declared
        wait_until(lambda: not tracker.recoveries.busy(), 20, "SLOW's checks", heads)
        assert heads.epoch < CUTOFF
        assert [m for m, _ in pushed] == [FAST]
        assert net.miners[SLOW].recovering == set() and net.miners[SLOW].faulty == {1, 2}
        assert tracker.recoveries.pool.hung() == 2  # written off, the pool refilled
        assert max(heads.ticks) < 2, f"a tick took {max(heads.ticks):.1f} s"
        assert post.cid in net.messages
        assert all(m.exit_code == 0 for m in net.messages.values())
    finally:
        stuck.set()
        tracker.close()
        client.close()
        server.stop()


def test_many_faulty_sectors_are_declared_in_messages_within_the_limits(
    tmp_path, store, ledger, params
):
    storages = {"store-1": tmp_path / "store"}
    miner = real_miner(SLOW, storages["store-1"], {2: [[2 * p + 1, 2 * p + 2] for p in range(5)]})
    miner.faulty = set(range(1, 11))
    clock = Seconds()
    net, server, client = chain_of([miner], clock)
    config = ChainConfig(
        api="x",
        network="t",
        miners=[SLOW],
        confidence=0,
        notify=False,
        max_partitions_per_recovery_message=2,
        max_sectors_per_recovery_message=3,
        recovering_sector_limit=9,
    )
    tracker = Tracker(store, ledger, client, config, storages)
    pushed = recovery_pushes(tracker)
    heads = Heads(tracker, net, clock, epoch=1)
    try:
        wait_until(lambda: len(pushed) == 3, 20, "three recovery messages", heads)
        assert heads.epoch < CUTOFF
        assert [d for _, d in pushed] == [
            [(2, 0, {1, 2}), (2, 1, {3})],
            [(2, 1, {4}), (2, 2, {5, 6})],
            [(2, 3, {7, 8}), (2, 4, {9})],
        ]
        wait_until(lambda: miner.recovering, 10, "the declarations on chain", heads)
        declared = [m for m in net.messages.values() if m.method == METHOD_DECLARE_FAULTS_RECOVERED]
        assert [m.exit_code for m in declared] == [0, 0, 0], [m.reason for m in declared]
        assert miner.recovering == set(range(1, 10))  # 10 waits: recovering_sector_limit
        rows = ledger.deadline_messages(SLOW, 0, 2, MessageKind.RECOVERY)
        assert sorted(r.partitions for r in rows) == [[0, 1], [1, 2], [3, 4]]
        assert not [m for m in net.messages.values() if m.method == METHOD_SUBMIT_WINDOWED_POST]
    finally:
        tracker.close()
        client.close()
        server.stop()


def test_a_mainnet_deadline_of_recoveries_is_cut_under_the_actors_sector_limit(store, ledger):
    # 11 full 32GiB partitions: 25,839 faulty sectors, more than one message may address
    miner = placeholder_miner(SLOW, "32GiB", {2: 11})
    miner.faulty = {n for p in miner.deadlines[2] for n in p}
    clock = Seconds()
    net, server, client = chain_of([miner], clock)
    config = ChainConfig(api="x", network="t", miners=[SLOW], confidence=0, notify=False)
    tracker = Tracker(store, ledger, client, config, {})
    tracker.recoveries.check = lambda m, s, pt: None  # placeholders have no files to read
    pushed = recovery_pushes(tracker)
    heads = Heads(tracker, net, clock, epoch=1)
    try:
        wait_until(lambda: len(pushed) == 2, 60, "two recovery messages", heads)
        assert heads.epoch < CUTOFF
        sizes = [sum(len(s) for _, _, s in d) for _, d in pushed]
        assert sizes == [ADDRESSED_SECTORS_MAX, 839]
        wait_until(lambda: miner.recovering, 10, "the declarations on chain", heads)
        declared = [m for m in net.messages.values() if m.method == METHOD_DECLARE_FAULTS_RECOVERED]
        assert [m.exit_code for m in declared] == [0, 0], [m.reason for m in declared]
        assert miner.recovering == miner.faulty
    finally:
        tracker.close()
        client.close()
        server.stop()


def test_a_recovering_partition_goes_alone_in_its_post_when_asked(tmp_path, store, ledger, params):
    storages = {"store-1": tmp_path / "store"}
    miner = real_miner(FAST, storages["store-1"], {0: [[1, 2], [3, 4], [5, 6]]})
    miner.faulty, miner.recovering = {3}, {3}  # declared recovered: proven again now
    clock = Seconds()
    net, server, client = chain_of([miner], clock)
    config = ChainConfig(
        api="x",
        network="t",
        miners=[FAST],
        confidence=0,
        notify=False,
        single_recovering_partition_per_post_message=True,
    )
    tracker = Tracker(store, ledger, client, config, storages)
    heads = Heads(tracker, net, clock, epoch=1, step=10**6)
    try:
        heads()
        wait_until(lambda: len(store.list_jobs()) == 3, 20, "the deadline's jobs")
        assert prove_ready_jobs(store, storages) == 3
        tracker.job_finished()
        heads()
        posts = ledger.deadline_messages(FAST, 0, 0, MessageKind.POST)
        assert sorted(m.partitions for m in posts) == [[0, 2], [1]]
        heads.step = 0.3
        wait_until(lambda: miner.proven.get((0, 0)) == {0, 1, 2}, 10, "all proven", heads)
        assert miner.faulty == set() and miner.recovering == set()  # healed
        assert all(m.exit_code == 0 for m in net.messages.values())
    finally:
        tracker.close()
        client.close()
        server.stop()
