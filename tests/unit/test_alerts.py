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
