"""The chain lease and its fence on both backends: one holder at a time, a
term that only grows, a deposed holder's ledger writes refused; and claims
that never reached their worker sent back at its next heartbeat."""

from __future__ import annotations

import pytest

from conftest import job_spec
from prover.store import JobState, Ledger, MessageKind, Miss
from prover.store.lease import ChainLease, LeaseLost


class Mono:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def mono():
    return Mono()


def lease(store, clock, mono, name, ttl=10.0) -> ChainLease:
    return ChainLease(store.db, name, ttl_s=ttl, clock=clock, monotonic=mono, address=f"{name}:1")


def advance(clock, mono, seconds):
    clock.advance(seconds)
    mono.t += seconds


def push(ledger: Ledger, cid: str = "bafy-1"):
    return ledger.record_push(
        kind=MessageKind.POST,
        miner=1000,
        period_start=0,
        deadline=3,
        partitions=[0],
        cid=cid,
        pushed_epoch=10,
    )


def test_one_holder_at_a_time_and_the_term_only_grows(store, clock, mono):
    a, b = lease(store, clock, mono, "a"), lease(store, clock, mono, "b")
    assert a.step() == 1
    assert b.step() is None
    who = b.leadership()
    assert (who.holder, who.term, who.address) == ("a", 1, "a:1")
    advance(clock, mono, 5)
    assert a.step() == 1  # renewed: same term
    advance(clock, mono, 9)
    assert b.step() is None  # a renewed 9 s ago: still a's
    advance(clock, mono, 2)
    assert b.step() == 2  # a lapsed: b takes it, one term up
    assert a.step() is None and a.holds() is None
    assert {m.name for m in a.managers()} == {"a", "b"}
    b.release()
    assert a.step() == 3  # released: taken at once, never reused terms


def test_a_holder_that_cannot_renew_stops_acting_before_its_lease_runs_out(store, clock, mono):
    a = lease(store, clock, mono, "a")
    assert a.step() == 1
    mono.t += 8.9
    assert a.holds() == 1
    mono.t += 0.2  # 9.1 s without a renewal: under the 10 s lease, less the margin
    assert a.holds() is None


def test_a_deposed_leaders_ledger_writes_are_refused(store, clock, mono):
    a, b = lease(store, clock, mono, "a"), lease(store, clock, mono, "b")
    a.step()
    ledger_a = Ledger(store.db, clock=clock, fence=a.fence)
    ledger_b = Ledger(store.db, clock=clock, fence=b.fence)
    row = push(ledger_a)
    # a is paused past its lease (its monotonic clock too: it wakes up late)
    advance(clock, mono, 11)
    b.step()
    # a resumes believing its old term: its clock moved, so it knows it may
    # not; and were it not to know, the database refuses it
    with pytest.raises(LeaseLost):
        push(ledger_a, "bafy-late")
    a._valid_until = mono.t + 100  # as if a never noticed locally
    with pytest.raises(LeaseLost, match="term 2 held by b"):
        push(ledger_a, "bafy-late")
    with pytest.raises(LeaseLost):
        ledger_a.executed(row.id, exit_code=0, epoch=12)
    with pytest.raises(LeaseLost):
        ledger_a.record_miss(Miss(1000, 0, 3, 0, 18, [1, 2], "closed"))
    assert [m.cid for m in ledger_b.deadline_messages(1000, 0, 3)] == ["bafy-1"]
    assert ledger_b.list_misses() == []
    # the new leader settles what the old one pushed
    assert ledger_b.executed(row.id, exit_code=0, epoch=12).value == "landed"


def test_a_push_needs_half_the_lease_left(store, clock, mono):
    a = lease(store, clock, mono, "a", ttl=10.0)
    a.step()
    ledger = Ledger(store.db, clock=clock, fence=a.fence)
    clock.advance(6)  # 4 s left in the database; still within a's own margin
    with pytest.raises(LeaseLost, match=r"4\.0s left"):
        push(ledger)
    ledger.record_miss(Miss(1000, 0, 3, 0, 18, [1], "closed"))  # not a push: goes
    a.step()
    push(ledger)


def test_a_claim_that_never_reached_its_worker_is_ready_at_its_next_heartbeat(
    store, workers, clock
):
    workers.register("w")
    (lost,) = (store.add_jobs([job_spec(0)])[0][0],)
    job = store.claim("w")  # the answer is lost on its way
    assert job.id == lost and job.tries == 1
    clock.advance(1)
    (held,) = (store.add_jobs([job_spec(1)])[0][0],)
    store.heartbeat("w", [])  # first beat after the claim: the answer may be in flight
    assert store.get(lost).state == JobState.RUNNING
    claimed_after = store.claim("w")  # after the previous beat: not listed yet, kept
    assert claimed_after.id == held
    clock.advance(1)
    gone: list[int] = []
    store.heartbeat("w", [(held, claimed_after.attempt)], lost=gone)
    assert gone == [lost]
    back = store.get(lost)
    assert back.state == JobState.READY and back.tries == 0 and "claim lost" in back.error
    assert store.get(held).state == JobState.RUNNING
    # a late Finish of the lost attempt is refused; the next claim proves it
    again = store.claim("other")
    assert again.id == lost and again.attempt == job.attempt + 1


def test_a_restarted_worker_gets_its_jobs_back_at_its_first_heartbeat(store, workers, clock):
    workers.register("w")
    (job_id,) = (store.add_jobs([job_spec(0)])[0][0],)
    store.claim("w")
    clock.advance(1)
    store.heartbeat("w", [(job_id, 1)])
    clock.advance(1)
    workers.register("w")  # restarted: its compute child is gone
    clock.advance(1)
    gone: list[int] = []
    store.heartbeat("w", [], lost=gone)
    assert gone == [job_id]
    assert store.get(job_id).state == JobState.READY


def test_a_manager_restarted_on_another_release_shows_its_new_version(
    store, clock, mono, monkeypatch
):
    """Upgraded one at a time under the same name: the managers table (and so
    `prover workers list` and the dashboard) must not keep the old version."""
    from prover.buildinfo import BuildInfo

    monkeypatch.setattr(
        "prover.store.lease.build_info", lambda: BuildInfo("0.1.0", "73e2e59", "cpu")
    )
    lease(store, clock, mono, "a").step()
    assert [m.version for m in lease(store, clock, mono, "b").managers()] == ["0.1.0+73e2e59"]
    advance(clock, mono, 30)  # a is stopped, then started again on the new release
    monkeypatch.setattr(
        "prover.store.lease.build_info", lambda: BuildInfo("0.2.0", "abc1234", "cpu")
    )
    restarted = lease(store, clock, mono, "a")
    restarted.step()
    (row,) = restarted.managers()
    assert row.version == "0.2.0+abc1234"
    assert row.started_at == restarted.started_at
