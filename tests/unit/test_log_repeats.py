"""Repeated identical warnings are logged once, then summarised (issue 27,
item 1): a database away for a minute must not write sixty lines a second."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import pytest
import structlog

from prover.logrepeat import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def setup():
    clock, written, summaries = Clock(), [], []
    f = RepeatFilter(lambda m, e: summaries.append((m, dict(e))), clock=clock, timer=False)

    def log(method: str, event: str, **fields) -> None:
        with contextlib.suppress(structlog.DropEvent):
            written.append(f(None, method, {"event": event, **fields}))

    return clock, f, log, written, summaries


def test_a_flood_is_one_line_then_a_count_each_window(setup):
    clock, _, log, written, _ = setup
    for i in range(600):  # 20 a second for 30 s: the delay differs each time
        log("warning", "database_unavailable", error="connection refused", delay=i / 10)
        clock.t += 0.05
    assert [e.get("repeated") for e in written] == [None]
    clock.t += 0.05  # past the window: the next line says how many were held
    log("warning", "database_unavailable", error="connection refused", delay=9.0)
    assert written[-1]["repeated"] == 599 and written[-1]["window_s"] == 30.0


def test_a_changed_error_and_the_recovery_are_logged_at_once(setup):
    clock, _, log, written, summaries = setup
    for _ in range(5):
        log("warning", "database_unavailable", error="connection refused")
    log("warning", "database_unavailable", error="the database system is starting up")
    log("info", "database_available")
    assert [e.get("error", e["event"]) for e in written] == [
        "connection refused",
        "the database system is starting up",
        "database_available",
    ]
    # the run stopped: its summary comes at the next event after a window
    clock.t += 31
    log("info", "sweep", jobs=0)
    assert summaries == [
        (
            "warning",
            {
                "event": "database_unavailable",
                "error": "connection refused",
                "repeated": 4,
                "window_s": 31.0,
            },
        )
    ]


def test_identifiers_keep_events_apart_and_info_is_never_held(setup):
    _, _, log, written, _ = setup
    for deadline in (1, 2, 1, 2):
        log("error", "partition_unprovable", miner=1000, deadline=deadline)
    for _ in range(3):
        log("info", "worker_registered", worker="w1")
    assert [e.get("deadline") for e in written[:2]] == [1, 2]
    assert len(written) == 2 + 3


def test_flush_at_exit_says_what_was_held(setup):
    _, f, log, _, summaries = setup
    for _ in range(3):
        log("warning", "manager_unreachable", call="Register")
    f.flush(everything=True)
    assert [(m, e["repeated"]) for m, e in summaries] == [("warning", 2)]


def test_the_configured_logger_holds_repeats_and_says_so_at_exit():
    code = (
        "from prover.logs import configure_logging, get_logger\n"
        "configure_logging(json=True)\n"
        "log = get_logger('t')\n"
        "for i in range(50):\n"
        "    log.warning('sweep_skipped', error='database unavailable', waited_s=i * 0.1)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line.get("repeated") for line in lines] == [None, 49]
    assert all(line["event"] == "sweep_skipped" and "timestamp" in line for line in lines)
