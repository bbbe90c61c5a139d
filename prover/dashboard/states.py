"""What each deadline of a miner's strip shows, from plain facts.

The strip is the last proving period as the store knows it: for each
deadline index its latest occurrence that has closed, or the current one if
it is open (``strip_occurrences``). Its state comes from our own rows (each
partition's newest job, the post messages that carried it, the misses
recorded for it), never from chain reads: at mainnet sizes a refresh would
otherwise be 48 RPC calls per miner.

A partition's outcome, then its deadline's state, in this order:

- a partition is *faulty* when every sector was left out (the planner found
  none of them: a miss with no job) or its message failed on chain; *missed*
  when a miss is recorded for it otherwise (no proof in time); *proven* or
  *partly faulty* when a message carrying it landed, with nothing or some
  sectors (``JobRow.skipped``/``faulty``) left out; *pending* until one of
  these is known.
- a deadline is **current** while it is open, and also just after Close
  until its outcome is in (the tracker settles a deadline ``confidence``
  epochs after Close, when its last message shows on chain: calling it
  missed before then would page people for nothing); **empty** with no
  partitions; **missed** when any partition is; **faulty** when every
  partition is; **partly faulty** when some partition is faulty or partly
  faulty; **proven** otherwise. A partition still pending once the outcome
  is due counts as missed: no proof landed.

Without a chain (no tracker: jobs come by ``prover jobs add`` and nothing is
submitted) a verified proof is as far as a partition goes: a succeeded job
counts as proven, a failed or expired one as missed.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from prover.chain.deadlines import DeadlineInfo, Policy, current_deadline, deadline_info


class DeadlineState(enum.StrEnum):
    CURRENT = "current"
    PROVEN = "proven"
    PARTLY_FAULTY = "partly-faulty"
    FAULTY = "faulty"
    MISSED = "missed"
    EMPTY = "empty"

    @property
    def label(self) -> str:
        return self.value.replace("-", " ")


class PartitionOutcome(enum.StrEnum):
    PROVEN = "proven"
    PARTLY_FAULTY = "partly-faulty"
    FAULTY = "faulty"
    MISSED = "missed"
    PENDING = "pending"

    @property
    def label(self) -> str:
        return self.value.replace("-", " ")


@dataclass(frozen=True)
class PartitionFacts:
    """What the store knows of one partition of one deadline occurrence."""

    partition: int
    job_state: str | None = None  # the newest generation's job; None: no job
    sectors: int = 0
    left_out: int = 0  # skipped (not found when planned) + faulty (found so when proving)
    message_state: str | None = None  # the last post message that carried it
    landed: bool = False  # some post message carrying it landed
    missed: bool = False  # a miss is recorded for it


def partition_outcome(p: PartitionFacts, *, submits: bool = True) -> PartitionOutcome:
    """See the module docstring; ``submits``: proofs go to a chain."""
    if p.missed:
        if p.job_state is None or p.message_state == "failed":
            return PartitionOutcome.FAULTY
        return PartitionOutcome.MISSED
    if submits:
        if p.landed:
            return PartitionOutcome.PARTLY_FAULTY if p.left_out else PartitionOutcome.PROVEN
        if p.message_state == "failed":
            return PartitionOutcome.FAULTY
        return PartitionOutcome.PENDING
    if p.job_state == "succeeded":
        return PartitionOutcome.PARTLY_FAULTY if p.left_out else PartitionOutcome.PROVEN
    if p.job_state in ("failed", "expired"):
        return PartitionOutcome.MISSED
    return PartitionOutcome.PENDING


def deadline_state(
    partitions: Sequence[PartitionFacts],
    *,
    open_now: bool,
    outcome_due: bool,
    submits: bool = True,
) -> DeadlineState:
    """One strip cell. ``open_now``: the deadline is open at the current
    epoch; ``outcome_due``: it closed long enough ago that whatever has not
    landed will not (False without a chain: nothing says when)."""
    if open_now:
        return DeadlineState.CURRENT
    if not partitions:
        return DeadlineState.EMPTY
    outcomes = [partition_outcome(p, submits=submits) for p in partitions]
    if PartitionOutcome.MISSED in outcomes:
        return DeadlineState.MISSED
    if PartitionOutcome.PENDING in outcomes:
        return DeadlineState.MISSED if outcome_due else DeadlineState.CURRENT
    if all(o == PartitionOutcome.FAULTY for o in outcomes):
        return DeadlineState.FAULTY
    if PartitionOutcome.FAULTY in outcomes or PartitionOutcome.PARTLY_FAULTY in outcomes:
        return DeadlineState.PARTLY_FAULTY
    return DeadlineState.PROVEN


# Epochs after Close, on top of the tracker's confidence, before a partition
# that has not landed is called missed: the tracker settles on its next tick.
SETTLE_SLACK_EPOCHS = 2


def outcome_due(close: int, epoch: int, confidence: int) -> bool:
    """Whether a deadline that closed at ``close`` has its outcome in at
    ``epoch``, given the tracker's ``confidence`` (see ``Settler.settle``)."""
    return epoch >= close + max(1, confidence) + SETTLE_SLACK_EPOCHS


def at_epoch(info: DeadlineInfo, epoch: int, policy: Policy | None = None) -> DeadlineInfo:
    """The miner's deadline in progress at ``epoch``, from any deadline of
    it (the tracker reads a miner's deadline once per head; its own epoch
    may have moved on since)."""
    return current_deadline(info.period_start, epoch, policy or info.policy)


def strip_occurrences(current: DeadlineInfo) -> list[DeadlineInfo]:
    """The strip's deadline occurrences, index 0 first: ``current`` and the
    deadlines before it in its period, then the rest from the period
    before (each index's latest occurrence that has closed)."""
    policy = current.policy
    out = []
    for index in range(policy.period_deadlines):
        start = current.period_start
        if index > current.index:
            start -= policy.proving_period
        out.append(deadline_info(start, index, current.current_epoch, policy))
    return out


def next_close(current: DeadlineInfo, index: int) -> int:
    """The epoch of deadline ``index``'s next Close after ``current``'s
    epoch: this period's if it is still to come (or open), else the next's."""
    policy = current.policy
    start = current.period_start
    if index < current.index:
        start += policy.proving_period
    return start + (index + 1) * policy.challenge_window
