"""Which alerts are active, and what changed since the last look.

Conditions are evaluated afresh on each pass (a partition missed, a sender's
balance low, the head not moving, ...) and handed to ``AlertBook.observe``
as the set of alerts that hold now. The book turns that into transitions:
an alert not held before *fires* (once, with the details it had then, its
``starts_at`` the moment it was first seen), one held before and not now
*resolves*. An alert held on every pass fires once, however many passes it
lasts; one that clears and comes back is a new occurrence. So the rules
that find conditions stay pure and stateless, and "fire once, resolve when
it clears" lives here only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime


@dataclass(frozen=True)
class Alert:
    """One alert: ``name`` is its kind (Alertmanager's ``alertname``),
    ``labels`` tell one occurrence from another (miner, deadline, ...), and
    ``summary`` and ``details`` describe it for people."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    summary: str = ""
    details: Mapping[str, str] = field(default_factory=dict)
    severity: str = "critical"
    starts_at: datetime | None = None
    ends_at: datetime | None = None  # set once resolved

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.name, tuple(sorted(self.labels.items()))

    @property
    def resolved(self) -> bool:
        return self.ends_at is not None


class AlertBook:
    """The active alerts of one process; safe to read from other threads
    (``active``) while one thread observes."""

    def __init__(self) -> None:
        self._active: dict[tuple, Alert] = {}
        self._lock = threading.Lock()

    def observe(self, holding: Iterable[Alert], now: datetime) -> list[Alert]:
        """The alerts that fired (new) or resolved (gone) given the ones that
        hold ``now``, in that order; the book keeps the new state. An alert
        that goes on holding keeps its first details and start."""
        current = {a.key: a for a in holding}
        changes: list[Alert] = []
        with self._lock:
            for key, alert in current.items():
                if key not in self._active:
                    started = replace(alert, starts_at=alert.starts_at or now, ends_at=None)
                    self._active[key] = started
                    changes.append(started)
            for key in [k for k in self._active if k not in current]:
                changes.append(replace(self._active.pop(key), ends_at=now))
        return changes

    def forget(self, keep: Iterable[str]) -> None:
        """Drops every active alert but those named in ``keep``, without
        resolving them: a manager that stops leading hands its alerts to the
        new leader, which raises them again under the same labels (a resolve
        sent here would make them flap)."""
        names = set(keep)
        with self._lock:
            for key in [k for k, a in self._active.items() if a.name not in names]:
                del self._active[key]

    def active(self) -> list[Alert]:
        """Active alerts, oldest first."""
        with self._lock:
            alerts = list(self._active.values())
        return sorted(
            alerts, key=lambda a: (a.starts_at.timestamp() if a.starts_at else 0.0, a.name)
        )
