"""The machine as the doctor reads it, and whether its RAM and disks hold a
partition of the sizes this host proves.

Everything that reads the machine (``/proc/meminfo``, ``statvfs``, NVML,
the CPU affinity, the clock, the environment) is a field of ``Readings``,
so that tests hand in a host with 16 GiB of RAM, a full disk, an old
driver or a skewed clock without having one.

What a partition needs
----------------------

No proofs library publishes a WindowPoSt memory figure of its own. The
figures here are Lotus' (the scheduler every Lotus PoSt worker runs with),
per partition being proven at once:

- RAM: Lotus' task resource table for ``TTGenerateWindowPoSt``
  (filecoin-project/lotus, ``storage/sealer/storiface/resources.go``):
  32GiB ``MinMemory`` 30 GiB + ``BaseMinMemory`` 32 GiB ("params"),
  ``MaxMemory`` 96 GiB; 64GiB 60 GiB + 64 GiB, ``MaxMemory`` 120 GiB
  ("TODO: Confirm" upstream); 512MiB 1 GiB + 10 GiB, 1.5 GiB; 2KiB and
  8MiB their own size. Lotus' scheduler (``storage/sealer/
  sched_resources.go``, ``CanHandleRequest``) runs a task only where
  physical memory holds ``MinMemory + BaseMinMemory`` and memory plus swap
  hold ``MaxMemory + BaseMinMemory``; the same two limits are the fail and
  the warn here. For 32GiB the second is 128 GiB, the figure Lotus' docs
  give for a windowPoSt worker (lotus.filecoin.io, "PoSt workers",
  minimal requirements: 128 GiB RAM, 8.5 GiB of GPU memory).
- Each slot of a worker (``concurrency``) proves in a child process of
  its own that loads the parameters itself, so the figures count once per
  slot.
- GPU memory: 8.5 GiB for 32GiB and 64GiB (the same Lotus docs page, which
  gives no per-size figure); under it is a warn.
- Disk for the parameter cache: only a file that is still missing needs
  room. The 32GiB ``.params`` is 57 GiB (a Lotus node's parameter cache
  listed with ``ls -l``: 57G for
  ``v28-proof-of-spacetime-fallback-merkletree-poseidon_hasher-8-8-0-0377...
  .params``, its ``.vk`` 2.4 MB; Lotus' docs ask for more than 100 GiB for
  a whole cache that also holds the PoRep files). **No public figure was
  found for the 64GiB WindowPoSt file**, so it is derived: the 32GiB
  circuit has 125,279,217 constraints per partition (rust-fil-proofs PR
  #1325, ``circuitinfo``); the 64GiB one has one more (arity-2) level on
  each Merkle path, about 3% more constraints a challenge, over 2% fewer
  sectors (2300, not 2349): about the same count, under the same 2^27
  evaluation domain, so its file is taken as 57 GiB + 3%, 59 GiB, rounded
  up to err on the side of room. The 2KiB and 8MiB figures are the test
  parameters measured here (11 and 29 MB, docs/BENCHMARKS.md); 512MiB has
  no public figure either and is derived from those two (two sectors, two
  tree levels more than 8MiB, about 4.5 MB a level): 40 MiB.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.doctor.checks import Check, fail, ok, warn
from prover.doctor.probe import run_gpu_probe

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


@dataclass(frozen=True)
class Needs:
    """What one partition of a sector size needs (see the module docstring)."""

    ram: int  # MinMemory + BaseMinMemory: must be physical memory
    peak: int  # MaxMemory + BaseMinMemory: memory plus swap at the peak
    params_file: int  # bytes of its .params file, to fetch it
    gpu_memory: int = 0  # GPU memory the SNARK wants (0: no figure)


NEEDS: dict[str, Needs] = {
    "2KiB": Needs(4 * KiB, 4 * KiB, 12 * MiB),
    "8MiB": Needs(16 * MiB, 16 * MiB, 32 * MiB),
    "512MiB": Needs(11 * GiB, 11 * GiB + 512 * MiB, 40 * MiB),
    "32GiB": Needs(62 * GiB, 128 * GiB, 57 * GiB, gpu_memory=8704 * MiB),
    "64GiB": Needs(124 * GiB, 184 * GiB, 59 * GiB, gpu_memory=8704 * MiB),
}

# a finished result in the spool is a 192-byte proof in a small JSON file;
# under this much free space the next one may not be written
SCRATCH_MIN_FREE = 16 * MiB


def gib(n: float) -> str:
    """Bytes for people: ``62.0 GiB``, ``512 MiB``, ``4 KiB``."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 and unit == "GiB" else f"{value:.0f} {unit}"
    return f"{int(n)} B"


# ---- reading the machine ------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    total: int
    available: int
    swap: int


@dataclass(frozen=True)
class Disk:
    path: Path  # the directory measured (the nearest one that exists)
    free: int  # bytes an unprivileged process may still write
    total: int


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    uuid: str
    memory_total: int


@dataclass(frozen=True)
class NvmlReading:
    """What NVML says: the driver's version and the GPUs, or why it could
    not be asked (no driver, no library)."""

    driver: str = ""
    gpus: tuple[Gpu, ...] = ()
    error: str = ""


def read_memory(path: str = "/proc/meminfo") -> Memory:
    values: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            key, _, rest = line.partition(":")
            number = rest.split()
            if number and number[0].isdigit():
                values[key] = int(number[0]) * KiB  # the kernel counts kB
    total = values.get("MemTotal", 0)
    return Memory(total, values.get("MemAvailable", total), values.get("SwapTotal", 0))


def existing_dir(path: Path) -> Path:
    """``path`` or its nearest parent that exists: where a directory that is
    made later will take its space from."""
    path = Path(path).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def read_disk(path: Path) -> Disk:
    where = existing_dir(path)
    st = os.statvfs(where)
    return Disk(where, st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)


def read_nvml() -> NvmlReading:
    """The driver version and the GPUs, through the project's NVML reader
    (``prover.worker.gpu``); nothing here may crash on a host without a
    driver."""
    try:
        import pynvml
    except ImportError:
        return NvmlReading(error="nvidia-ml-py is not installed")
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        return NvmlReading(error=f"NVML cannot start ({exc}): no NVIDIA driver loaded")
    try:
        from prover.worker.gpu import gpu_facts

        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else str(driver)
        gpus = tuple(Gpu(g["index"], g["name"], g["uuid"], g["memory_total"]) for g in gpu_facts())
        return NvmlReading(driver, gpus)
    except Exception as exc:
        return NvmlReading(error=f"NVML: {exc}")
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def host_cpus(path: str = "/sys/devices/system/cpu/online") -> set[int]:
    """The CPUs this machine has online (not what this process may use)."""
    from prover.worker.pinning import parse_cpuset

    try:
        with open(path) as f:
            return parse_cpuset(f.read().strip())
    except (OSError, ValueError):
        return set(range(os.cpu_count() or 1))


@dataclass
class Readings:
    """Everything the doctor reads of the machine, each replaceable."""

    memory: Callable[[], Memory] = read_memory
    disk: Callable[[Path], Disk] = read_disk
    nvml: Callable[[], NvmlReading] = read_nvml
    cpus: Callable[[], set[int]] = host_cpus
    affinity: Callable[[], set[int]] = lambda: set(os.sched_getaffinity(0))
    now: Callable[[], float] = time.time
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # one tiny proof seeing the GPUs a CUDA_VISIBLE_DEVICES value leaves
    gpu_probe: Callable[[str | None], Mapping[str, Any]] = run_gpu_probe


# ---- the rules ------------------------------------------------------------------


def largest(sizes: Iterable[tuple[str, int]]) -> str | None:
    """The name of the largest of (size name, bytes), or None."""
    named = sorted(sizes, key=lambda s: s[1])
    return named[-1][0] if named else None


def ram_check(sizes: Iterable[tuple[str, int]], slots: int, memory: Memory) -> Check:
    """Physical memory against ``slots`` partitions of the largest size at
    once (fail), memory plus swap against their peak (warn)."""
    name = "RAM"
    size = largest(sizes)
    if size is None:
        return ok(name, f"{gib(memory.total)}; no sector size to prove yet")
    needs = NEEDS[size]
    each = f"{slots} slot{'s' if slots != 1 else ''} x {size}"
    have = f"{gib(memory.total)} RAM, {gib(memory.swap)} swap"
    if memory.total < slots * needs.ram:
        return fail(
            name,
            f"{have}: {each} partitions need {gib(slots * needs.ram)} of RAM "
            "(Lotus' WindowPoSt minimum: MinMemory + BaseMinMemory a partition)",
            f"add RAM, or lower concurrency to {max(1, memory.total // needs.ram)} "
            "(each slot loads its own parameters)",
        )
    if memory.total + memory.swap < slots * needs.peak:
        return warn(
            name,
            f"{have}: {each} partitions peak at {gib(slots * needs.peak)} "
            "(Lotus' MaxMemory + BaseMinMemory); a peak may be OOM-killed",
            "add RAM or swap, or lower concurrency",
        )
    return ok(name, f"{have}: enough for {each} partitions ({gib(slots * needs.peak)} at peak)")


def params_disk_check(missing: Iterable[tuple[str, int]], disk: Disk) -> Check:
    """Room in the parameter cache for the ``.params`` files still missing
    (size name, bytes each): without it a fetch fails part-way."""
    name = "disk: parameter cache"
    missing = list(missing)
    need = sum(n for _, n in missing)
    where = f"{disk.path}: {gib(disk.free)} free of {gib(disk.total)}"
    if not missing:
        return ok(name, f"{where}; every file needed is there")
    sizes = ", ".join(s for s, _ in missing)
    if disk.free < need:
        return fail(
            name,
            f"{where}: the missing {sizes} parameters take {gib(need)}",
            f"free {gib(need - disk.free)} there, or point FIL_PROOFS_PARAMETER_CACHE "
            "at a larger disk",
        )
    return ok(name, f"{where}: room for the missing {sizes} parameters ({gib(need)})")


def scratch_check(label: str, path: Path, disk: Disk) -> Check:
    """A directory the worker writes to (its spool, its TMPDIR): writable and
    not full. A spool that cannot take a result loses a proof."""
    name = f"disk: {label}"
    where = existing_dir(path)
    made = "" if where == Path(path).expanduser().absolute() else f" (made in {where})"
    if not os.access(where, os.W_OK | os.X_OK):
        return fail(
            name,
            f"{path}{made}: not writable by this user",
            f"make {where} writable by the user the worker runs as",
        )
    if disk.free < SCRATCH_MIN_FREE:
        return fail(
            name,
            f"{path}{made}: {gib(disk.free)} free; a finished result may not be written",
            f"free space on {disk.path}",
        )
    return ok(name, f"{path}{made}: writable, {gib(disk.free)} free")


def gpu_memory_check(sizes: Iterable[tuple[str, int]], gpus: Iterable[Gpu]) -> Check | None:
    """Each GPU this worker may use against Lotus' 8.5 GiB for 32GiB and
    64GiB partitions; None when no size has a figure or no GPU is used."""
    size = largest(sizes)
    gpus = list(gpus)
    need = NEEDS[size].gpu_memory if size else 0
    if not need or not gpus:
        return None
    small = [g for g in gpus if g.memory_total < need]
    if small:
        listed = ", ".join(f"GPU {g.index} {g.name} ({gib(g.memory_total)})" for g in small)
        return warn(
            "GPU memory",
            f"{listed}: under the {gib(need)} Lotus gives for a {size} windowPoSt SNARK",
            "prove this size on a GPU with more memory",
        )
    listed = ", ".join(f"GPU {g.index} ({gib(g.memory_total)})" for g in gpus)
    return ok("GPU memory", f"{listed}: at least {gib(need)} for {size}")
