"""``ChainLease``: which of several managers on one database does the chain
work, and the fence that keeps a deposed one from acting.

Any number of managers serve the APIs; exactly one at a time follows the
chain, plans, submits, declares recoveries and records misses: the holder
of the ``chain`` row of ``leases``. It renews the row every few seconds; a
standby takes it once ``expires_at`` has passed, and each new holding gets
a ``term`` one higher than any before. A leader that lost its lease (paused
by SIGSTOP, cut off from the database, stalled) may still be running its
tracker when it resumes: every ledger write (a message pushed, replaced or
settled, a miss) calls ``fence`` inside its own transaction, which refuses
unless this manager holds the lease at the term it started with and the
lease has not run out. A push to the node is recorded (with its CID, sender
and nonce) under that fence before it is sent, so a new leader sees it and
follows it instead of sending the same partitions again.

Times are the managers' own clocks (as Lotus' are, they must be kept by
NTP); the lease is seconds long, so a skew of milliseconds does not matter.
The row is locked for the check (``FOR SHARE`` on PostgreSQL; SQLite has
one writer), so a takeover cannot commit between a write's check and its
commit.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from prover.buildinfo import build_info
from prover.store.database import Database, unavailable_on_db_errors, utcnow
from prover.store.errors import StoreUnavailable
from prover.store.models import LeaseRow, ManagerRow

CHAIN = "chain"


class LeaseLost(StoreUnavailable):
    """This manager does not hold the chain lease (any more): the write is
    refused; the leader, whoever it is now, does it."""


@dataclass(frozen=True)
class Leadership:
    """Who leads, as the lease row and the managers table say."""

    holder: str  # "" when nobody ever held it
    term: int
    acquired_at: datetime
    expires_at: datetime
    epoch: int | None = None  # the leader's head at its last renewal
    address: str = ""  # the holder's API, from its managers row
    http: str = ""

    def live(self, now: datetime) -> bool:
        return bool(self.holder) and self.expires_at > now


class ChainLease:
    """One manager's side of the lease: ``step`` (renew or take, and say
    this manager is alive) on a timer, ``fence`` in every ledger write,
    ``release`` on a clean stop so that a standby takes over at once."""

    def __init__(
        self,
        db: Database,
        name: str,
        *,
        ttl_s: float = 10.0,
        address: str = "",
        http: str = "",
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("the lease must last more than 0 seconds")
        self.db = db
        self.name = name
        self.ttl = timedelta(seconds=ttl_s)
        self.address = address
        self.http = http
        self.clock = clock
        self.monotonic = monotonic
        self.started_at = clock()
        # the term held, None on a standby
        self.term: int | None = None
        # the leader's epoch as the last step read it (a standby works at it)
        self.leader_epoch: int | None = None
        # monotonic time until which this manager may act on its term without
        # hearing from the database (a renewal's start + ttl, less a margin)
        self._valid_until = 0.0

    # ---- the leader's loop ------------------------------------------------------

    def holds(self) -> int | None:
        """The term this manager may act on now, or None: a term whose last
        renewal is older than the lease is no longer acted on, even before the
        database says so (it may be unreachable)."""
        if self.term is None or self.monotonic() >= self._valid_until:
            return None
        return self.term

    @unavailable_on_db_errors
    def step(self, epoch: int | None = None) -> int | None:
        """Renews the lease if held, takes it if it ran out, and records that
        this manager is alive; returns the term held after the step. The
        leader's ``epoch`` (its head) is published for the standbys."""
        started = self.monotonic()
        now = self.clock()
        with self.db.transaction() as s:
            self._alive(s, now)
            row = s.exec(select(LeaseRow).where(LeaseRow.name == CHAIN).with_for_update()).one()
            self.leader_epoch = row.epoch
            if row.holder == self.name and row.term == self.term and row.expires_at > now:
                row.expires_at = now + self.ttl
                row.epoch = epoch if epoch is not None else row.epoch
            elif row.expires_at <= now:
                row.holder = self.name
                row.term += 1
                row.acquired_at = now
                row.expires_at = now + self.ttl
                row.epoch = epoch if epoch is not None else row.epoch
                self.term = row.term
            else:
                self.term = None
                return None
            s.add(row)
        # Act on the term only within the ttl from the renewal's start, less
        # a tenth for the time the standby's clock may run ahead.
        self._valid_until = started + self.ttl.total_seconds() * 0.9
        return self.term

    def _alive(self, s: Session, now: datetime) -> None:
        row = s.get(ManagerRow, self.name)
        if row is None:
            row = ManagerRow(
                name=self.name,
                address=self.address,
                http=self.http,
                host=socket.gethostname(),
                pid=os.getpid(),
                version=build_info().short(),
                started_at=self.started_at,
                last_seen_at=now,
            )
        row.address, row.http, row.pid = self.address, self.http, os.getpid()
        # a manager restarted under its name on another release says so
        row.version, row.started_at = build_info().short(), self.started_at
        row.last_seen_at = now
        s.add(row)

    @unavailable_on_db_errors
    def release(self) -> None:
        """Gives the lease up (a clean stop): it expires now, so a standby
        takes it on its next step instead of waiting out the ttl."""
        term, self.term = self.term, None
        if term is None:
            return
        now = self.clock()
        with self.db.transaction() as s:
            row = s.exec(select(LeaseRow).where(LeaseRow.name == CHAIN).with_for_update()).one()
            if row.holder == self.name and row.term == term:
                row.expires_at = now
                s.add(row)

    # ---- the fence -------------------------------------------------------------

    def fence(self, s: Session, *, push: bool = False) -> int:
        """Inside a write's transaction: the term, if this manager holds the
        lease at the term it acts on and the lease has not run out; else
        ``LeaseLost``, which rolls the write back. A push needs half the
        lease left: the message leaves after the commit, and no standby may
        take over before it has."""
        margin_s = self.ttl.total_seconds() / 2 if push else 0.0
        term = self.holds()
        if term is None:
            raise LeaseLost(f"manager {self.name} does not hold the chain lease")
        row = s.exec(
            select(LeaseRow).where(LeaseRow.name == CHAIN).with_for_update(read=True)
        ).one()
        left = (row.expires_at - self.clock()).total_seconds()
        if row.holder != self.name or row.term != term or left <= margin_s:
            raise LeaseLost(
                f"manager {self.name} acts on term {term}, but the chain lease is at term "
                f"{row.term} held by {row.holder or 'nobody'} "
                f"({'expired' if left <= 0 else f'{left:.1f}s left'})"
            )
        return term

    # ---- what operators see ----------------------------------------------------

    @unavailable_on_db_errors
    def leadership(self) -> Leadership:
        with self.db.transaction() as s:
            row = s.exec(select(LeaseRow).where(LeaseRow.name == CHAIN)).one()
            who = s.get(ManagerRow, row.holder) if row.holder else None
        return Leadership(
            row.holder,
            row.term,
            row.acquired_at,
            row.expires_at,
            row.epoch,
            who.address if who else "",
            who.http if who else "",
        )

    @unavailable_on_db_errors
    def managers(self) -> list[ManagerRow]:
        with self.db.transaction() as s:
            return list(s.exec(select(ManagerRow).order_by(col(ManagerRow.name))).all())
