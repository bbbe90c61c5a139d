"""The README's figures of the suite (tests in all and per tier) are the
suite's: pytest collects it here, in a process of its own, and each figure
must be within 10% of what it finds. Times are not stated in the README
(pytest prints them at the end of every run, `.ci/run`'s included)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SENTENCE = re.compile(
    r"The suite has about (\d+) tests: (\d+) unit, (\d+) integration and (\d+) e2e"
)
TOLERANCE = 0.10


def readme_figures() -> dict[str, int]:
    text = " ".join((ROOT / "README.md").read_text().split())
    found = SENTENCE.findall(text)
    assert len(found) == 1, "the README states the suite's size in one sentence, once"
    total, unit, integration, e2e = map(int, found[0])
    return {"all": total, "unit": unit, "integration": integration, "e2e": e2e}


def collected() -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    tiers = Counter(i.split("/")[1] for i in ids)
    return {"all": len(ids), **tiers}


def test_the_readme_states_the_suites_size_within_ten_percent():
    stated, real = readme_figures(), collected()
    off = {
        k: (stated[k], real.get(k, 0))
        for k in stated
        if abs(stated[k] - real.get(k, 0)) > TOLERANCE * real.get(k, 0)
    }
    assert not off, f"README figures (stated, collected) more than 10% off: {off}"
