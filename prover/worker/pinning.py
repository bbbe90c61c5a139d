"""Pinning a worker to its GPU and CPUs before anything loads the proofs
library (which reads its environment once, at first use).

One process per GPU, as Lotus and damocles run them: with ``--gpu N`` the
compute sees only that device (``CUDA_VISIBLE_DEVICES=N``) and gets a TMPDIR
of its own, because bellperson keeps its GPU lock files there. With
``--cpuset`` the process and its children run on those CPUs, within what a
cgroup (systemd's CPUAffinity/AllowedCPUs) already allows.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path


def parse_cpuset(spec: str) -> set[int]:
    """``"0-3,8,10-11"`` -> {0, 1, 2, 3, 8, 10, 11}."""
    cpus: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"bad cpuset {spec!r}: use a list like 0-3,8")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ValueError(f"bad cpuset {spec!r}: {part} runs backwards")
        cpus.update(range(first, last + 1))
    if not cpus:
        raise ValueError(f"bad cpuset {spec!r}: empty")
    return cpus


@dataclass(frozen=True)
class Pinning:
    gpu: int | None
    cpus: frozenset[int]
    tmpdir: Path
    # the TMPDIR is this process's alone (a CPU worker's, named by its pid):
    # removed when it stops, else every restart leaves one behind. A GPU's
    # (prover-gpuN) is kept: the next process on that GPU takes it over.
    per_process: bool = False

    def release(self) -> None:
        """Removes a per-process TMPDIR once the worker and its compute
        children have stopped."""
        if self.per_process:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def apply_pinning(gpu: int | None, cpuset: str, tmpdir: Path | None) -> Pinning:
    allowed = os.sched_getaffinity(0)  # what the cgroup / parent already allows
    cpus = set(allowed)
    if cpuset:
        wanted = parse_cpuset(cpuset)
        cpus = wanted & allowed
        if not cpus:
            raise ValueError(
                f"cpuset {cpuset} has no CPU this process may use (allowed: {sorted(allowed)})"
            )
        os.sched_setaffinity(0, cpus)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    base = tmpdir or Path(os.environ.get("TMPDIR", "/tmp"))
    own = base / (f"prover-gpu{gpu}" if gpu is not None else f"prover-cpu-{os.getpid()}")
    own.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(own)
    return Pinning(gpu, frozenset(cpus), own, per_process=gpu is None)
