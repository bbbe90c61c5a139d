"""What one check says, how a list of them is run, and how the verdict is
printed.

A check is a small function that returns ``Check(name, status, detail,
fix)``: ``ok``, ``warn`` (works, but not as it should: a cpu build on a
GPU host, an admin token on a worker), ``fail`` (this host will lose
deadlines or not start) or ``skip`` (not checked here, and why: the detail
says how to check it instead). Only ``fail`` makes ``prover doctor`` exit 1.

The runner never lets one check's exception end the run: an operator who
runs the doctor on a broken host needs every other line too, so a check
that raises is reported as a ``fail`` naming the exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

OK = "ok"
WARN = "warn"
FAIL = "fail"
SKIP = "skip"
STATUSES = (OK, WARN, FAIL, SKIP)


@dataclass(frozen=True)
class Check:
    """One verdict: ``detail`` says what was found, ``fix`` what to do
    (empty when there is nothing to do)."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def ok(name: str, detail: str) -> Check:
    return Check(name, OK, detail)


def warn(name: str, detail: str, fix: str) -> Check:
    return Check(name, WARN, detail, fix)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, FAIL, detail, fix)


def skip(name: str, detail: str, fix: str = "") -> Check:
    return Check(name, SKIP, detail, fix)


#: A check to run: called with nothing, it returns one verdict or several
#: (one per manager address, one per storage path, ...).
Probe = Callable[[], Check | Iterable[Check]]


def run_probes(probes: Iterable[tuple[str, Probe]]) -> list[Check]:
    """Runs each probe in turn; one that raises becomes a ``fail`` under its
    name, so the rest still run."""
    out: list[Check] = []
    for name, probe in probes:
        try:
            result = probe()
        except Exception as exc:  # a doctor must report, never crash
            out.append(
                fail(
                    name,
                    f"the check itself failed: {type(exc).__name__}: {exc}",
                    "run `prover doctor --json` and report it with the output",
                )
            )
            continue
        out.extend([result] if isinstance(result, Check) else result)
    return out


@dataclass
class Report:
    """Every verdict for one host and role, with how the role was found."""

    role: str
    how: str  # how the role was chosen ("--role", "the config's shape", ...)
    config: str  # the config file read ("" when none)
    build: str  # this installation, prover.buildinfo's describe()
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(c.status == FAIL for c in self.checks)

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.checks) for s in STATUSES}

    def as_dict(self) -> dict:
        return {
            "role": self.role,
            "role_from": self.how,
            "config": self.config,
            "build": self.build,
            "ok": self.ok,
            "counts": self.counts(),
            "seconds": round(self.seconds, 3),
            "checks": [c.as_dict() for c in self.checks],
        }

    def render(self) -> str:
        """The text form: one line a check, its fix under it."""
        config = f", {self.config}" if self.config else ""
        lines = [f"prover doctor: {self.role} ({self.how}{config}); prover {self.build}"]
        width = max((len(c.name) for c in self.checks), default=0)
        for c in self.checks:
            mark = c.status.upper() if c.status in (FAIL, WARN) else c.status
            lines.append(f"  {mark:<4}  {c.name:<{width}}  {c.detail}")
            if c.fix and c.status != OK:
                lines.append(f"  {'':<4}  {'':<{width}}  -> {c.fix}")
        n = self.counts()
        lines.append(
            f"{n[FAIL]} failed, {n[WARN]} warnings, {n[OK]} ok, {n[SKIP]} skipped "
            f"({self.seconds:.2f} s)"
        )
        return "\n".join(lines)


class Stopwatch:
    """Seconds since it was made (the report's run time)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()

    def seconds(self) -> float:
        return self._clock() - self._start
