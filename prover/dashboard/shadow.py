"""The shadow page (``/shadow``), built from ``ShadowRow``s and the chain's
facts without I/O: per miner a strip of its deadlines, each cell the newest
turn of that deadline coloured by what shadow mode found at its Close (we
would have made it, the chain's own proof, both or neither), and the recent
disagreements. ``pages`` does the reading (``ShadowBook.rows``).

A cell's state from its turn's partitions, in this order: **open** while
any partition is not compared yet (Close not passed, or not settled yet);
**chain only** when the existing system proved a partition we would have
missed; **ours only** when we were ready for one the chain has no PoSt
for; **neither** when some partition was proven by neither; **both**
otherwise; **no row** when shadow mode recorded nothing for that deadline.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prover.chain.deadlines import MAINNET, DeadlineInfo
from prover.dashboard.states import at_epoch
from prover.dashboard.views import ChainFacts
from prover.store.models import ShadowRow

DISAGREEMENTS = ("chain_only", "ours_only")


class ShadowState(enum.StrEnum):
    BOTH = "both"
    OURS_ONLY = "ours_only"
    CHAIN_ONLY = "chain_only"
    NEITHER = "neither"
    OPEN = "open"
    NONE = "none"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def words(self) -> str:
        """What the state means, for the legend and a cell's title."""
        return _WORDS[self]

    @property
    def mark(self) -> str:
        """Beside the colour, for who cannot tell the colours apart."""
        return _MARKS[self]

    @classmethod
    def of_outcome(cls, outcome: str) -> ShadowState:
        """A row's ``outcome`` ("" until its Close is compared)."""
        return cls(outcome) if outcome else cls.OPEN


_LABELS = {
    ShadowState.BOTH: "both",
    ShadowState.OURS_ONLY: "ours only",
    ShadowState.CHAIN_ONLY: "chain only",
    ShadowState.NEITHER: "neither",
    ShadowState.OPEN: "open",
    ShadowState.NONE: "no row",
}
_WORDS = {
    ShadowState.BOTH: "we would have made it, and so did the chain's own proof",
    ShadowState.OURS_ONLY: "we would have made it; the chain's own proof is missing",
    ShadowState.CHAIN_ONLY: "we would have missed; the chain's own proof landed",
    ShadowState.NEITHER: "missed by both",
    ShadowState.OPEN: "not compared yet (at Close)",
    ShadowState.NONE: "nothing recorded",
}
_MARKS = {
    ShadowState.BOTH: "\u2713",  # a check mark
    ShadowState.OURS_ONLY: "+",  # ours, on top of what the chain has
    ShadowState.CHAIN_ONLY: "\u2717",  # a cross: we would have missed
    ShadowState.NEITHER: "\u2205",  # an empty set: no proof at all
    ShadowState.OPEN: "\u25b8",  # a small triangle: under way
    ShadowState.NONE: "",
}
# a cell's state from its partitions' (settled) states, the first found
_PRECEDENCE = (
    ShadowState.CHAIN_ONLY,
    ShadowState.OURS_ONLY,
    ShadowState.NEITHER,
    ShadowState.BOTH,
)


def turn_state(rows: Iterable[ShadowRow]) -> ShadowState:
    """One deadline turn's cell from its partitions' rows (module docstring)."""
    states = {ShadowState.of_outcome(r.outcome) for r in rows}
    if not states:
        return ShadowState.NONE
    if ShadowState.OPEN in states:
        return ShadowState.OPEN
    for s in _PRECEDENCE:
        if s in states:
            return s
    return ShadowState.NONE  # not reached: every outcome is one of the above


def _epochs(n: int, what: str) -> str:
    unit = "epoch" if abs(n) == 1 else "epochs"
    return f"{n} {unit} before {what}" if n >= 0 else f"{-n} {unit} after {what}"


def close_margin(row: ShadowRow) -> int | None:
    """Epochs our proof was ready before Close (None: never ready)."""
    return None if row.ready_epoch is None else row.close_epoch - row.ready_epoch


def chain_margin(row: ShadowRow) -> int | None:
    """Epochs our proof was ready before the chain's PoSt (negative: after)."""
    if row.ready_epoch is None or row.chain_epoch is None:
        return None
    return row.chain_epoch - row.ready_epoch


def skipped_faulty_on_chain(row: ShadowRow) -> bool | None:
    """Whether the chain counts faulty every sector our proof skipped
    (None: nothing skipped)."""
    if not row.skipped:
        return None
    return set(row.skipped) <= set(row.chain_faulty)


def partition_note(row: ShadowRow) -> str:
    """One partition in words, with the margins an SP weighs."""
    state = ShadowState.of_outcome(row.outcome)
    notes = []
    if row.ready_epoch is not None:
        notes.append(f"ready at epoch {row.ready_epoch}, {_epochs(close_margin(row), 'Close')}")
        ahead = chain_margin(row)
        if ahead is not None:
            notes.append(_epochs(ahead, "the chain's PoSt"))
    else:
        notes.append("not ready yet" if state == ShadowState.OPEN else "never ready")
    if row.chain_epoch is not None:
        notes.append(
            f"the chain's PoSt at epoch {row.chain_epoch} from {row.chain_sender or 'unknown'}"
            f", exit code {row.chain_exit_code}"
        )
    elif state != ShadowState.OPEN:
        notes.append("no PoSt on chain")
    agree = skipped_faulty_on_chain(row)
    if agree is not None:
        notes.append(
            f"{len(row.skipped)} sectors skipped, "
            + ("faulty on chain too" if agree else "not all faulty on chain")
        )
    return f"partition {row.partition} ({state.label}): " + "; ".join(notes)


@dataclass(frozen=True)
class ShadowCell:
    """One deadline of a miner's shadow strip: its newest turn."""

    index: int
    state: ShadowState
    rows: tuple[ShadowRow, ...] = ()
    current: bool = False  # the deadline open now (with a chain)

    @property
    def period_start(self) -> int | None:
        return self.rows[0].period_start if self.rows else None

    @property
    def close(self) -> int | None:
        return self.rows[0].close_epoch if self.rows else None

    @property
    def ready(self) -> bool:
        """Every partition's proof would have gone (it has rows)."""
        return bool(self.rows) and all(r.ready_epoch is not None for r in self.rows)

    @property
    def title(self) -> str:
        head = f"deadline {self.index}"
        if self.rows:
            r = self.rows[0]
            head += f", period {r.period_start} (epochs {r.open_epoch}-{r.close_epoch})"
        head += f": {self.state.label}, {self.state.words}"
        if self.current:
            head += "; open now"
        return "; ".join([head, *(partition_note(r) for r in self.rows)])


@dataclass(frozen=True)
class ShadowStrip:
    miner: int
    cells: list[ShadowCell]
    current: DeadlineInfo | None = None
    counts: Mapping[str, int] = field(default_factory=dict)  # cells by state label
    partitions: Mapping[str, int] = field(default_factory=dict)  # partitions by state label


def newest_turns(rows: Iterable[ShadowRow]) -> dict[tuple[int, int], tuple[ShadowRow, ...]]:
    """Each (miner, deadline)'s newest turn (the latest period) recorded,
    its rows by partition."""
    turns: dict[tuple[int, int, int], list[ShadowRow]] = defaultdict(list)
    for r in rows:
        turns[(r.miner, r.deadline, r.period_start)].append(r)
    newest: dict[tuple[int, int], int] = {}
    for miner, deadline, period in turns:
        if period > newest.get((miner, deadline), period - 1):
            newest[(miner, deadline)] = period
    return {
        key: tuple(sorted(turns[(*key, period)], key=lambda r: r.partition))
        for key, period in newest.items()
    }


def deadline_count(miner: int, chain: ChainFacts | None, seen: Iterable[int]) -> int:
    """The strip's length: the chain's deadlines per period when the
    tracker read this miner's, else the highest index recorded + 1, else
    mainnet's 48."""
    if chain is not None and miner in chain.heads:
        return chain.heads[miner].policy.period_deadlines
    seen = list(seen)
    return max(seen) + 1 if seen else MAINNET.period_deadlines


def since_close(chain: ChainFacts | None) -> int | None:
    """The oldest Close the strips need: two proving periods back from the
    chain's epoch (each deadline's newest turn, with a period to spare for
    one shadow mode slept through); None: no bound (no chain)."""
    if chain is None or chain.epoch is None or not chain.heads:
        return None
    period = max(h.policy.proving_period for h in chain.heads.values())
    return chain.epoch - 2 * period


def shadow_strips(rows: Iterable[ShadowRow], chain: ChainFacts | None) -> list[ShadowStrip]:
    """Each miner's strip: those with rows, and with any row at all the
    miners the tracker follows (a miner not proven yet shows empty)."""
    turns = newest_turns(rows)
    by_miner: dict[int, dict[int, tuple[ShadowRow, ...]]] = defaultdict(dict)
    for (miner, deadline), turn in turns.items():
        by_miner[miner][deadline] = turn
    miners = set(by_miner)
    if miners and chain is not None:
        miners |= set(chain.miners)
    out = []
    for miner in sorted(miners):
        seen = by_miner.get(miner, {})
        current = None
        if chain is not None and chain.epoch is not None and miner in chain.heads:
            current = at_epoch(chain.heads[miner], chain.epoch)
        cells = []
        for index in range(deadline_count(miner, chain, seen)):
            turn = seen.get(index, ())
            is_current = current is not None and current.index == index
            cells.append(ShadowCell(index, turn_state(turn), turn, current=is_current))
        partitions: dict[str, int] = defaultdict(int)
        for c in cells:
            for r in c.rows:
                partitions[ShadowState.of_outcome(r.outcome).label] += 1
        counts: dict[str, int] = defaultdict(int)
        for c in cells:
            counts[c.state.label] += 1
        out.append(ShadowStrip(miner, cells, current, dict(counts), dict(partitions)))
    return out


@dataclass(frozen=True)
class Disagreement:
    """A partition where we and the chain's own proof differ."""

    row: ShadowRow

    @property
    def state(self) -> ShadowState:
        return ShadowState.of_outcome(self.row.outcome)

    @property
    def close_margin(self) -> int | None:
        return close_margin(self.row)

    @property
    def chain_margin(self) -> int | None:
        return chain_margin(self.row)

    @property
    def faulty_on_chain(self) -> bool | None:
        return skipped_faulty_on_chain(self.row)

    @property
    def margins(self) -> str:
        """Our readiness before Close and before the chain's PoSt, in words."""
        out = []
        if self.close_margin is not None:
            out.append(_epochs(self.close_margin, "Close"))
        if self.chain_margin is not None:
            out.append(_epochs(self.chain_margin, "the chain's PoSt"))
        return ", ".join(out)


def disagreements(rows: Sequence[ShadowRow], limit: int = 50) -> list[Disagreement]:
    """The chain-only and ours-only rows, newest Close first."""
    picked = [r for r in rows if r.outcome in DISAGREEMENTS]
    picked.sort(key=lambda r: (-r.close_epoch, r.miner, r.deadline, r.partition))
    return [Disagreement(r) for r in picked[:limit]]
