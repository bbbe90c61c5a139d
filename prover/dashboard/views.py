"""What the pages show, built from the store's rows and the chain's facts
without I/O: the strip of each miner, a deadline's partitions, the workers.
``pages`` does the reading and the rendering."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prover.chain.deadlines import MAINNET, DeadlineInfo, deadline_info
from prover.chain.message import fil
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
from prover.store.overview import DeadlineRange, JobLine, MessageLine, MissLine

Key = tuple[int, int, int]  # (miner, period start, deadline)


@dataclass(frozen=True)
class ChainFacts:
    """What the tracker knows of the chain: its head, and each configured
    miner's deadline as last read (absent until the first read). On a
    standby, which runs no tracker, the same view of the leader's chain:
    the epoch the leader published with its lease, each miner's deadline as
    the standby read it (``prover.manager.standby``)."""

    epoch: int | None
    miners: Sequence[int]
    heads: Mapping[int, DeadlineInfo]
    confidence: int = 2
    # shadow mode: nothing is sent, so a deadline reads proven when its
    # proofs were (the chain's own PoSts are on /shadow)
    shadow: bool = False
    # None: this manager's own tracker gave these facts. On a standby: the
    # leader whose epoch this is, by name ("" while none holds a live lease)
    leader: str | None = None


def human_seconds(seconds: float) -> str:
    """A duration for people: "40 s", "12 min", "3 h 5 min"."""
    s = max(0, round(seconds))
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


def fee_text(atto: str | None) -> str:
    return fil(int(atto)) if atto else ""


def ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return ""
    return human_seconds((now - then).total_seconds()) + " ago"


@dataclass(frozen=True)
class Rows:
    """The rows of some deadline occurrences, grouped by (miner, period
    start, deadline): newest generation's job per partition, post messages
    in push order, misses by partition."""

    jobs: Mapping[Key, Mapping[int, JobLine]]
    posts: Mapping[Key, Sequence[MessageLine]]
    misses: Mapping[Key, Mapping[int, MissLine]]

    @classmethod
    def of(
        cls,
        jobs: Iterable[JobLine],
        posts: Iterable[MessageLine] = (),
        misses: Iterable[MissLine] = (),
    ) -> Rows:
        by_job: dict[Key, dict[int, JobLine]] = defaultdict(dict)
        for j in sorted(jobs, key=lambda j: j.generation):  # the newest generation wins
            by_job[(j.miner, j.period_start, j.deadline)][j.partition] = j
        by_post: dict[Key, list[MessageLine]] = defaultdict(list)
        for m in posts:
            by_post[(m.miner, m.period_start, m.deadline)].append(m)
        by_miss: dict[Key, dict[int, MissLine]] = defaultdict(dict)
        for x in misses:
            by_miss[(x.miner, x.period_start, x.deadline)][x.partition] = x
        return cls(by_job, by_post, by_miss)

    def partitions(self, key: Key) -> list[PartitionFacts]:
        jobs = self.jobs.get(key, {})
        posts = self.posts.get(key, ())
        misses = self.misses.get(key, {})
        out = []
        for p in sorted(set(jobs) | set(misses)):
            job, miss = jobs.get(p), misses.get(p)
            carrying = [m for m in posts if p in m.partitions]
            out.append(
                PartitionFacts(
                    partition=p,
                    job_state=job.state if job else None,
                    sectors=job.sector_count if job else (miss.sector_count if miss else 0),
                    left_out=(job.skipped_count + job.faulty_count) if job else 0,
                    message_state=carrying[-1].state if carrying else None,
                    landed=any(m.state == "landed" for m in carrying),
                    missed=miss is not None,
                )
            )
        return out


@dataclass(frozen=True)
class Cell:
    """One deadline of a strip."""

    index: int
    state: DeadlineState
    period_start: int | None = None
    partitions: int = 0
    proven: int = 0
    sectors: int = 0
    open: int | None = None
    close: int | None = None
    next_close_in: str = ""

    @property
    def title(self) -> str:
        parts = [f"deadline {self.index}: {self.state.label}"]
        if self.partitions:
            parts.append(f"{self.proven}/{self.partitions} partitions proven")
            parts.append(f"{self.sectors} sectors")
        elif self.state == DeadlineState.EMPTY:
            parts.append("no partitions recorded")
        if self.open is not None:
            parts.append(f"epochs {self.open}-{self.close}")
        if self.next_close_in:
            parts.append(f"next Close in {self.next_close_in}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Strip:
    miner: int
    cells: list[Cell]
    current: DeadlineInfo | None = None
    close_in: str = ""  # time to the current deadline's Close
    note: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)


def _cell(key: Key, rows: Rows, state: DeadlineState, *, submits: bool = True, **epochs) -> Cell:
    facts = rows.partitions(key)
    outcomes = [partition_outcome(p, submits=submits) for p in facts]
    proven = sum(o in (PartitionOutcome.PROVEN, PartitionOutcome.PARTLY_FAULTY) for o in outcomes)
    return Cell(
        index=key[2],
        state=state,
        period_start=key[1],
        partitions=len(facts),
        proven=proven,
        sectors=sum(p.sectors for p in facts),
        **epochs,
    )


def chain_ranges(chain: ChainFacts) -> list[DeadlineRange]:
    """The deadline ranges of every miner's strip (two per miner: this
    period up to the current deadline, the previous one after it)."""
    out = []
    for miner in chain.miners:
        head = chain.heads.get(miner)
        if head is None or chain.epoch is None:
            continue
        cur = at_epoch(head, chain.epoch)
        period = cur.policy.proving_period
        out.append(DeadlineRange(miner, cur.period_start, 0, cur.index))
        if cur.index + 1 < cur.policy.period_deadlines:
            last = cur.policy.period_deadlines - 1
            out.append(DeadlineRange(miner, cur.period_start - period, cur.index + 1, last))
    return out


def chain_strips(chain: ChainFacts, rows: Rows) -> list[Strip]:
    """Each configured miner's strip at the chain's epoch."""
    out = []
    for miner in chain.miners:
        head = chain.heads.get(miner)
        if head is None or chain.epoch is None:
            out.append(Strip(miner, [], note="its deadlines are not read from the chain yet"))
            continue
        cur = at_epoch(head, chain.epoch)
        secs = cur.policy.epoch_seconds
        cells = []
        for d in strip_occurrences(cur):
            key = (miner, d.period_start, d.index)
            state = deadline_state(
                rows.partitions(key),
                open_now=d.index == cur.index,
                outcome_due=outcome_due(d.close, chain.epoch, chain.confidence),
                submits=not chain.shadow,
            )
            close_in = human_seconds((next_close(cur, d.index) - chain.epoch) * secs)
            cells.append(
                _cell(
                    key,
                    rows,
                    state,
                    submits=not chain.shadow,
                    open=d.open,
                    close=d.close,
                    next_close_in=close_in,
                )
            )
        out.append(
            Strip(
                miner,
                cells,
                note="shadow mode: proven means our proofs were ready (nothing is sent); "
                "the chain's own PoSts are compared on the shadow page"
                if chain.shadow
                else "",
                current=cur,
                close_in=human_seconds((cur.close - chain.epoch) * secs),
                counts=_counts(cells),
            )
        )
    return out


def store_strips(rows: Rows) -> list[Strip]:
    """Without a chain: each miner in the store, each deadline's latest
    period there; nothing is open (no epoch), nothing is submitted."""
    by_miner: dict[int, dict[int, Key]] = defaultdict(dict)
    for key in rows.jobs:
        by_miner[key[0]][key[2]] = key
    out = []
    for miner, keys in sorted(by_miner.items()):
        count = max(MAINNET.period_deadlines, max(keys) + 1)
        cells = []
        for index in range(count):
            key = keys.get(index)
            if key is None:
                cells.append(Cell(index, DeadlineState.EMPTY))
                continue
            state = deadline_state(
                rows.partitions(key), open_now=False, outcome_due=False, submits=False
            )
            cells.append(_cell(key, rows, state, submits=False))
        out.append(Strip(miner, cells, counts=_counts(cells)))
    return out


def _counts(cells: Sequence[Cell]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for c in cells:
        counts[c.state.label] += 1
    return dict(counts)


@dataclass(frozen=True)
class PartitionRow:
    """One partition on a deadline's page."""

    partition: int
    outcome: PartitionOutcome
    job: JobLine | None
    generations: int
    message: MessageLine | None
    miss: MissLine | None

    @property
    def fee(self) -> str:
        return fee_text(self.message.fee_paid) if self.message else ""


@dataclass(frozen=True)
class DeadlinePage:
    miner: int
    index: int
    period_start: int
    state: DeadlineState
    partitions: list[PartitionRow]
    messages: list[MessageLine]
    info: DeadlineInfo | None = None  # with a chain: its epochs
    close_in: str = ""


def deadline_page(
    miner: int,
    index: int,
    period_start: int,
    jobs: Sequence[JobLine],
    messages: Sequence[MessageLine],
    misses: Sequence[MissLine],
    *,
    chain: ChainFacts | None,
) -> DeadlinePage:
    """One deadline occurrence: its state as on the strip, each partition's
    newest job, the last post message that carried it and its miss."""
    posts = [m for m in messages if m.kind == "post"]
    rows = Rows.of(jobs, posts, misses)
    key = (miner, period_start, index)
    facts = rows.partitions(key)
    generations: dict[int, int] = defaultdict(int)
    for j in jobs:
        generations[j.partition] += 1
    info, close_in = None, ""
    submits = chain is not None and not chain.shadow
    open_now = due = False
    if chain is not None and chain.epoch is not None and miner in chain.heads:
        cur = at_epoch(chain.heads[miner], chain.epoch)
        info = deadline_info(period_start, index, chain.epoch, cur.policy)
        open_now = info.is_open()
        due = outcome_due(info.close, chain.epoch, chain.confidence)
        if not info.has_elapsed():
            close_in = human_seconds(info.seconds_until_close())
    state = deadline_state(facts, open_now=open_now, outcome_due=due, submits=submits)
    out = []
    for p in facts:
        carrying = [m for m in posts if p.partition in m.partitions]
        out.append(
            PartitionRow(
                partition=p.partition,
                outcome=partition_outcome(p, submits=submits),
                job=rows.jobs.get(key, {}).get(p.partition),
                generations=generations.get(p.partition, 0),
                message=carrying[-1] if carrying else None,
                miss=rows.misses.get(key, {}).get(p.partition),
            )
        )
    return DeadlinePage(miner, index, period_start, state, out, list(messages), info, close_in)
