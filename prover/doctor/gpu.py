"""The proof core this installation carries (cpu or cuda) against the GPUs
and driver this host has, and the CPUs a worker is told to use.

Why these are worth a doctor: every way a GPU worker goes wrong here is
silent. A cuda build whose driver is too old, or whose
``CUDA_VISIBLE_DEVICES`` names no device, does not fail: bellperson proves
on the CPU instead (README, "GPU build"), and a 32GiB partition that took
seconds takes many minutes, close to a deadline's 30. A cpu build on a GPU
host is the same mistake made at install time. A cpuset naming CPUs the
host does not have makes the worker refuse to start, or quietly use fewer.

The NVML checks read what the driver says; the GPU proof check asks
bellperson itself: one tiny Groth16 proof, in a process that sees the GPUs
the worker would, and whether it instantiated GPU kernels
(``prover.proofs.gpuuse``, from bellperson's own log) or fell back.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prover.buildinfo import GPU_BUILDS, BuildInfo
from prover.doctor.checks import Check, fail, ok, skip, warn
from prover.doctor.host import Gpu, NvmlReading, gib

GPU_BUILD_FIX = (
    'install the cuda build (README "GPU build": MATURIN_PEP517_ARGS="--features cuda" '
    "pip install .)"
)


def version_tuple(version: str) -> tuple[int, ...]:
    """``"580.65.06"`` -> (580, 65, 6); non-numbers count as 0."""
    return tuple(int(p) if p.isdigit() else 0 for p in version.strip().split("."))


def cpus_text(cpus: Iterable[int]) -> str:
    """{0, 1, 2, 3, 8} -> ``0-3,8`` (the cpuset syntax)."""
    out: list[str] = []
    run: list[int] = []
    for cpu in sorted(set(cpus)):
        if run and cpu == run[-1] + 1:
            run.append(cpu)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [cpu]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out) or "none"


def native_check(build: BuildInfo, load: Callable[[], object]) -> Check:
    """Whether the native module loads here (a cuda build cannot without
    the driver's libcuda.so.1, and nothing proves without it)."""
    name = "native build"
    try:
        load()
    except ImportError as exc:
        return fail(
            name,
            f"{build.describe()}: the native module cannot be loaded: {exc}",
            "install the NVIDIA driver, or the cpu build"
            if build.gpu
            else "reinstall prover (pip install .) so that its native module is built",
        )
    if build.build not in ("cpu", *GPU_BUILDS):
        return warn(
            name,
            f"{build.describe()}: the module does not say whether it is a cpu, cuda or "
            "supraseal build",
            "reinstall prover so that the build records its flavour",
        )
    return ok(name, build.describe())


def visible_gpus(gpus: Iterable[Gpu], spec: str | None) -> tuple[list[Gpu], list[str]]:
    """The GPUs a ``CUDA_VISIBLE_DEVICES`` value leaves visible, and its
    entries that name no GPU of this host. CUDA reads the list up to its
    first bad entry and ignores the rest, and so does this. ``None``: the
    variable is unset, every GPU is visible."""
    gpus = list(gpus)
    if spec is None:
        return gpus, []
    seen: list[Gpu] = []
    entries = [e.strip() for e in spec.split(",") if e.strip()]
    for n, entry in enumerate(entries):
        match = [g for g in gpus if (entry.isdigit() and g.index == int(entry))]
        if not match and entry.startswith(("GPU-", "MIG-")):
            match = [g for g in gpus if g.uuid.startswith(entry)]
        if len(match) != 1:
            return seen, entries[n:]
        if match[0] not in seen:
            seen.append(match[0])
    return seen, []


def _gpu_list(gpus: Iterable[Gpu]) -> str:
    return ", ".join(f"{g.index} {g.name} ({gib(g.memory_total)})" for g in gpus) or "none"


def gpu_check(build: str, nvml: NvmlReading, spec: str | None, source: str) -> Check:
    """The build against the GPUs NVML sees and those ``spec`` (from
    ``source``: ``--gpu``, the config's ``gpu`` or ``CUDA_VISIBLE_DEVICES``)
    leaves visible."""
    name = "GPU"
    gpus = list(nvml.gpus)
    if build == "cpu":
        if gpus:
            return warn(
                name,
                f"a cpu build on a host with {len(gpus)} GPU(s): {_gpu_list(gpus)}; "
                "SNARKs run on the CPU",
                GPU_BUILD_FIX,
            )
        return ok(name, f"cpu build, no GPU ({nvml.error or 'NVML sees none'}): SNARKs on the CPU")
    if build not in GPU_BUILDS:
        return skip(name, "the build is unknown (see native build)")
    # without a GPU the cuda build proves on the CPU; SupraSeal has no CPU path
    without = (
        "bellperson would prove on the CPU without saying so"
        if build == "cuda"
        else "SupraSeal would fail every proof (it has no CPU path)"
    )
    if not gpus:
        return fail(
            name,
            f"a {build} build, but no usable GPU: {nvml.error or 'NVML sees no device'}; {without}",
            "install the NVIDIA driver and check `nvidia-smi`, or install the cpu build",
        )
    visible, unknown = visible_gpus(gpus, spec)
    where = f"{source}={spec}" if spec is not None else "all GPUs visible"
    if not visible:
        why = f"no GPU {', '.join(unknown)} here" if unknown else "it hides them all"
        return fail(
            name,
            f"{where} leaves no GPU of this host visible ({why}); {without}",
            f"name one of this host's GPUs: {_gpu_list(gpus)}",
        )
    if unknown:
        return warn(
            name,
            f"{where}: {', '.join(unknown)} names no GPU here (CUDA ignores it and what "
            f"follows); proving on {_gpu_list(visible)}",
            f"list only this host's GPUs: {_gpu_list(gpus)}",
        )
    return ok(name, f"{build} build; {where}: {_gpu_list(visible)}")


def driver_check(build: BuildInfo, nvml: NvmlReading) -> Check | None:
    """A GPU build's driver against the oldest it runs on (None for a cpu
    build). Too old a driver refuses the kernels: bellperson falls back to
    the CPU, SupraSeal fails."""
    if not build.gpu:
        return None
    name = "GPU driver"
    need = build.driver_required
    if not nvml.driver:
        return fail(
            name,
            f"no NVIDIA driver answers ({nvml.error or 'NVML gave no version'})",
            "install the NVIDIA driver" + (f" {need} or newer" if need else ""),
        )
    if not need:
        return warn(
            name,
            f"driver {nvml.driver}; this {build.build} build does not record its CUDA "
            "version, so the driver it needs is unknown",
            "compare `prover bench post` on this GPU with its CPU figure: a driver too old "
            "for the kernels proves on the CPU",
        )
    if version_tuple(nvml.driver) < version_tuple(need):
        return fail(
            name,
            f"driver {nvml.driver} is older than {need}, the oldest this build "
            f"(CUDA {build.cuda}) runs on: its kernels will not load and proofs "
            + ("fall back to the CPU" if build.build == "cuda" else "fail"),
            f"upgrade the NVIDIA driver to {need} or newer, or install a build made with "
            "an older CUDA",
        )
    return ok(name, f"driver {nvml.driver} (this build needs {need} or newer)")


def cpuset_check(spec: str, host: set[int], allowed: set[int]) -> Check:
    """The worker's ``cpuset`` against the CPUs this host has and those this
    process may use (the worker pins within what it is allowed, and refuses
    to start when nothing is left)."""
    from prover.worker.pinning import parse_cpuset

    name = "cpuset"
    if not spec:
        return ok(name, f"none set: the worker may use CPUs {cpus_text(allowed)}")
    try:
        wanted = parse_cpuset(spec)
    except ValueError as exc:
        return fail(name, str(exc), "write it like 0-15 or 0-7,16-23")
    off_host = wanted - host
    usable = wanted & host & allowed
    if not wanted & host:
        return fail(
            name,
            f"cpuset {spec}: none of these CPUs is on this host (it has {cpus_text(host)}); "
            "the worker will not start",
            f"choose CPUs among {cpus_text(host)} (`nvidia-smi topo -m` shows each GPU's)",
        )
    if off_host:
        return warn(
            name,
            f"cpuset {spec}: CPUs {cpus_text(off_host)} are not on this host "
            f"({cpus_text(host)}); the worker runs on {cpus_text(usable) or 'none of it'}",
            f"choose CPUs among {cpus_text(host)}",
        )
    if not usable:
        return warn(
            name,
            f"cpuset {spec}: this process may use none of them (allowed: {cpus_text(allowed)}); "
            "a worker started from here would refuse to start",
            "under systemd the unit's CPUAffinity decides: check it allows these CPUs",
        )
    return ok(name, f"cpuset {spec}: on this host, {len(usable)} CPUs usable")


def gpu_proof_check(build: str, probe: Callable[[], Mapping[str, Any]]) -> Check | None:
    """A GPU build's tiny proof on the GPU, or the reason it fell back
    (None for a cpu build, which proves on the CPU by design). This is what
    catches what NVML cannot: kernels the driver refuses, a GPU that NVML
    lists but CUDA cannot open."""
    from prover.proofs.gpuuse import judge

    name = "GPU proof"
    if build == "cpu":
        return None
    if build not in ("cuda", "supraseal"):
        return skip(name, "the build is unknown (see native build)")
    try:
        got = dict(probe())
    except subprocess.TimeoutExpired as exc:
        return fail(
            name,
            f"a tiny proof did not finish in {exc.timeout:.0f} s",
            "check `nvidia-smi` (a hung GPU or driver) and try again",
        )
    except Exception as exc:
        return fail(
            name,
            f"a tiny proof failed: {exc}",
            "check `nvidia-smi` and the driver against this build (GPU driver above)",
        )
    if "error" in got:
        return skip(name, f"the native module cannot be loaded here: {got['error']}")
    seconds = float(got.get("seconds") or 0.0)
    zero = {k: 0 if isinstance(v, int | float) else "" for k, v in got.items()}
    used = judge(zero, got, build)
    if used.fallback:
        return fail(
            name,
            f"a tiny proof of this {build} build ran on the CPU: {used.fallback}; "
            "every partition would too, many times slower",
            "make a GPU visible to the worker (`nvidia-smi`; its gpu / CUDA_VISIBLE_DEVICES) "
            "and a driver this build runs on (GPU driver above)",
        )
    if build == "supraseal":
        return ok(name, f"a tiny proof ran ({seconds:.2f} s; SupraSeal has no CPU path)")
    return ok(
        name,
        f"a tiny proof ran on the GPU ({used.fft_kernels} FFT and {used.multiexp_kernels} "
        f"multiexp kernels, {seconds:.2f} s)",
    )
