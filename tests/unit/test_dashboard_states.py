"""What each deadline of the dashboard's strip shows, from plain facts: the
state rules, which occurrence of each deadline the strip shows, and the
time to each deadline's next Close."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from prover.chain.deadlines import Policy, deadline_info
from prover.dashboard.states import (
    DeadlineState,
    PartitionFacts,
    PartitionOutcome,
    at_epoch,
    deadline_state,
    next_close,
    outcome_due,
    partition_outcome,
    strip_occurrences,
)
from prover.dashboard.views import ChainFacts, Rows, chain_ranges, chain_strips, store_strips
from prover.store.overview import DeadlineRange, JobLine, MessageLine, MissLine

S = DeadlineState
Out = PartitionOutcome
# 8 deadlines of 10 epochs: a period of 80
POLICY = Policy.devnet(challenge_window=10, period_deadlines=8)


def landed(p: int, left_out: int = 0) -> PartitionFacts:
    return PartitionFacts(
        p, "succeeded", sectors=4, left_out=left_out, message_state="landed", landed=True
    )


def closed(parts, *, due: bool = True, submits: bool = True) -> DeadlineState:
    return deadline_state(parts, open_now=False, outcome_due=due, submits=submits)


# ---- one partition -------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "outcome"),
    [
        (landed(0), Out.PROVEN),
        (landed(0, left_out=1), Out.PARTLY_FAULTY),
        (PartitionFacts(0, "succeeded", 4, message_state="failed"), Out.FAULTY),
        # the planner found none of its sectors: a miss and no job
        (PartitionFacts(0, None, 4, missed=True), Out.FAULTY),
        # a failed message is recorded as a miss too; it stays faulty
        (PartitionFacts(0, "succeeded", 4, message_state="failed", missed=True), Out.FAULTY),
        (PartitionFacts(0, "expired", 4, missed=True), Out.MISSED),
        (PartitionFacts(0, "succeeded", 4, message_state="pending", missed=True), Out.MISSED),
        (PartitionFacts(0, "running", 4), Out.PENDING),
        (PartitionFacts(0, "succeeded", 4, message_state="pending"), Out.PENDING),
        (PartitionFacts(0, "succeeded", 4, message_state="dropped"), Out.PENDING),
        # replaced by a second message that landed: the landing counts
        (PartitionFacts(0, "succeeded", 4, message_state="dropped", landed=True), Out.PROVEN),
    ],
)
def test_a_partitions_outcome(facts, outcome):
    assert partition_outcome(facts) == outcome


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("succeeded", Out.PROVEN),
        ("failed", Out.MISSED),
        ("expired", Out.MISSED),
        ("ready", Out.PENDING),
        ("running", Out.PENDING),
    ],
)
def test_without_a_chain_a_verified_proof_is_as_far_as_it_goes(state, outcome):
    assert partition_outcome(PartitionFacts(0, state, 4), submits=False) == outcome


# ---- one deadline ----------------------------------------------------------------


def test_the_open_deadline_is_current_whatever_its_partitions():
    for parts in ([], [landed(0)], [PartitionFacts(0, "expired", 4, missed=True)]):
        assert deadline_state(parts, open_now=True, outcome_due=False) == S.CURRENT


def test_no_partitions_is_empty():
    assert closed([]) == S.EMPTY


def test_every_partition_landed_with_nothing_left_out_is_proven():
    assert closed([landed(0), landed(1)]) == S.PROVEN


def test_sectors_left_out_of_a_landed_proof_make_it_partly_faulty():
    assert closed([landed(0), landed(1, left_out=2)]) == S.PARTLY_FAULTY


def test_a_faulty_partition_beside_a_proven_one_is_partly_faulty():
    failed = PartitionFacts(1, "succeeded", 4, message_state="failed", missed=True)
    assert closed([landed(0), failed]) == S.PARTLY_FAULTY


def test_every_partition_faulty_is_faulty():
    failed = PartitionFacts(0, "succeeded", 4, message_state="failed", missed=True)
    nothing_found = PartitionFacts(1, None, 4, missed=True)
    assert closed([failed, nothing_found]) == S.FAULTY


def test_one_missed_partition_makes_the_deadline_missed():
    missed = PartitionFacts(1, "expired", 4, missed=True)
    assert closed([landed(0), missed]) == S.MISSED
    assert closed([PartitionFacts(0, None, 4, missed=True), missed]) == S.MISSED


def test_just_after_close_an_outcome_not_in_yet_shows_current_then_missed():
    # the message was pushed in time; the tracker has not seen it land yet
    waiting = [landed(0), PartitionFacts(1, "succeeded", 4, message_state="pending")]
    assert closed(waiting, due=False) == S.CURRENT
    assert closed(waiting, due=True) == S.MISSED  # nothing landed after all
    never_claimed = [PartitionFacts(0, "ready", 4)]
    assert closed(never_claimed, due=True) == S.MISSED


def test_a_recorded_miss_shows_at_once_even_while_others_are_pending():
    parts = [PartitionFacts(0, "expired", 4, missed=True), PartitionFacts(1, "running", 4)]
    assert closed(parts, due=False) == S.MISSED


def test_without_a_chain_jobs_decide():
    assert closed([PartitionFacts(0, "succeeded", 4)], due=False, submits=False) == S.PROVEN
    assert closed([PartitionFacts(0, "running", 4)], due=False, submits=False) == S.CURRENT
    assert closed([PartitionFacts(0, "expired", 4)], due=False, submits=False) == S.MISSED


def test_the_outcome_is_due_after_confidence_and_the_trackers_next_tick():
    assert not outcome_due(close=100, epoch=102, confidence=1)
    assert outcome_due(close=100, epoch=103, confidence=1)
    assert not outcome_due(close=100, epoch=104, confidence=3)
    assert outcome_due(close=100, epoch=105, confidence=3)
    assert outcome_due(close=100, epoch=103, confidence=0)  # the tracker waits an epoch anyway


# ---- which occurrence, and when it closes next --------------------------------------


def test_the_strip_is_this_period_up_to_now_and_the_previous_after_it():
    cur = deadline_info(80, 5, 133, POLICY)  # period 80, deadline 5 open (130-140)
    strip = strip_occurrences(cur)
    assert [d.index for d in strip] == list(range(8))
    assert [d.period_start for d in strip] == [80] * 6 + [0] * 2
    assert strip[5].is_open()
    assert all(d.has_elapsed() for d in strip[:5] + strip[6:])  # each closed occurrence
    assert [d.close for d in strip] == [90, 100, 110, 120, 130, 140, 70, 80]


def test_the_strip_follows_the_period_count_of_the_policy():
    mainnet = deadline_info(0, 47, 2879, Policy(30, 60))
    assert len(strip_occurrences(mainnet)) == 48
    assert {d.period_start for d in strip_occurrences(mainnet)} == {0}


def test_next_close_is_this_periods_if_still_to_come_else_the_next_periods():
    cur = deadline_info(80, 5, 133, POLICY)
    assert next_close(cur, 5) == 140  # the open one
    assert next_close(cur, 7) == 160
    assert next_close(cur, 0) == 170  # deadline 0 of the period starting at 160


def test_a_deadline_read_some_heads_ago_is_moved_to_the_current_epoch():
    read = deadline_info(80, 5, 133, POLICY)
    assert at_epoch(read, 133) == read
    later = at_epoch(read, 175)  # into the next period
    assert (later.period_start, later.index, later.current_epoch) == (160, 1, 175)
    assert later.is_open()


# ---- rows to strips (pure) ------------------------------------------------------------


def job(deadline, partition=0, *, period=80, state="succeeded", generation=0, skipped=0, jid=1):
    return JobLine(
        jid, 1000, period, deadline, partition, generation, state, "w1", 4, skipped, 0, 1, None, 0
    )


def post(deadline, partitions, state="landed", *, period=80, fee="1000"):
    return MessageLine(
        1000, period, deadline, "post", tuple(partitions), f"bafy-{deadline}", state,
        0 if state == "landed" else 16, 100, 101, 10, fee, None, 0,
    )  # fmt: skip


def miss(deadline, partition=0, *, period=80):
    return MissLine(1000, period, deadline, partition, 0, 4, "why", datetime.now(UTC))


def test_a_miners_strip_from_its_rows():
    chain = ChainFacts(133, [1000], {1000: deadline_info(80, 5, 120, POLICY)}, confidence=1)
    assert chain_ranges(chain) == [DeadlineRange(1000, 80, 0, 5), DeadlineRange(1000, 0, 6, 7)]
    rows = Rows.of(
        [
            job(1, 0),  # proven: both partitions landed in one message
            job(1, 1),
            job(2, skipped=1),  # partly faulty
            job(3, state="expired"),  # missed
            job(4),  # faulty: its message failed
            job(5, state="running"),  # open now
            job(6, period=0),  # proven, in the period before
            # an older generation that expired does not count: the newest does
            job(7, period=0, state="expired", generation=0, jid=7),
            job(7, period=0, generation=1, jid=8),
            job(3, period=0, state="succeeded"),  # another period: not on the strip
        ],
        [
            post(1, [0, 1]),
            post(2, [0]),
            post(4, [0], "failed"),
            post(6, [0], period=0),
            post(7, [0], period=0),
        ],
        [miss(3), miss(4)],
    )
    (strip,) = chain_strips(chain, rows)
    states = [c.state for c in strip.cells]
    assert states == [
        S.EMPTY, S.PROVEN, S.PARTLY_FAULTY, S.MISSED, S.FAULTY, S.CURRENT, S.PROVEN, S.PROVEN,
    ]  # fmt: skip
    assert strip.current.index == 5 and strip.close_in == "7 s"  # Close at 140, epoch 133
    assert strip.cells[1].partitions == 2 and strip.cells[1].proven == 2
    assert strip.cells[0].next_close_in == "37 s"  # deadline 0 of the next period: 170
    assert strip.counts["proven"] == 3 and strip.counts["empty"] == 1
    assert "deadline 3: missed" in strip.cells[3].title


def test_a_miner_not_read_from_the_chain_yet_says_so():
    (strip,) = chain_strips(ChainFacts(10, [1000], {}), Rows.of([]))
    assert strip.cells == [] and "not read" in strip.note


def test_without_a_chain_each_deadlines_latest_period_in_the_store():
    rows = Rows.of([job(2, state="succeeded"), job(3, state="running"), job(4, state="failed")])
    (strip,) = store_strips(rows)
    assert len(strip.cells) == 48  # no policy to say otherwise: mainnet's
    assert [c.state for c in strip.cells[1:6]] == [S.EMPTY, S.PROVEN, S.CURRENT, S.MISSED, S.EMPTY]


def test_in_shadow_mode_a_deadline_whose_proofs_were_ready_reads_proven_not_missed():
    head = {1000: deadline_info(80, 5, 120, POLICY)}
    rows = Rows.of([job(1), job(2, skipped=1), job(3, state="expired")], [], [])
    live = chain_strips(ChainFacts(133, [1000], head, confidence=1), rows)[0]
    shadow = chain_strips(ChainFacts(133, [1000], head, confidence=1, shadow=True), rows)[0]
    # live, nothing landed: missed once due; in shadow mode nothing is sent
    assert [c.state for c in live.cells[1:4]] == [S.MISSED, S.MISSED, S.MISSED]
    assert [c.state for c in shadow.cells[1:4]] == [S.PROVEN, S.PARTLY_FAULTY, S.MISSED]
    assert "shadow mode" in shadow.note and not live.note
