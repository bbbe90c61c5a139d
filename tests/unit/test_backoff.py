"""The one retry pause of the package: exponential, capped, reset after a
success, jitter only where asked for and never above the cap."""

from __future__ import annotations

import threading

import pytest

from prover.backoff import Backoff


def _take(b: Backoff, n: int) -> list[float]:
    return [b.next() for _ in range(n)]


def test_it_doubles_up_to_the_cap_and_stays_there():
    assert _take(Backoff(0.5, 10), 8) == [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert _take(Backoff(0.2, 5), 7) == [0.2, 0.4, 0.8, 1.6, 3.2, 5, 5]


def test_delay_says_the_next_pause_without_taking_it():
    b = Backoff(1, 4)
    assert b.delay == 1 and b.delay == 1
    b.next()
    assert b.delay == 2


def test_a_reset_starts_over():
    b = Backoff(1, 60)
    _take(b, 5)
    b.reset()
    assert _take(b, 3) == [1, 2, 4]


def test_another_factor():
    assert _take(Backoff(1, 100, factor=3), 5) == [1, 3, 9, 27, 81]
    assert _take(Backoff(2, 100, factor=1), 3) == [2, 2, 2]


def test_jitter_takes_off_up_to_its_fraction_and_never_passes_the_cap():
    low = Backoff(4, 8, jitter=0.5, rand=lambda: 1.0)
    assert _take(low, 3) == [2, 4, 4]
    high = Backoff(4, 8, jitter=0.5, rand=lambda: 0.0)
    assert _take(high, 3) == [4, 8, 8]
    real = Backoff(1, 8, jitter=0.25)
    for expected in [1, 2, 4, 8, 8]:
        assert 0.75 * expected <= real.next() <= expected


@pytest.mark.parametrize(
    ("first", "cap", "kw"),
    [(-1, 1, {}), (2, 1, {}), (1, 2, {"factor": 0.5}), (1, 2, {"jitter": 1.5})],
)
def test_nonsense_is_refused(first, cap, kw):
    with pytest.raises(ValueError):
        Backoff(first, cap, **kw)


def test_wait_is_cut_short_by_the_event_and_says_so():
    stop = threading.Event()
    b = Backoff(0.01, 0.02)
    assert b.wait(stop) is False
    assert b.delay == 0.02
    stop.set()
    assert b.wait(stop) is True
