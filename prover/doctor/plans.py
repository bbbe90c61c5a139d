"""The checks each role runs, in the order an operator reads them: what is
installed, then the machine, then what the host must reach.

Each entry is (name, probe): a probe is called once by the runner and
returns one check or several; what it reads of the machine comes from
``Readings``, so a test can run a whole plan on a simulated host.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prover.doctor import gpu, host, manager, network, params, storage
from prover.doctor.checks import Check, Probe, skip

if TYPE_CHECKING:
    from prover.doctor.roles import Options
    from prover.proofs import PoStProofType

ENV_API_INFO = "PROVER_API_INFO"


def _load_native() -> object:
    from prover.proofs.native import _native

    return _native


def _sized(sizes: list[PoStProofType]) -> list[tuple[str, int]]:
    return [(pt.size_name, pt.sector_size) for pt in sizes]


def gpu_spec(gpu_index: int | None, environ) -> tuple[str | None, str]:
    """What decides the GPUs a worker sees: its ``gpu`` (the worker sets
    CUDA_VISIBLE_DEVICES to it), else the variable as it stands."""
    if gpu_index is not None:
        return str(gpu_index), "gpu"
    if "CUDA_VISIBLE_DEVICES" in environ:
        return environ["CUDA_VISIBLE_DEVICES"], "CUDA_VISIBLE_DEVICES"
    return None, ""


def build_probes(
    gpu_index: int | None,
    cpuset: str | None,
    readings: host.Readings,
    nvml: host.NvmlReading | None = None,
) -> list[tuple[str, Probe]]:
    """The build, the GPUs, the driver and the cpuset: what a worker host
    can be told even when its config cannot be read."""
    from prover.buildinfo import build_info

    build = build_info()
    nvml = nvml or readings.nvml()
    spec, source = gpu_spec(gpu_index, readings.environ)

    def driver() -> list[Check]:
        found = gpu.driver_check(build, nvml)
        return [found] if found else []

    def proof() -> list[Check]:
        found = gpu.gpu_proof_check(build.build, lambda: readings.gpu_probe(spec))
        return [found] if found else []

    return [
        ("native build", lambda: gpu.native_check(build, _load_native)),
        ("GPU", lambda: gpu.gpu_check(build.build, nvml, spec, source)),
        ("GPU driver", driver),
        ("GPU proof", proof),
        ("cpuset", lambda: gpu.cpuset_check(cpuset or "", readings.cpus(), readings.affinity())),
    ]


def worker_sizes(config: Any, directory: Path) -> list[PoStProofType]:
    """The sizes a worker proves: its ``allowed_sizes``, else every size
    whose files are in its parameter cache (it refuses the others)."""
    from prover.proofs import PoStProofType

    if config.allowed_sizes:
        return [PoStProofType.from_sector_size(s) for s in config.allowed_sizes]
    return params.present_sizes(directory)


def env_file_value(path: Path | None, key: str) -> str:
    """``KEY=VALUE`` from a systemd ``EnvironmentFile`` (quotes and comments
    allowed), or ""."""
    if path is None:
        return ""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        name, sep, value = line.strip().partition("=")
        if sep and name.strip() == key:
            return value.strip().strip("'\"")
    return ""


def api_info(options: Options, config: Any, readings: host.Readings, role: str) -> str:
    """The managers as the daemon finds them: ``--api``, the config's
    ``api``, ``PROVER_API_INFO``, else its unit's environment file."""
    return (
        options.api
        or config.api
        or readings.environ.get(ENV_API_INFO, "")
        or env_file_value(options.unit_file(role, ".env"), ENV_API_INFO)
    )


def worker_probes(
    config: Any, options: Options, readings: host.Readings
) -> list[tuple[str, Probe]]:
    """A GPU worker: what it proves with (build, GPU, driver, cpuset), what
    it proves (parameters of its sizes), what that takes of the machine
    (RAM, GPU memory, the parameter cache's disk, its spool and TMPDIR),
    its own mounts if any, and every manager it is given."""
    from prover.buildinfo import API_VERSION, build_info
    from prover.worker.config import default_spool_dir

    directory = params.parameter_dir()
    sizes = worker_sizes(config, directory)
    nvml = readings.nvml()
    spec, _ = gpu_spec(config.gpu, readings.environ)
    visible, _ = gpu.visible_gpus(nvml.gpus, spec)
    used = visible if build_info().gpu else []
    spool = config.spool_dir or default_spool_dir(config)
    tmp = config.tmpdir or Path(readings.environ.get("TMPDIR") or "/tmp")

    def gpu_memory() -> list[Check]:
        found = host.gpu_memory_check(_sized(sizes), used)
        return [found] if found else []

    return [
        *build_probes(config.gpu, config.cpuset, readings, nvml),
        (
            "parameters",
            lambda: params.parameter_checks(sizes, directory, verifying_keys_only=False),
        ),
        ("RAM", lambda: host.ram_check(_sized(sizes), config.concurrency, readings.memory())),
        ("GPU memory", gpu_memory),
        (
            "disk: parameter cache",
            lambda: host.params_disk_check(
                params.missing_params(sizes, directory), readings.disk(directory)
            ),
        ),
        ("disk: spool", lambda: host.scratch_check("spool", spool, readings.disk(spool))),
        ("disk: tmpdir", lambda: host.scratch_check("tmpdir", tmp, readings.disk(tmp))),
        (
            "storage",
            lambda: (
                storage.storage_checks(config.storages, 0, vanilla=False) if config.storage else []
            ),
        ),
        (
            "managers",
            lambda: network.manager_checks(
                api_info(options, config, readings, "worker"),
                "worker",
                api=API_VERSION,
                ca_file=config.api_ca,
                timeout=options.timeout_s,
            ),
        ),
    ]


def storage_probes(
    config: Any, options: Options, readings: host.Readings
) -> list[tuple[str, Probe]]:
    """A storage host needs no parameters and no GPU (vanilla proofs are
    disk reads): the native module, each storage with one sector proven
    from it, and every manager it announces to."""
    from prover.buildinfo import API_VERSION, build_info

    build = build_info()
    return [
        ("native build", lambda: gpu.native_check(build, _load_native)),
        (
            "storage",
            lambda: storage.storage_checks(config.storages, config.sector_timeout_s, vanilla=True),
        ),
        (
            "managers",
            lambda: network.manager_checks(
                api_info(options, config, readings, "storage"),
                "storage host",
                api=API_VERSION,
                ca_file=config.api_ca,
                timeout=options.timeout_s,
            ),
        ),
    ]


def manager_sizes(plan: manager.ChainPlan, directory: Path) -> list[PoStProofType]:
    """The sizes whose verifying keys the manager needs: its miners', else
    every size with files in its cache."""
    from prover.proofs import PoStProofType

    if plan.sizes:
        return [PoStProofType.from_chain_id(c) for c in plan.sizes]
    return params.present_sizes(directory)


def manager_probes(config: Any, home: Path, options: Options, readings: host.Readings):
    """The manager: its secret (no token checks without it), its database
    and schema, the chain it follows, the verifying keys of its miners'
    sizes (it verifies every proof), and its home's disk."""
    from prover.config import database_url

    url = database_url(config, home)
    chain = config.chain

    def plan() -> manager.ChainPlan:
        if chain.api:
            return manager.lotus_plan(
                chain.api, chain.miners, chain.epoch_seconds, options.timeout_s
            )
        return manager.devnet_plan(home)

    followed: dict[str, manager.ChainPlan] = {}

    def chain_probe() -> list[Check]:
        followed["plan"] = plan()
        return manager.chain_checks(
            followed["plan"], config.alerts.head_stall_epochs, readings.now, options.timeout_s
        )

    def keys() -> list[Check]:
        directory = params.parameter_dir()
        sizes = manager_sizes(followed.get("plan") or plan(), directory)
        return params.parameter_checks(sizes, directory, verifying_keys_only=True)

    return [
        ("token secret", lambda: manager.secret_check(home)),
        (
            "database",
            lambda: manager.database_checks(
                manager.read_schema(url, options.timeout_s), config.database.migrate_policy(url)
            ),
        ),
        ("chain", chain_probe),
        ("parameters", keys),
        ("disk: home", lambda: home_disk(home, readings)),
    ]


def home_disk(home: Path, readings: host.Readings) -> Check:
    """The manager's home holds its SQLite file and logs: writable, not full."""
    if not home.exists():
        return skip("disk: home", f"{home} does not exist yet")
    return host.scratch_check("home", home, readings.disk(home))
