"""Which way a SNARK went: on the GPU, or back to the CPU.

bellperson returns the same proof either way; a CUDA build that finds no
device, or whose kernels the driver refuses, proves on the CPU without an
error, many times slower (a 32GiB partition that takes a minute takes close
to a deadline's 30). What tells the two apart is bellperson's own log: the
native module counts, from its records, the GPU kernels bellperson
instantiated and the warnings it gave when it could not
(``native/src/gpu.rs``; ``_native.gpu_activity()``). Read before and after a
SNARK, they say which path it took (:func:`judge`):

- a CUDA build's SNARK that instantiated no GPU kernel fell back to the CPU,
  the reason being bellperson's warning ("Cannot instantiate GPU FFT kernel!
  Error: No working GPUs found!") with rust-gpu-tools' word on the devices
  ("Unable to retrieve CUDA devices: ...", once per process) when there
  was one, or ``BELLMAN_NO_GPU`` when that is set;
- one that did, but also logged "GPU ... failed! Falling back to CPU", ran
  partly on the CPU;
- the CPU build is expected on the CPU; the SupraSeal build has no CPU path
  at all (no GPU fails the proof), so neither is a fallback.

The counters are per process: a worker's compute child proves one SNARK at
a time (under its GPU lock), so the difference is that SNARK's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from prover.proofs.native import _native

# builds whose SNARKs run on the GPU (prover.buildinfo's names)
GPU_BUILDS = frozenset({"cuda", "supraseal"})
NO_KERNEL = (
    "no GPU kernel was instantiated and bellperson said nothing (a kernel the driver cannot "
    "load is dropped silently)"
)


@dataclass(frozen=True)
class SnarkGpu:
    """What one SNARK did with the GPU.

    ``fallback`` is empty unless a build meant to prove on the GPU proved
    on the CPU, in part (``partial``) or whole; ``observed`` is False when
    no SNARK was seen in the log at all (another logger took the records),
    and then nothing is claimed. ``synthesis_s`` and ``prover_s`` are
    bellperson's own timings (the circuit's synthesis on the CPU; the FFTs
    and multiexps, the GPU's part on a GPU build), when it logged them."""

    build: str
    expected: bool
    observed: bool
    fft_kernels: int = 0
    multiexp_kernels: int = 0
    fallback: str = ""
    partial: bool = False
    synthesis_s: float | None = None
    prover_s: float | None = None

    @property
    def fell_back(self) -> bool:
        return bool(self.fallback)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_flavor() -> str:
    """cpu, cuda or supraseal: the build of the module actually loaded."""
    return str(getattr(_native, "BUILD_FLAVOR", "cpu") or "cpu")


def snapshot() -> dict[str, Any]:
    """The native module's counters now (they only grow)."""
    return dict(_native.gpu_activity())


def judge(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    build: str,
    environ: Mapping[str, str] | None = None,
) -> SnarkGpu:
    """What the SNARK between two :func:`snapshot` readings did."""
    env = os.environ if environ is None else environ

    def grew(key: str) -> int:
        return int(after.get(key, 0)) - int(before.get(key, 0))

    timed = grew("timed_proofs") > 0
    base = SnarkGpu(
        build=build,
        expected=build in GPU_BUILDS,
        observed=grew("snarks") > 0,
        fft_kernels=grew("fft_kernels"),
        multiexp_kernels=grew("multiexp_kernels"),
        synthesis_s=float(after["synthesis_s"]) - float(before["synthesis_s"]) if timed else None,
        prover_s=float(after["prover_s"]) - float(before["prover_s"]) if timed else None,
    )
    if build != "cuda" or not base.observed:
        return base
    failure = str(after.get("last_failure") or "") if grew("gpu_failures") > 0 else ""
    if base.fft_kernels + base.multiexp_kernels == 0:
        no_gpu = env.get("BELLMAN_NO_GPU", "")
        if no_gpu and no_gpu != "0":
            why = f"BELLMAN_NO_GPU={no_gpu} turns bellperson's GPU off"
        else:
            found = [failure, str(after.get("device_error") or "")]
            why = "; ".join(f for f in found if f) or NO_KERNEL
        return _with(base, f"no GPU kernel ran: {why}", partial=False)
    if failure:
        return _with(base, f"part of the SNARK left the GPU: {failure}", partial=True)
    return base


def _with(base: SnarkGpu, fallback: str, *, partial: bool) -> SnarkGpu:
    return SnarkGpu(**{**base.as_dict(), "fallback": fallback, "partial": partial})
