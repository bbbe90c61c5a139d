"""The tracker's rules on their own, without a chain, a database or a
worker: which partitions go in which message, when a message may go, what a
deadline's jobs are, which sectors are declared recovered, and why a
partition was missed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from prover.chain.deadlines import deadline_info
from prover.chain.lotus import Partition, SectorOnChain
from prover.proofs import SectorRef
from prover.store import JobState, MessageKind, MessageState
from prover.store.models import JobRow, MessageRow
from prover.tracker.misses import deadline_misses, miss_reason
from prover.tracker.planning import plan_partitions
from prover.tracker.recoveries import limit_recoveries, recoveries, recovery_messages
from prover.tracker.submission import (
    SUBMIT_MARGIN_EPOCHS,
    batches,
    covered,
    may_submit,
    ready,
)

MINER = 1000
KIB2 = 10  # StackedDrgWindow2KiBV1_1: two sectors per partition
KIB32 = 13  # 2349 sectors per partition
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# deadline 3 of the mainnet period starting at 0: open 180, close 240, challenge 160
OPEN, CLOSE = 180, 240


def deadline(epoch: int = OPEN + 5):
    return deadline_info(0, 3, epoch)


def job(
    partition: int,
    sectors=None,
    *,
    state: JobState = JobState.SUCCEEDED,
    skipped=(),
    faulty=(),
    proof_type: int = KIB2,
    **kw,
) -> JobRow:
    if sectors is None:  # full 2KiB partitions in order: p0 = {1, 2}, p1 = {3, 4}, ...
        sectors = [2 * partition + 1, 2 * partition + 2]
    values = {
        "id": 100 + partition,
        "miner": MINER,
        "proof_type": proof_type,
        "period_start": 0,
        "deadline": 3,
        "partition": partition,
        "close_epoch": CLOSE,
        "randomness": bytes(32),
        "sectors": [SectorRef(n, bytes(32), "s", "s") for n in sectors],
        # as the store sets them
        "sector_count": len(sectors),
        "min_sector": min(sectors),
        "max_sector": max(sectors),
        "skipped": list(skipped),
        "faulty": list(faulty),
        "state": state,
        "tries": 1,
        "max_tries": 2,
        "attempt": 1,
        "worker": "w1",
        "created_at": T0,
        "updated_at": T0,
        "proof": bytes(192) if state == JobState.SUCCEEDED else None,
    }
    return JobRow(**(values | kw))


def message(partitions, state=MessageState.PENDING, kind=MessageKind.POST, **kw) -> MessageRow:
    values = {
        "id": 1,
        "kind": kind,
        "miner": MINER,
        "period_start": 0,
        "deadline": 3,
        "partitions": list(partitions),
        "job_ids": [],
        "cid": "bafy-m",
        "state": state,
        "pushed_epoch": 190,
        "created_at": T0,
        "updated_at": T0,
    }
    return MessageRow(**(values | kw))


def parts(batched) -> list[list[int]]:
    return [[j.partition for j in b] for b in batched]


# ---- batches: the chain verifier's re-chunking -------------------------------------


def test_full_ascending_partitions_fill_messages_up_to_the_cap():
    assert parts(batches([job(p) for p in range(5)], 3)) == [[0, 1, 2], [3, 4]]


def test_a_cap_of_one_sends_each_partition_alone():
    assert parts(batches([job(p) for p in range(3)], 1)) == [[0], [1], [2]]


def test_a_partition_that_is_not_full_ends_its_message():
    jobs = [job(0), job(1, [3]), job(2, [5, 6])]
    assert parts(batches(jobs, 3)) == [[0, 1], [2]]


def test_a_partition_with_skipped_sectors_goes_alone():
    jobs = [job(0), job(1, skipped=[3]), job(2)]
    assert parts(batches(jobs, 3)) == [[1], [0, 2]]


def test_a_partition_with_sectors_the_worker_found_faulty_goes_alone():
    jobs = [job(0, faulty=[2]), job(1), job(2)]
    assert parts(batches(jobs, 3)) == [[0], [1, 2]]


def test_interleaved_sectors_split_the_message():
    # re-chunked as one sorted list, {1, 4} + {2, 3} would be read as {1, 2} + {3, 4}
    jobs = [job(0, [1, 4]), job(1, [2, 3])]
    assert parts(batches(jobs, 3)) == [[0], [1]]


def test_batches_order_by_partition_whatever_the_input_order():
    assert parts(batches([job(2), job(0), job(1)], 3)) == [[0, 1, 2]]


def test_a_partition_with_recovering_sectors_goes_alone_when_asked():
    # Lotus' SingleRecoveringPartitionPerPostMessage: the chain verifies it at once
    jobs = [job(p) for p in range(4)]
    assert parts(batches(jobs, 3, recovering={1})) == [[1], [0, 2, 3]]
    assert parts(batches(jobs, 3, recovering={0, 3})) == [[0], [3], [1, 2]]
    assert parts(batches(jobs, 3)) == [[0, 1, 2], [3]]  # off: shared as any other


def test_fullness_is_judged_by_the_proof_types_partition_size():
    # two sectors fill a 2KiB partition, not a 32GiB one
    jobs = [job(0, proof_type=KIB32), job(1, proof_type=KIB32)]
    assert parts(batches(jobs, 3)) == [[0], [1]]


# ---- ready: which proven partitions may go now -------------------------------------


def latest(*jobs: JobRow) -> dict[int, JobRow]:
    return {j.partition: j for j in jobs}


def test_a_group_waits_for_its_unfinished_partitions():
    group = latest(job(0), job(1, state=JobState.RUNNING), job(2))
    assert ready(deadline(), group, set(), 3) == []


def test_near_close_whatever_is_proven_goes():
    group = latest(job(0), job(1, state=JobState.RUNNING), job(2, state=JobState.READY))
    hurry = deadline(CLOSE - SUBMIT_MARGIN_EPOCHS)
    assert [j.partition for j in ready(hurry, group, set(), 3)] == [0]
    assert ready(deadline(CLOSE - SUBMIT_MARGIN_EPOCHS - 1), group, set(), 3) == []


def test_groups_go_independently():
    group = latest(job(0), job(1), job(2, state=JobState.RUNNING), job(3, state=JobState.READY))
    assert [j.partition for j in ready(deadline(), group, set(), 2)] == [0, 1]


def test_failed_or_expired_partitions_do_not_hold_their_group():
    group = latest(job(0), job(1, state=JobState.FAILED), job(2, state=JobState.EXPIRED))
    assert [j.partition for j in ready(deadline(), group, set(), 3)] == [0]


def test_partitions_already_carried_are_not_sent_again():
    group = latest(job(0), job(1), job(2))
    assert [j.partition for j in ready(deadline(), group, {0, 2}, 3)] == [1]


def test_a_carried_partition_does_not_hold_its_group_back():
    group = latest(job(0, state=JobState.RUNNING), job(1))
    assert [j.partition for j in ready(deadline(), group, {0}, 3)] == [1]


def test_covered_counts_pending_and_landed_posts_only():
    messages = [
        message([0], MessageState.PENDING),
        message([1], MessageState.LANDED),
        message([2], MessageState.FAILED),
        message([3], MessageState.DROPPED),
        message([4], MessageState.PENDING, kind=MessageKind.RECOVERY),
    ]
    assert covered(messages) == {0, 1}


@pytest.mark.parametrize(
    ("epoch", "confidence", "allowed"),
    [(OPEN, 1, False), (OPEN + 1, 1, True), (OPEN + 1, 2, False), (OPEN + 2, 2, True),
     (OPEN + 1, 0, True), (CLOSE - 1, 1, True), (CLOSE, 1, False), (OPEN - 5, 1, False)],
)  # fmt: skip
def test_submission_starts_confidence_epochs_after_open_and_ends_at_close(
    epoch, confidence, allowed
):
    assert may_submit(deadline(epoch), confidence) is allowed


# ---- planning ------------------------------------------------------------------------


def partition(live, faulty=(), recovering=()) -> Partition:
    live = frozenset(live)
    return Partition(
        all=live,
        faulty=frozenset(faulty),
        recovering=frozenset(recovering),
        live=live,
        active=live - frozenset(faulty),
    )


def sectors_on_chain(numbers, upgraded=()) -> dict[int, SectorOnChain]:
    return {n: SectorOnChain(n, 8, bytes([n]) * 32, n in upgraded) for n in numbers}


def everywhere(miner, sector, upgraded):
    return ("sealed-store", "cache-store")


def test_a_partition_proves_live_minus_faulty_plus_recovering():
    parts_ = [partition({1, 2, 3, 4}, faulty={2, 3}, recovering={3})]
    plan = plan_partitions(
        MINER, deadline(), parts_, sectors_on_chain(range(1, 5)), b"s" * 32, KIB2, everywhere
    )
    (spec,) = plan.specs
    assert [s.id for s in spec.sectors] == [1, 3, 4] and spec.skipped == []
    assert spec.sectors[0] == SectorRef(1, bytes([1]) * 32, "sealed-store", "cache-store")
    assert (spec.challenge_epoch, spec.open_epoch, spec.close_epoch) == (160, OPEN, CLOSE)
    assert (spec.miner, spec.deadline, spec.partition, spec.proof_type) == (MINER, 3, 0, KIB2)


def test_partitions_keep_their_chain_index_and_empty_ones_get_no_job():
    parts_ = [partition({1, 2}), partition({3}, faulty={3}), partition({5, 6})]
    plan = plan_partitions(
        MINER, deadline(), parts_, sectors_on_chain([1, 2, 3, 5, 6]), bytes(32), KIB2, everywhere
    )
    assert [s.partition for s in plan.specs] == [0, 2] and plan.unprovable == []


def test_a_sector_found_on_no_storage_is_skipped_up_front():
    def where(miner, sector, upgraded):
        return None if sector == 2 else ("a", "a")

    plan = plan_partitions(
        MINER, deadline(), [partition({1, 2})], sectors_on_chain([1, 2]), bytes(32), KIB2, where
    )
    (spec,) = plan.specs
    assert spec.skipped == [2]
    assert [(s.id, s.sealed_storage, s.cache_storage) for s in spec.sectors] == [
        (1, "a", "a"),
        (2, "", ""),
    ]


def test_a_sector_missing_from_the_miners_sectors_is_skipped_and_left_out():
    plan = plan_partitions(
        MINER, deadline(), [partition({1, 2})], sectors_on_chain([1]), bytes(32), KIB2, everywhere
    )
    (spec,) = plan.specs
    assert spec.skipped == [2] and [s.id for s in spec.sectors] == [1]


def test_a_partition_with_no_sector_found_is_unprovable_with_the_reason():
    plan = plan_partitions(
        MINER,
        deadline(),
        [partition({1, 2}), partition({3, 4})],
        sectors_on_chain(range(1, 5)),
        bytes(32),
        KIB2,
        lambda m, n, u: None if n in (3, 4) else ("a", "a"),
    )
    assert [s.partition for s in plan.specs] == [0]
    (miss,) = plan.unprovable
    assert (miss.partition, list(miss.sectors), miss.close_epoch) == (1, [3, 4], CLOSE)
    assert "no sector of the partition was found on any storage" in miss.reason


def test_snap_upgraded_sectors_are_looked_for_as_upgraded():
    asked = []

    def where(miner, sector, upgraded):
        asked.append((sector, upgraded))
        return ("a", "a")

    plan = plan_partitions(
        MINER,
        deadline(),
        [partition({1, 2})],
        sectors_on_chain([1, 2], upgraded={2}),
        bytes(32),
        KIB2,
        where,
    )
    assert asked == [(1, False), (2, True)]
    assert [s.upgraded for s in plan.specs[0].sectors] == [False, True]


# ---- recoveries ----------------------------------------------------------------------


def test_recoveries_declare_faulty_sectors_that_prove_again_per_partition():
    parts_ = [
        partition({1, 2}, faulty={1, 2}, recovering={2}),  # 2 is already recovering
        partition({3, 4}, faulty={3, 4}),
        partition({5, 6}),
    ]
    bad = {4: "p_aux does not match comm_r"}
    found, still = recoveries(7, parts_, sectors_on_chain(range(1, 7)), lambda s: bad.get(s.number))
    assert found == [(7, 0, {1}), (7, 1, {3})]
    assert still == {4: "p_aux does not match comm_r"}


def test_a_faulty_sector_the_chain_does_not_list_stays_faulty():
    found, still = recoveries(
        1, [partition({1, 2}, faulty={2})], sectors_on_chain([1]), lambda s: None
    )
    assert found == [] and still == {2: "not in the miner's sectors"}


def test_recovering_sector_limit_keeps_the_first_sectors_in_partition_order():
    # as Lotus trims to LOTUS_RECOVERING_SECTOR_LIMIT: the partition that
    # crosses the limit is cut, the ones after it wait for the next period
    found = [(7, 0, {1, 2, 3}), (7, 2, {9, 8}), (7, 4, {20})]
    assert limit_recoveries(found, 4) == ([(7, 0, {1, 2, 3}), (7, 2, {8})], {9, 20})
    assert limit_recoveries(found, 3) == ([(7, 0, {1, 2, 3})], {8, 9, 20})
    assert limit_recoveries(found, 0) == (found, set())  # 0: no limit
    assert limit_recoveries(found, 100) == (found, set())


def test_recoveries_are_cut_by_partitions_per_message():
    found = [(7, p, {10 * p + 1, 10 * p + 2}) for p in range(5)]
    messages = recovery_messages(found, 2, 25_000)
    assert [[p for _, p, _ in m] for m in messages] == [[0, 1], [2, 3], [4]]
    assert [d for m in messages for d in m] == found  # nothing lost, nothing repeated
    assert recovery_messages(found, 0, 25_000) == [found]  # 0: no limit (Lotus' default)


def test_recoveries_are_cut_by_sectors_per_message_splitting_a_partition():
    found = [(7, 0, {1, 2, 3}), (7, 1, {4, 5, 6}), (7, 2, {7})]
    assert recovery_messages(found, 0, 4) == [
        [(7, 0, {1, 2, 3}), (7, 1, {4})],
        [(7, 1, {5, 6}), (7, 2, {7})],
    ]
    # a partition larger than the cap spans several messages
    assert recovery_messages([(7, 0, set(range(1, 8)))], 0, 3) == [
        [(7, 0, {1, 2, 3})],
        [(7, 0, {4, 5, 6})],
        [(7, 0, {7})],
    ]
    # both caps at once: whichever is reached first ends the message
    assert recovery_messages(found, 1, 4) == [
        [(7, 0, {1, 2, 3})],
        [(7, 1, {4, 5, 6})],
        [(7, 2, {7})],
    ]
    assert recovery_messages([], 3, 4) == []


def test_a_mainnet_deadline_of_full_32gib_partitions_fits_the_actors_sector_limit():
    # 11 partitions of 2349 sectors: 25,839 sectors, more than the actor's
    # AddressedSectorsMax (25,000) takes in one message
    found = [(7, p, set(range(p * 2349, (p + 1) * 2349))) for p in range(11)]
    messages = recovery_messages(found, 0, 25_000)
    sizes = [sum(len(s) for _, _, s in m) for m in messages]
    assert sizes == [25_000, 839]
    assert [p for _, p, _ in messages[1]] == [10]  # partition 10 split across both
    declared = [n for m in messages for _, _, s in m for n in s]
    assert sorted(declared) == list(range(11 * 2349))


# ---- misses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "needle"),
    [
        (MessageState.FAILED, "message bafy-m failed on chain with exit code 16"),
        (MessageState.PENDING, "message bafy-m pushed at epoch 190 was not on chain by Close"),
        (MessageState.DROPPED, "message bafy-m was dropped and not pushed again before Close"),
    ],
)
def test_the_newest_message_carrying_the_partition_names_the_miss(state, needle):
    older = message([0], MessageState.DROPPED, cid="bafy-old")
    newest = message([0], state, exit_code=16 if state == MessageState.FAILED else None)
    assert miss_reason(job(0), [older, newest], None) == needle


def test_a_proof_that_could_not_be_pushed_names_the_push_error():
    reason = miss_reason(job(0), [], "MpoolPushMessage: not enough funds")
    assert reason == "proof ready but not submitted: MpoolPushMessage: not enough funds"
    assert miss_reason(job(0), [], None).endswith("no submission before Close")


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"state": JobState.READY, "tries": 0}, "before any worker claimed the job"),
        ({"state": JobState.RUNNING, "tries": 2, "worker": "gpu7"},
         "while worker gpu7 was proving (try 2)"),
        ({"state": JobState.READY, "tries": 1, "error": "boom"},
         "after 1 failed tries; last error: boom"),
        ({"state": JobState.FAILED, "error": "compute process died"}, "compute process died"),
        ({"state": JobState.EXPIRED, "error": None}, "job 100 expired"),
    ],
)  # fmt: skip
def test_a_partition_without_a_message_is_explained_by_its_job(kw, needle):
    assert needle in miss_reason(job(0, **kw), [], None)


def test_only_partitions_without_a_landed_post_are_missed():
    jobs = latest(job(0), job(1, skipped=[3]), job(2, state=JobState.EXPIRED, error="late"))
    posts = [message([0], MessageState.LANDED), message([1], MessageState.FAILED, exit_code=16)]
    misses = deadline_misses(CLOSE, jobs, posts, None)
    assert [(m.partition, list(m.sectors)) for m in misses] == [(1, [4]), (2, [5, 6])]
    assert "exit code 16" in misses[0].reason and misses[1].reason == "late"
    assert {(m.miner, m.period_start, m.deadline, m.close_epoch) for m in misses} == {
        (MINER, 0, 3, CLOSE)
    }
