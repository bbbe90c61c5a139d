"""structlog set-up shared by every command: key-value events on a terminal,
JSON lines when asked (production), always on stderr so that command output
(tables, ``--json``) stays clean on stdout."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from prover.logrepeat import RepeatFilter

# how the process logs, for the children it spawns (compute children): they
# log like their parent, JSON lines included
LOG_ENV = "PROVER_LOG_FORMAT"


def configure_logging(*, json: bool = False, level: str = "info") -> None:
    os.environ[LOG_ENV] = f"{'json' if json else 'text'}:{level}"
    renderer: list[structlog.typing.Processor]
    if json:
        # the traceback as a string field: without it ``log.exception`` in
        # JSON mode says only ``exc_info: true`` and the cause is lost
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)

    def emit(method: str, event: MutableMapping[str, Any]) -> None:
        """A summary of held-back repeats, through the rest of the chain."""
        line: Any = stamp(None, method, event)
        for step in renderer:
            line = step(None, method, line)
        print(line, file=sys.stderr, flush=True)

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            # repeated identical warnings and errors: once, then "N more"
            RepeatFilter(emit),
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def inherit_logging() -> None:
    """Logs as the parent process was configured to (see ``LOG_ENV``)."""
    form, _, level = os.environ.get(LOG_ENV, "text:info").partition(":")
    configure_logging(json=form == "json", level=level or "info")


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)
