"""Deadline math over mainnet constants and shrunken devnet windows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prover.chain.deadlines import MAINNET, Policy, current_deadline, deadline_info


def test_mainnet_constants():
    assert MAINNET.proving_period == 2880
    assert (MAINNET.challenge_window, MAINNET.period_deadlines) == (60, 48)
    assert (MAINNET.challenge_lookback, MAINNET.fault_declaration_cutoff) == (20, 70)


def test_deadline_fields_on_mainnet():
    d = deadline_info(period_start=1000, index=3, current_epoch=1180)
    assert (d.open, d.close, d.challenge, d.fault_cutoff) == (1180, 1240, 1160, 1110)
    assert d.is_open() and not d.has_elapsed() and d.last == 1239
    assert d.seconds_until_close() == 60 * 30


@pytest.mark.parametrize(
    ("epoch", "is_open", "elapsed"),
    [(1179, False, False), (1180, True, False), (1239, True, False), (1240, False, True)],
)
def test_open_and_elapsed_boundaries(epoch, is_open, elapsed):
    d = deadline_info(1000, 3, epoch)
    assert (d.is_open(), d.has_elapsed()) == (is_open, elapsed)


def test_next_wraps_into_the_next_period():
    last = deadline_info(0, 47, 2830)
    nxt = last.next()
    assert (nxt.period_start, nxt.index, nxt.open) == (2880, 0, 2880)
    assert deadline_info(0, 5, 0).next().index == 6


def test_devnet_period_passes_in_eight_minutes():
    p = Policy.devnet()
    assert p.proving_period == 480 and p.proving_period * p.epoch_seconds == 8 * 60
    d = deadline_info(0, 2, 17, p)
    assert (d.open, d.close, d.challenge, d.fault_cutoff) == (20, 30, 17, 15)
    assert d.challenge_reached() and not d.challenge_reached(confidence=1)


def test_bad_policy_and_index_are_refused():
    with pytest.raises(ValueError):
        deadline_info(0, 48, 0)
    with pytest.raises(ValueError):
        Policy.devnet(challenge_window=0)


def test_current_deadline_from_the_period_offset():
    d = current_deadline(proving_period_offset=1234, current_epoch=1234 + 5 * 2880 + 125)
    assert (d.period_start, d.index) == (1234 + 5 * 2880, 2)
    early = current_deadline(1234, 100)  # before the first full period at the offset
    assert early.period_start == 1234 - 2880 and early.index == (100 - early.period_start) // 60


@given(st.integers(0, 2879), st.integers(0, 10**7), st.sampled_from([MAINNET, Policy.devnet()]))
def test_current_deadline_is_always_the_open_one(offset, epoch, policy):
    d = current_deadline(offset, epoch, policy)
    assert d.is_open()
    assert (d.period_start - offset) % policy.proving_period == 0
    assert d.open <= epoch < d.close
