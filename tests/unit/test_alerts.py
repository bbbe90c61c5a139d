"""Alerts fire once per occurrence and resolve when they clear, in the shapes
chat webhooks and Alertmanager take (delivery: tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prover.alerts import Alert, AlertBook
from prover.alerts.delivery import alertmanager_alert, text_of

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def missed(deadline: int, partition: int = 0) -> Alert:
    return Alert(
        "PartitionMissed",
        {"miner": "t01000", "deadline": str(deadline), "partition": str(partition)},
        summary=f"deadline {deadline} partition {partition} closed without a proof",
        details={"reason": "never claimed"},
    )


def test_an_alert_fires_once_while_it_holds_and_resolves_when_it_clears():
    book = AlertBook()
    (fired,) = book.observe([missed(2)], T0)
    assert fired.starts_at == T0 and not fired.resolved
    assert book.observe([missed(2)], T0 + timedelta(minutes=1)) == []  # still holding: quiet
    later = missed(2)
    (resolved,) = book.observe([], T0 + timedelta(minutes=2))
    assert resolved.resolved and resolved.starts_at == T0 and resolved.key == later.key
    assert book.active() == []
    (again,) = book.observe([missed(2)], T0 + timedelta(minutes=3))  # a new occurrence
    assert again.starts_at == T0 + timedelta(minutes=3)


def test_occurrences_are_told_apart_by_their_labels():
    book = AlertBook()
    assert len(book.observe([missed(2, 0), missed(2, 1)], T0)) == 2
    (gone,) = book.observe([missed(2, 1)], T0 + timedelta(seconds=30))
    assert gone.labels["partition"] == "0" and gone.resolved
    assert [a.labels["partition"] for a in book.active()] == ["1"]


def test_shapes_for_chat_and_alertmanager():
    (a,) = AlertBook().observe([missed(5)], T0)
    assert text_of(a).startswith("[CRITICAL] PartitionMissed deadline=5 miner=t01000")
    shaped = alertmanager_alert(a)
    assert shaped["labels"]["alertname"] == "PartitionMissed"
    assert shaped["labels"]["deadline"] == "5"
    assert shaped["annotations"]["reason"] == "never claimed"
    assert shaped["startsAt"] == "2026-12-01T08:00:00Z" and "endsAt" not in shaped


# ---- the conditions --------------------------------------------------------------

PERIOD = 2880


def test_a_miss_holds_until_its_deadline_comes_round_again():
    from prover.alerts.rules import PARTITION_MISSED, missed_partitions
    from prover.store.ledger import Miss

    miss = Miss(1000, 0, 3, 1, 240, [5, 6], "deadline closed while worker w1 was proving")
    (a,) = missed_partitions([miss], 300, PERIOD)
    assert a.name == PARTITION_MISSED and a.labels["partition"] == "1"
    assert a.details["reason"].startswith("deadline closed")
    assert missed_partitions([miss], 240 + PERIOD, PERIOD) == []  # its next turn


def test_left_out_sectors_and_refused_proofs():
    from prover.alerts.rules import ProofFact, RefusalFact, left_out_sectors, refused_proofs

    clean = ProofFact(1000, 0, 3, 0, 240, [], [])
    skipped = ProofFact(1000, 0, 3, 1, 240, [7], [9])
    (a,) = left_out_sectors([clean, skipped], 250, PERIOD)
    assert a.details["sectors"] == "7,9" and a.severity == "warning"
    refused = RefusalFact(1000, 0, 3, 0, 240, "w2", "invalid proof: does not verify")
    (r,) = refused_proofs([refused], 250, PERIOD)
    assert r.details["worker"] == "w2"


def test_messages_failed_or_not_landed_before_close():
    from prover.alerts.rules import (
        MESSAGE_FAILED,
        MESSAGE_NOT_LANDED,
        MessageFact,
        message_problems,
    )

    failed = MessageFact(1000, 0, 3, "post", "bafy-f", "failed", 240, 16, "invalid proof")
    late = MessageFact(1000, 0, 4, "post", "bafy-l", "pending", 300)
    landed = MessageFact(1000, 0, 5, "post", "bafy-ok", "landed", 360)
    alerts = message_problems([failed, late, landed], 290, PERIOD, before_close=20)
    assert [a.name for a in alerts] == [MESSAGE_FAILED, MESSAGE_NOT_LANDED]
    assert message_problems([late], 270, PERIOD, before_close=20) == []  # 30 epochs left
    assert message_problems([late], 300, PERIOD, before_close=20) == []  # closed: a miss now


def test_no_live_worker_for_a_miners_proof_type():
    from prover.alerts.rules import WorkerFact, no_capable_worker

    now = T0
    fresh = WorkerFact("w1", now, False, [], [13])  # 32GiB only
    stale = WorkerFact("w2", now - timedelta(minutes=5), False, [], [])
    draining = WorkerFact("w3", now, True, [], [])
    alerts = no_capable_worker([(1000, 13), (2000, 14)], [fresh, stale, draining], now, 15)
    assert [a.labels["miner"] for a in alerts] == ["2000"]  # 64GiB: nobody live can


def test_low_balances_and_a_stalled_head():
    from prover.alerts.rules import head_stalled, low_balances

    (low,) = low_balances({"f3a": 10**18, "f3b": 10**17}, 5 * 10**17)
    assert low.labels == {"sender": "f3b"} and "0.1 FIL" in low.summary
    assert head_stalled(100, 59.0, 30.0, 2) == []
    (stalled,) = head_stalled(100, 61.0, 30.0, 2)
    assert "epoch 100" in stalled.summary


def test_no_leader_holds_once_the_lease_has_lapsed_longer_than_a_lease():
    from prover.alerts import rules

    expired = T0 - timedelta(seconds=5)
    assert rules.no_leader("m1", expired, T0, ttl_s=10) == []  # a failover under way
    (alert,) = rules.no_leader("m1", T0 - timedelta(seconds=11), T0, ttl_s=10)
    assert alert.name == rules.NO_LEADER and alert.severity == "critical"
    assert "manager m1" in alert.summary and alert.details["last_leader"] == "m1"
    assert rules.no_leader("", datetime(1970, 1, 1, tzinfo=UTC), T0, ttl_s=10)


def test_a_standby_hands_its_alerts_over_without_resolving_them():
    book = AlertBook()
    book.observe([missed(2), Alert("ProverNoLeader", {})], T0)
    book.forget({"ProverNoLeader"})
    assert [a.name for a in book.active()] == ["ProverNoLeader"]
    # nothing was resolved: the new leader raises the miss again, as a new
    # occurrence to this book only
    (again,) = book.observe([missed(2), Alert("ProverNoLeader", {})], T0)
    assert again.name == "PartitionMissed" and not again.resolved
