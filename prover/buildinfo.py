"""What this installation of prover is: its version, the commit it was built
from, and which build of the proof core it carries (cpu, cuda or supraseal).

Every process reports it (start lines, ``prover --version``, ``prover
workers list``, the dashboard's Managers section) so that an operator
upgrading a fleet host by host can see which host runs what.

Where it comes from, in order:

- a wheel made by ``.ci/wheels`` carries ``prover/_build.json``, written into
  the copy of the tree the wheel is built from (commit, build, CUDA version);
  the GPU builds are ``cuda`` (bellperson's kernels, ``prover-cuda``) and
  ``supraseal`` (SupraSeal's C2 kernels for Groth16, ``prover-supraseal``);
- a checkout (``pip install -e .``) has no such file: the commit is read from
  git at the moment of asking (``-dirty`` when the tree has changes), and the
  build is asked of the native module.

It never loads the native module when the record says which build it is: a
GPU build on a host without the NVIDIA driver cannot be loaded at all, and
``prover --version`` and ``prover doctor`` must still answer there.
"""

from __future__ import annotations

import functools
import json
import subprocess
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from prover import __version__

#: The worker and storage APIs this release speaks, as a number that grows
#: by one whenever a release adds to them (release 0.1.0 sent none: 1;
#: 0.2.0: 2; 3: refusals carry a reason, heartbeats a GPU fallback).
#: A manager serves every client from MIN_CLIENT_API on.
API_VERSION = 3
MIN_CLIENT_API = 1

#: The oldest Linux driver each CUDA toolkit's code runs on (NVIDIA's CUDA
#: Toolkit release notes, "CUDA Toolkit and Corresponding Driver Versions").
#: The CUDA wheel is built with the toolkit named in its record.
CUDA_MIN_DRIVER = {
    "12.0": "525.60.13",
    "12.4": "550.54.14",
    "12.8": "570.26",
    "13.0": "580.65.06",
}

RECORD = "_build.json"

#: The builds that link the NVIDIA driver and carry CUDA kernels: ``cuda``
#: (bellperson's, falling back to the CPU without a usable GPU) and
#: ``supraseal`` (SupraSeal's C2 for every Groth16 proof, no CPU fallback).
GPU_BUILDS = ("cuda", "supraseal")


@dataclass(frozen=True)
class BuildInfo:
    version: str
    commit: str  # short hash, "-dirty" when built from a changed tree; "" when unknown
    build: str  # "cpu", "cuda" or "supraseal"; "unknown" when the native module cannot say
    cuda: str = ""  # the CUDA toolkit version of a GPU build
    source: str = "checkout"  # "wheel" (a record) or "checkout" (asked live)

    @property
    def gpu(self) -> bool:
        """A GPU build (cuda or supraseal): it needs the NVIDIA driver."""
        return self.build in GPU_BUILDS

    @property
    def driver_required(self) -> str:
        """The oldest NVIDIA driver a GPU build runs on ("" for cpu)."""
        if not self.gpu:
            return ""
        return CUDA_MIN_DRIVER.get(self.cuda, "")

    def describe(self) -> str:
        """One line: ``0.2.0 (73e2e59, cuda, CUDA 13.0: driver >= 580.65.06)``
        (``supraseal`` in place of ``cuda`` for the SupraSeal build)."""
        parts = [self.commit or "commit unknown", self.build]
        if self.gpu:
            need = self.driver_required
            cuda = f"CUDA {self.cuda}" if self.cuda else "CUDA"
            parts.append(f"{cuda}: driver >= {need}" if need else cuda)
        return f"{self.version} ({', '.join(parts)})"

    def short(self) -> str:
        """What goes in a version column: ``0.2.0+73e2e59``."""
        return f"{self.version}+{self.commit}" if self.commit else self.version

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "driver_required": self.driver_required}


def _record() -> dict | None:
    try:
        text = resources.files("prover").joinpath(RECORD).read_text()
    except (FileNotFoundError, OSError):
        return None
    return json.loads(text)


def _git(where: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=5, check=True
    ).stdout.strip()


def _git_commit(where: Path) -> str:
    try:
        head = _git(where, "rev-parse", "--short=7", "HEAD")
        dirty = _git(where, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{head}-dirty" if dirty else head


def _native_build() -> tuple[str, str]:
    from prover.proofs.native import load

    try:
        _native = load()
    except ImportError as exc:
        # a GPU build without its driver cannot be loaded at all; which of
        # the two it is, only a wheel's record says
        return ("cuda", "") if "libcuda" in str(exc) else ("unknown", "")
    return getattr(_native, "BUILD_FLAVOR", "cpu"), getattr(_native, "CUDA_VERSION", "")


@functools.cache
def build_info() -> BuildInfo:
    record = _record()
    if record is not None:
        return BuildInfo(
            version=__version__,
            commit=record.get("commit", ""),
            build=record.get("build", "unknown"),
            cuda=record.get("cuda", ""),
            source="wheel",
        )
    build, cuda = _native_build()
    commit = _git_commit(Path(__file__).resolve().parent)
    return BuildInfo(version=__version__, commit=commit, build=build, cuda=cuda)
