"""The chain's current epoch as the manager knows it."""

from __future__ import annotations

from prover.chain.clock import EpochClock


def test_without_chain_or_genesis_the_epoch_is_unknown():
    assert EpochClock().epoch() is None
    assert EpochClock.following_chain().epoch() is None


def test_a_genesis_gives_the_epoch_from_wall_time():
    now = [1_598_306_400 + 3 * 30 + 29.9]
    clock = EpochClock(1_598_306_400, 30, wall=lambda: now[0])
    assert clock.epoch() == 3
    now[0] += 0.1
    assert clock.epoch() == 4


def test_observed_heads_win_over_wall_time_and_may_go_back():
    clock = EpochClock(1_000, 30, wall=lambda: 1_000 + 30 * 100)
    assert clock.epoch() == 100
    clock.observe(95)
    assert clock.epoch() == 95
    clock.observe(94)  # a reorg
    assert clock.epoch() == 94
