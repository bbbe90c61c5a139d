"""The dashboard's shadow page from plain rows: each deadline turn's cell
from its partitions' outcomes, which turn a cell shows, the strip's length,
the words and margins in a cell's title, and the disagreements table."""

from __future__ import annotations

import pytest

from prover.chain.deadlines import Policy, deadline_info
from prover.dashboard.shadow import (
    Disagreement,
    ShadowState,
    deadline_count,
    disagreements,
    newest_turns,
    shadow_strips,
    since_close,
    turn_state,
)
from prover.dashboard.views import ChainFacts
from prover.store.models import ShadowRow

S = ShadowState
# 8 deadlines of 10 epochs: a period of 80
POLICY = Policy.devnet(challenge_window=10, period_deadlines=8)
MINER = 1000


def row(
    deadline: int = 2,
    partition: int = 0,
    *,
    period: int = 80,
    outcome: str = "",
    ready: int | None = None,
    chain: int | None = None,
    sender: str = "",
    exit_code: int | None = None,
    skipped=(),
    faulty=(),
    miner: int = MINER,
) -> ShadowRow:
    open_ = period + deadline * 10
    return ShadowRow(
        miner=miner,
        period_start=period,
        deadline=deadline,
        partition=partition,
        open_epoch=open_,
        close_epoch=open_ + 10,
        ready_epoch=ready,
        chain_epoch=chain,
        chain_cid=f"bafy-{deadline}-{partition}" if chain is not None else "",
        chain_sender=sender,
        chain_exit_code=exit_code,
        skipped=list(skipped),
        chain_faulty=list(faulty),
        outcome=outcome,
    )


def chain_at(epoch: int = 133, miners=(MINER,)) -> ChainFacts:
    # deadline 5 of the period starting at 80 is open at epoch 133
    info = deadline_info(80, 4, epoch - 6, POLICY)
    return ChainFacts(epoch, list(miners), {m: info for m in miners}, confidence=1)


@pytest.mark.parametrize(
    ("outcomes", "state"),
    [
        ([], S.NONE),
        (["both"], S.BOTH),
        (["both", "both"], S.BOTH),
        (["ours_only"], S.OURS_ONLY),
        (["chain_only"], S.CHAIN_ONLY),
        (["neither"], S.NEITHER),
        # a partition we would have missed outweighs the rest
        (["both", "ours_only", "neither", "chain_only"], S.CHAIN_ONLY),
        (["both", "neither", "ours_only"], S.OURS_ONLY),
        (["both", "neither"], S.NEITHER),
        # not compared yet while any partition is open
        (["", "both"], S.OPEN),
        ([""], S.OPEN),
    ],
)
def test_a_turns_cell_from_its_partitions(outcomes, state):
    rows = [row(partition=p, outcome=o) for p, o in enumerate(outcomes)]
    assert turn_state(rows) == state


def test_every_state_has_its_own_mark_label_and_words():
    marked = [s for s in S if s != S.NONE]
    assert len({s.mark for s in marked}) == len(marked) and all(s.mark for s in marked)
    assert len({s.label for s in S}) == len(S) and all(s.words for s in S)
    assert S.of_outcome("") == S.OPEN and S.of_outcome("chain_only") == S.CHAIN_ONLY
    assert "we would have missed" in S.CHAIN_ONLY.words
    assert "missing" in S.OURS_ONLY.words


def test_a_cell_shows_the_newest_turn_of_its_deadline():
    rows = [
        row(2, 0, period=0, outcome="chain_only"),
        row(2, 0, period=80, outcome="both", ready=105, chain=107),
        row(2, 1, period=80, outcome="both", ready=106, chain=107),
        row(3, 0, period=0, outcome="neither"),
        row(3, 0, period=0, outcome="neither", miner=1001),
    ]
    turns = newest_turns(rows)
    assert {k: [(r.period_start, r.partition) for r in v] for k, v in turns.items()} == {
        (MINER, 2): [(80, 0), (80, 1)],
        (MINER, 3): [(0, 0)],
        (1001, 3): [(0, 0)],
    }


def test_the_strip_follows_the_chains_deadlines_and_marks_the_open_one():
    rows = [
        row(1, outcome="both", ready=93, chain=95, sender="t0101", exit_code=0),
        row(2, outcome="chain_only", chain=107, sender="t0101", exit_code=0),
        row(3, outcome="ours_only", ready=112),
        row(4, outcome="neither"),
        row(5, ready=133),  # open: ready, Close not passed
        row(6, period=0, outcome="both", ready=64, chain=66),
    ]
    (strip,) = shadow_strips(rows, chain_at())
    assert strip.miner == MINER and strip.current is not None and strip.current.index == 5
    assert [c.state for c in strip.cells] == [
        S.NONE, S.BOTH, S.CHAIN_ONLY, S.OURS_ONLY, S.NEITHER, S.OPEN, S.BOTH, S.NONE,
    ]  # fmt: skip
    assert [c.index for c in strip.cells if c.current] == [5]
    assert strip.cells[5].ready and not strip.cells[4].ready
    assert strip.cells[6].period_start == 0 and strip.cells[6].close == 70
    assert strip.counts == {
        "no row": 2, "both": 2, "chain only": 1, "ours only": 1, "neither": 1, "open": 1,
    }  # fmt: skip
    assert strip.partitions == {
        "both": 2, "chain only": 1, "ours only": 1, "neither": 1, "open": 1,
    }  # fmt: skip


def test_a_cells_title_gives_the_margins_the_sender_and_the_exit_code():
    rows = [
        row(1, outcome="both", ready=93, chain=95, sender="t0101", exit_code=0),
        row(2, outcome="chain_only", chain=107, sender="f3abc", exit_code=0),
        row(3, outcome="ours_only", ready=112, chain=114, sender="t0101", exit_code=16),
        row(5, ready=133),
        row(6, period=0, outcome="both", ready=64, chain=61, skipped=[7, 9], faulty=[7, 9, 11]),
        row(7, period=0, outcome="ours_only", ready=71, skipped=[3], faulty=[]),
    ]
    cells = shadow_strips(rows, chain_at())[0].cells
    both = cells[1].title
    assert both.startswith("deadline 1, period 80 (epochs 90-100): both, we would have made it")
    assert "ready at epoch 93, 7 epochs before Close" in both
    assert "2 epochs before the chain's PoSt" in both
    assert "the chain's PoSt at epoch 95 from t0101, exit code 0" in both
    missed = cells[2].title
    assert "we would have missed" in missed and "never ready" in missed
    assert "from f3abc, exit code 0" in missed
    assert "exit code 16" in cells[3].title  # a failed PoSt is shown with its code
    opened = cells[5].title
    assert "open now" in opened and "ready at epoch 133, 7 epochs before Close" in opened
    assert "no PoSt on chain" not in opened  # not compared yet
    late = cells[6].title
    assert "3 epochs after the chain's PoSt" in late
    assert "2 sectors skipped, faulty on chain too" in late
    assert "1 sectors skipped, not all faulty on chain" in cells[7].title
    assert "no PoSt on chain" in cells[7].title
    assert cells[0].title == "deadline 0: no row, nothing recorded"
    assert not shadow_strips([row(5)], chain_at())[0].cells[5].ready  # open, not ready yet
    assert "not ready yet" in shadow_strips([row(5)], chain_at())[0].cells[5].title


def test_the_strips_length_and_miners_with_and_without_a_chain():
    # no chain: the highest index recorded + 1; no row at all: mainnet's 48
    assert deadline_count(MINER, None, [3, 5]) == 6
    assert deadline_count(MINER, None, []) == 48
    assert deadline_count(MINER, chain_at(), [20]) == 8  # the chain's count wins
    (strip,) = shadow_strips([row(5, outcome="both", ready=133)], None)
    assert len(strip.cells) == 6 and strip.current is None
    assert [c.state for c in strip.cells][-1] == S.BOTH
    # the miners the tracker follows show beside those with rows; with no
    # row at all (shadow mode never ran) there is no strip
    strips = shadow_strips([row(1, outcome="both")], chain_at(miners=(MINER, 1001)))
    assert [s.miner for s in strips] == [MINER, 1001]
    assert {c.state for c in strips[1].cells} == {S.NONE} and len(strips[1].cells) == 8
    assert shadow_strips([], chain_at()) == []


def test_the_rows_read_reach_back_two_proving_periods():
    assert since_close(chain_at()) == 133 - 160
    assert since_close(None) is None
    assert since_close(ChainFacts(None, [MINER], {})) is None


def test_the_disagreements_are_the_chain_only_and_ours_only_rows_newest_first():
    rows = [
        row(1, outcome="both", ready=93, chain=95),
        row(2, outcome="chain_only", chain=107, sender="t0101", exit_code=0),
        row(3, 1, outcome="ours_only", ready=112, skipped=[4], faulty=[4, 5]),
        row(3, 0, outcome="ours_only", ready=118, skipped=[4], faulty=[5]),
        row(4, outcome="neither"),
        row(5),
    ]
    got = disagreements(rows)
    assert [(d.row.deadline, d.row.partition, d.state) for d in got] == [
        (3, 0, S.OURS_ONLY),
        (3, 1, S.OURS_ONLY),
        (2, 0, S.CHAIN_ONLY),
    ]
    assert [d.faulty_on_chain for d in got] == [False, True, None]
    assert got[0].margins == "2 epochs before Close" and got[2].margins == ""
    assert got[2].close_margin is None and got[2].chain_margin is None
    assert len(disagreements(rows, limit=1)) == 1
    both = Disagreement(row(1, ready=99, chain=98, outcome="both"))
    assert both.margins == "1 epoch before Close, 1 epoch after the chain's PoSt"
