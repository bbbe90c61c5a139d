"""The manager's alert watch over a real store (SQLite and PostgreSQL): each
condition fires once however many passes it holds, resolves when it
clears, and a source that fails holds its alerts instead of resolving them.
The tracker is a stand-in here (its head, heads and proof types are plain
values the test sets); the devnet tests drive the real one."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from conftest import job_spec
from prover.alerts import AlertBook
from prover.alerts import rules as r
from prover.chain.deadlines import Policy, deadline_info
from prover.config import AlertsConfig
from prover.manager.alert_watch import AlertWatch
from prover.store import MessageKind, Miss, StorageHosts
from prover.store.ledger import Sent

MINER = 1000
POLICY = Policy.devnet(challenge_window=10, challenge_lookback=2, fault_declaration_cutoff=3)
PERIOD = POLICY.proving_period  # 480


class Chain:
    """What the watch reads of the tracker."""

    def __init__(self) -> None:
        self.epoch = 100
        self.head_moved_at = time.monotonic()
        self.config = SimpleNamespace(miners=[MINER])
        self.types = {MINER: 13}
        self.proof_types = SimpleNamespace(latest=lambda: dict(self.types))
        info = deadline_info(0, 0, self.epoch, POLICY)
        self.heads = {MINER: SimpleNamespace(info=info, policy=POLICY)}

    def longest_period(self) -> int:
        return PERIOD


@pytest.fixture
def watch(store, workers, ledger, clock):
    chain = Chain()
    balances = {"t0100": 50 * 10**18}
    seconds = [0.0]
    w = AlertWatch(
        AlertsConfig(low_balance="10 FIL", head_stall_epochs=5, labels={"site": "dc1"}),
        AlertBook(),
        store,
        ledger,
        chain,
        workers=workers,
        epoch=lambda: chain.epoch,
        epoch_seconds=30.0,
        worker_live_s=15.0,
        senders=["t0100"],
        balance=lambda a: balances[a],
        hosts=StorageHosts(store.db, clock=clock, timeout_s=15),
        now=clock,
        monotonic=lambda: chain.head_moved_at + seconds[0],
    )
    w.chain, w.balances, w.seconds = chain, balances, seconds
    workers.register("w1")
    return w


def names(alerts) -> list[tuple[str, bool]]:
    return sorted((a.name, a.resolved) for a in alerts)


def test_quiet_when_all_is_well(watch):
    assert watch.check() == []
    assert watch.check() == []


def test_every_alert_carries_the_configured_labels(watch, ledger):
    ledger.record_miss(Miss(MINER, 0, 3, 0, 40, [1, 2], "no proof"))
    (fired,) = watch.check()
    assert fired.labels["site"] == "dc1" and fired.labels["miner"] == str(MINER)


def test_a_missed_partition_fires_once_and_resolves_when_its_deadline_comes_round(watch, ledger):
    ledger.record_miss(Miss(MINER, 0, 3, 1, 40, [5, 6, 7], "no proof accepted before Close"))
    (fired,) = watch.check()
    assert fired.name == r.PARTITION_MISSED and not fired.resolved
    assert fired.labels["deadline"] == "3" and fired.labels["partition"] == "1"
    assert "3 sectors faulty" in fired.summary
    assert fired.details["reason"] == "no proof accepted before Close"
    assert watch.check() == [] and watch.check() == []  # once
    ledger.record_miss(Miss(MINER, 0, 4, 0, 50, [8], "x"))  # read incrementally
    assert [a.labels["deadline"] for a in watch.check()] == ["4"]
    watch.chain.epoch = 40 + PERIOD  # deadline 3's next Close
    (resolved,) = watch.check()
    assert resolved.name == r.PARTITION_MISSED and resolved.resolved
    assert resolved.labels["deadline"] == "3"


def test_sectors_left_out_of_an_accepted_proof(watch, store):
    (ok,) = [i for i, _ in store.add_jobs([job_spec(0, deadline=2, close_epoch=30)])]
    (left,) = [
        i
        for i, _ in store.add_jobs(
            [job_spec(1, deadline=2, close_epoch=30, sectors=(1, 9), skipped=[9])]
        )
    ]
    (faulty,) = [i for i, _ in store.add_jobs([job_spec(2, deadline=2, close_epoch=30)])]
    for _ in range(3):
        job = store.claim("w1")
        store.finish(
            "w1",
            job.id,
            job.attempt,
            success=True,
            proof=b"p" * 192,
            faulty=[1] if job.id == faulty else [],
        )
    fired = watch.check()
    assert names(fired) == [(r.SECTORS_LEFT_OUT, False)] * 2
    assert sorted(a.labels["partition"] for a in fired) == ["1", "2"]
    assert {a.details["sectors"] for a in fired} == {"9", "1"}
    assert ok not in (left, faulty)
    assert watch.check() == []
    watch.chain.epoch = 30 + PERIOD
    assert names(watch.check()) == [(r.SECTORS_LEFT_OUT, True)] * 2


def test_a_message_failed_on_chain_and_a_post_not_landed_before_close(watch, ledger):
    failed = ledger.record_push(
        kind=MessageKind.RECOVERY,
        miner=MINER,
        period_start=0,
        deadline=5,
        partitions=[0],
        cid="bafy-recovery",
        pushed_epoch=90,
    )
    ledger.executed(failed.id, exit_code=16, epoch=95)
    ledger.record_push(
        kind=MessageKind.POST,
        miner=MINER,
        period_start=0,
        deadline=10,
        partitions=[0],
        cid="bafy-post",
        pushed_epoch=101,
        sent=Sent("t3sender", 7, b"params", 1000, 100, 10),
    )  # deadline 10 closes at 110
    (fired,) = watch.check()
    assert fired.name == r.MESSAGE_FAILED and fired.labels["cid"] == "bafy-recovery"
    assert "exit code 16" in fired.summary
    # a PoSt still pending 5 epochs before Close (half the 10-epoch window)
    watch.chain.epoch = 105
    (late,) = watch.check()
    assert late.name == r.MESSAGE_NOT_LANDED and late.labels["partitions"] == "0"
    assert late.details == {"cid": "bafy-post"}
    assert "5 epochs before Close" in late.summary
    # replaced by fee, still not on chain: the same alert goes on, no resolve
    (post,) = [m for m in ledger.troubled_messages(0) if m.cid == "bafy-post"]
    higher = Sent("t3sender", 7, b"params", 1000, 200, 20)
    ledger.record_replacement(post.id, cid="bafy-post-2", sent=higher, pushed_epoch=106)
    watch.chain.epoch = 106
    assert watch.check() == []
    watch.chain.epoch = 110  # closed: the miss says the rest
    assert names(watch.check()) == [(r.MESSAGE_NOT_LANDED, True)]


def test_a_refused_proof_fires_with_the_worker_and_the_error(watch, store):
    (job_id,) = [i for i, _ in store.add_jobs([job_spec(0, deadline=1, close_epoch=20)])]
    watch.refused(job_id, "gpu-7", "invalid proof: does not verify")
    (fired,) = watch.check()
    assert fired.name == r.PROOF_REFUSED
    assert fired.details == {"worker": "gpu-7", "error": "invalid proof: does not verify"}
    assert watch.check() == []
    watch.refused(job_id, "gpu-7", "invalid proof: does not verify")  # the same occurrence
    assert watch.check() == []
    watch.chain.epoch = 20 + PERIOD
    assert names(watch.check()) == [(r.PROOF_REFUSED, True)]


def test_no_live_worker_for_a_miners_proof_type(watch, store, workers, clock):
    store.add_jobs([job_spec(0, deadline=1, close_epoch=200)])  # a 2KiB job (type 10) waits
    watch.chain.types = {MINER: 14}
    workers.register("w1", allowed_proof_types=[14])
    fired = watch.check()
    assert [(a.name, a.labels["proof_type"]) for a in fired] == [(r.NO_WORKER, "10")]
    clock.advance(16)  # w1 silent past the heartbeat timeout: nobody for 14 either
    assert [a.labels["proof_type"] for a in watch.check()] == ["14"]
    workers.register("w2")  # takes anything
    assert names(watch.check()) == [(r.NO_WORKER, True)] * 2


def test_a_low_balance_and_a_stalled_head(watch, ledger):
    watch.balances["t0100"] = 2 * 10**18
    (low,) = watch.check()
    assert low.name == r.LOW_BALANCE and low.labels["sender"] == "t0100"
    assert low.severity == "warning"
    # a sender the ledger saw is watched too
    ledger.record_push(
        kind=MessageKind.POST,
        miner=MINER,
        period_start=0,
        deadline=9,
        partitions=[0],
        cid="bafy-9",
        pushed_epoch=95,
        sent=None,
    )
    watch.seconds[0] = 5 * 30  # five 30 s epochs without a new head
    (stalled,) = watch.check()
    assert stalled.name == r.HEAD_STALLED and "epoch 100" in stalled.summary
    watch.seconds[0] = 0
    watch.balances["t0100"] = 20 * 10**18
    assert names(watch.check()) == [(r.HEAD_STALLED, True), (r.LOW_BALANCE, True)]


def test_a_failing_source_holds_its_alerts_rather_than_resolving_them(watch, ledger):
    watch.balances["t0100"] = 1
    ledger.record_miss(Miss(MINER, 0, 3, 0, 40, [1], "no proof"))
    assert names(watch.check()) == [(r.LOW_BALANCE, False), (r.PARTITION_MISSED, False)]

    def node_down(address):
        raise ConnectionError("node unreachable")

    watch.balance = node_down
    assert watch.check() == []  # held: not resolved, not fired again
    assert {a.name for a in watch.book.active()} == {r.LOW_BALANCE, r.PARTITION_MISSED}
    watch.balance = lambda a: 10**20
    assert names(watch.check()) == [(r.LOW_BALANCE, True)]


def test_a_silent_storage_host_and_whether_another_serves_its_storages(watch, clock):
    watch.hosts.announce("host-1", address="10.0.0.1:9702", storages=["store-1"])
    watch.hosts.announce("host-2", address="10.0.0.2:9702", storages=["store-1", "store-2"])
    assert watch.check() == []
    clock.advance(10)
    watch.hosts.announce("host-1", address="10.0.0.1:9702", storages=["store-1"])
    clock.advance(10)  # host-2 silent for 20 s, past the 15 s timeout
    # (w1 went silent too: "no worker" fires beside it)
    (silent,) = [a for a in watch.check() if a.name == r.STORAGE_HOST_SILENT]
    assert silent.name == r.STORAGE_HOST_SILENT and silent.labels["host"] == "host-2"
    assert "no other host serves store-2" in silent.summary  # store-1 still has host-1
    assert silent.severity == "critical" and silent.details["unserved"] == "store-2"
    assert watch.check() == []  # once
    watch.hosts.announce("host-2", address="10.0.0.2:9702", storages=["store-1", "store-2"])
    assert names(watch.check()) == [(r.STORAGE_HOST_SILENT, True)]


def test_a_standby_raises_only_that_nobody_leads_and_resolves_it_when_one_does(
    store, workers, ledger, clock
):
    from prover.store.lease import ChainLease

    mono = [0.0]
    lease = ChainLease(store.db, "m1", ttl_s=10, clock=clock, monotonic=lambda: mono[0])
    w = AlertWatch(
        AlertsConfig(),
        AlertBook(),
        store,
        ledger,
        None,
        workers=workers,
        epoch=lambda: None,
        epoch_seconds=30.0,
        worker_live_s=15.0,
        leadership=lease.leadership,
        lease_ttl_s=10,
        now=clock,
    )
    # never held: nobody has led since the lease row was made
    (fired,) = w.check(leading=False)
    assert fired.name == "ProverNoLeader" and "never held" in fired.summary
    lease.step()
    (resolved,) = w.check(leading=False)
    assert resolved.resolved
    clock.advance(15)  # the leader stopped renewing 15 s ago: lapsed 5 s, a failover's time
    assert w.check(leading=False) == []
    clock.advance(6)
    (again,) = w.check(leading=False)
    assert again.name == "ProverNoLeader" and "manager m1" in again.summary
