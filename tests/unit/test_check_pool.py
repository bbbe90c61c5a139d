"""The recovery check pool on its own: bounded parallelism, batches in turn,
a timeout per check, and a bound on the threads checks stuck in a read
(here: waiting on an event never set) can take."""

from __future__ import annotations

import threading
import time

import pytest

from prover.storage.pool import CheckPool


def wait_result(pool: CheckPool, key, timeout: float = 10.0) -> dict[int, str | None]:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if (got := pool.result(key)) is not None:
            return got
        time.sleep(0.01)
    raise AssertionError(f"batch {key} not done after {timeout} s")


class Gated:
    """A check that waits for ``gate`` and records the sectors it ran."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.ran: list[int] = []

    def __call__(self, n: int) -> None:
        self.gate.wait(5)
        self.ran.append(n)


@pytest.fixture
def pools():
    """make(parallelism, timeout_s, **kw) -> a CheckPool closed after the test."""
    made: list[CheckPool] = []

    def make(parallelism: int, timeout_s: float, **kw) -> CheckPool:
        made.append(CheckPool(parallelism, timeout_s, **kw))
        return made[-1]

    yield make
    for pool in made:
        pool.close()


@pytest.fixture
def stuck():
    """An event the hung checks wait on; set at the end so their threads go."""
    never = threading.Event()
    yield never
    never.set()


def test_every_sector_is_answered_with_at_most_parallelism_checks_at_once(pools):
    pool = pools(3, 10.0)
    lock, running, most = threading.Lock(), [0], [0]

    def check(n: int) -> str | None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return None if n % 2 else f"sector {n} unreadable"

    pool.start("a", range(12), check)
    assert pool.result("a") is None  # still checking
    got = wait_result(pool, "a")
    assert got == {n: None if n % 2 else f"sector {n} unreadable" for n in range(12)}
    assert most[0] == 3
    assert pool.result("a") is None and pool.batches() == set()  # handed out once


def test_a_hung_check_times_out_while_another_batch_goes_through(pools, stuck):
    pool = pools(2, 0.5)
    pool.start("hung", [1], lambda n: "unreachable" if stuck.wait() else None)
    time.sleep(0.05)  # the hung check holds a thread
    start = time.monotonic()
    pool.start("fine", [10, 11, 12], lambda n: None)
    assert wait_result(pool, "fine") == {10: None, 11: None, 12: None}
    assert time.monotonic() - start < 0.4  # not behind the hung check's timeout
    assert wait_result(pool, "hung") == {1: "check timed out after 0.5 s"}
    assert pool.hung() == 1
    # its thread was replaced: the pool still runs two checks at once
    both = threading.Barrier(2, timeout=5)

    def together(n: int) -> None:
        both.wait()  # broken (an error) unless two checks run at once

    pool.start("pair", [20, 21], together)
    assert wait_result(pool, "pair") == {20: None, 21: None}


def test_batches_take_turns(pools):
    pool = pools(1, 10.0)
    check = Gated()
    pool.start("big", range(100, 106), check)
    pool.start("small", [1, 2], check)
    check.gate.set()
    wait_result(pool, "big")
    wait_result(pool, "small")
    # the small batch does not wait for the big one's six checks
    assert check.ran.index(2) < check.ran.index(104)


def test_hung_threads_are_bounded_and_checks_fail_at_once_when_none_is_left(pools, stuck):
    pool = pools(2, 0.2, name="bounded")
    pool.start("hung", range(8), lambda n: stuck.wait() and None)
    got = wait_result(pool, "hung")
    # two threads, written off and replaced once each, then written off
    # for good: four checks timed out, the others never ran
    timed_out = {n for n, why in got.items() if why == "check timed out after 0.2 s"}
    assert len(timed_out) == 4
    not_run = set(got) - timed_out
    assert all(got[n].startswith("not checked: 4 checks are stuck") for n in not_run)
    assert pool.hung() == 4  # at most 2 x parallelism threads, ever
    names = {t.name for t in threading.enumerate() if t.name.startswith("bounded-")}
    assert len(names - {"bounded-watchdog"}) == 4

    pool.start("later", [50], lambda n: None)  # nothing can run it: answered at once
    assert wait_result(pool, "later", 1)[50].startswith("not checked")

    stuck.set()  # the storage answers again: the threads come back
    until = time.monotonic() + 5
    while pool.hung() and time.monotonic() < until:
        time.sleep(0.01)
    assert pool.hung() == 0
    pool.start("again", [60, 61], lambda n: None)
    assert wait_result(pool, "again") == {60: None, 61: None}


def test_a_cancelled_batch_runs_no_more_checks(pools):
    pool = pools(1, 10.0)
    check = Gated()
    pool.start("a", range(5), check)
    time.sleep(0.05)
    pool.cancel("a")
    check.gate.set()
    pool.start("b", [9], lambda n: None)
    assert wait_result(pool, "b") == {9: None}
    assert check.ran == [0] and pool.result("a") is None


def test_a_check_that_raises_is_that_sectors_answer(pools):
    pool = pools(1, 10.0)
    pool.start("a", [1], lambda n: 1 // 0)
    assert wait_result(pool, "a")[1].startswith("check failed: ZeroDivisionError")
