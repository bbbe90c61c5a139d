"""Which role this host plays, its configuration, and the checks each role
runs.

**How the role is found** (``--role`` wins):

1. ``--config F``: by the file's shape. A manager's config has tables
   (``[database]``, ``[chain]``, ``[api]`` ...); a worker's keys of its own
   (``gpu``, ``cpuset``, ``concurrency``, ``allowed_sizes``, ``spool_dir``
   ...); a storage host's others (``listen``, ``parallelism``,
   ``lotus_listen`` ...). A file with only the keys both share (``api``,
   ``name``, ``[[storage]]``) is told by its name (``worker.toml``,
   ``storage.toml``), else the doctor asks for ``--role``.
2. No ``--config``: a manager's home (``--home``, ``PROVER_HOME``,
   ``~/.prover``) with its ``config.toml`` makes it a manager.
3. Else the systemd layout (``systemd/``): ``/etc/prover/worker.toml`` or
   ``/etc/prover/storage.toml``, when only one of them is there; anything
   else needs ``--role`` (workers and storage hosts may run on flags alone).

A worker or storage host given no ``--config`` is checked with its
``/etc/prover`` file when there is one, and with the manager address in
its unit's ``EnvironmentFile`` (``/etc/prover/worker.env``,
``storage.env``) when ``PROVER_API_INFO`` is not set: what ``prover doctor
--role worker`` on a host set up as the README says must find.

The doctor reads the environment the daemon would run with
(``PROVER_API_INFO``, ``FIL_PROOFS_PARAMETER_CACHE``,
``CUDA_VISIBLE_DEVICES``), and takes the flags the daemons take
(``--api``, ``--gpu``, ``--cpuset``, ``--storage``) so that it checks what
``prover-worker --config F --gpu 0`` would run.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prover.doctor import plans
from prover.doctor.checks import Check, Probe, Report, Stopwatch, fail, ok, run_probes
from prover.doctor.host import Readings

ROLES = ("manager", "worker", "storage")
ROLE_WORDS = {"manager": "manager", "worker": "worker", "storage": "storage host"}

MANAGER_TABLES = frozenset({"database", "chain", "jobs", "lease", "alerts", "http", "log"})
# the keys only one of the two share-alike configs has (a test holds these
# to the models, so that they cannot drift)
WORKER_ONLY = frozenset(
    {
        "gpu",
        "cpuset",
        "allowed_miners",
        "allowed_sizes",
        "concurrency",
        "tmpdir",
        "claim_wait_s",
        "vanilla_parallelism",
        "shutdown_grace_s",
        "finish_retry_s",
        "spool_dir",
    }
)
STORAGE_ONLY = frozenset(
    {
        "listen",
        "advertise",
        "parallelism",
        "tls_cert",
        "tls_key",
        "max_message_bytes",
        "lotus_listen",
        "lotus_token",
        "lotus_index",
    }
)


class RoleError(Exception):
    """The role cannot be told: the message says what to pass."""


@dataclass
class Options:
    """What the command line asked for."""

    role: str | None = None
    config: Path | None = None
    home: Path | None = None  # --home; None: PROVER_HOME or ~/.prover
    api: str | None = None
    gpu: int | None = None
    cpuset: str | None = None
    storages: list[tuple[str, Path]] = field(default_factory=list)
    timeout_s: float = 5.0
    etc: Path = Path("/etc/prover")  # where the systemd units read configs

    def unit_file(self, role: str, suffix: str) -> Path | None:
        """``/etc/prover/worker.toml`` (``.env``) and the storage host's, if there."""
        if role not in ("worker", "storage"):
            return None
        path = self.etc / f"{role}{suffix}"
        return path if path.is_file() else None

    def manager_home(self) -> Path:
        """The manager's home: ``--home``, else the folder of ``--config``,
        else PROVER_HOME or ~/.prover (where its secret and SQLite file are)."""
        from prover.config import resolve_home

        if self.home is None and self.config is not None:
            return self.config.absolute().parent
        return resolve_home(self.home).absolute()


def role_of_shape(data: dict[str, Any], path: Path) -> str | None:
    """A config's role by its keys (None when they do not tell)."""
    keys = set(data)
    if isinstance(data.get("api"), dict) or keys & MANAGER_TABLES:
        return "manager"
    worker, storage = bool(keys & WORKER_ONLY), bool(keys & STORAGE_ONLY)
    if worker != storage:
        return "worker" if worker else "storage"
    if worker:
        return None  # keys of both: a mistake the config check will name
    stem = path.stem.lower()
    hints = [r for r in ("worker", "storage") if r in stem]
    return hints[0] if len(hints) == 1 else None


def detect_role(options: Options) -> tuple[str, str]:
    """(role, how it was found); ``RoleError`` when it cannot be told."""
    if options.role:
        return options.role, "--role"
    if options.config is not None:
        try:
            data = tomllib.loads(options.config.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RoleError(f"cannot read {options.config} to tell the role: {exc}") from exc
        role = role_of_shape(data, options.config)
        if role is None:
            raise RoleError(
                f"{options.config} could be a worker's or a storage host's config: "
                "pass --role worker or --role storage"
            )
        return role, "the config's shape"
    home = options.manager_home()
    if (home / "config.toml").is_file():
        return "manager", f"a manager's home, {home}"
    units = [r for r in ("worker", "storage") if options.unit_file(r, ".toml")]
    if len(units) == 1:
        return units[0], f"{options.unit_file(units[0], '.toml')}"
    raise RoleError(
        f"no --role, no --config, and no manager config in {home}: pass --role "
        "manager|worker|storage (and --config for a worker's or storage host's file)"
    )


# ---- configs ---------------------------------------------------------------------


def _overrides(given: dict[str, Any]) -> list[Any]:
    """The doctor's own flags as the daemon's command line would give them,
    so that the config is the daemon's merge, validated as one
    (prover.settings): a file value a flag replaces is not refused."""
    from prover.settings import Override

    return [Override(f"--{key}", key, value) for key, value in given.items() if value is not None]


def load_config(role: str, options: Options) -> Any:
    """The role's config with the command-line overrides applied, as its
    daemon would read it; raises what the loader raises."""
    if role == "manager":
        from prover.config import load_manager_config

        return load_manager_config(options.config or options.manager_home() / "config.toml")
    if role == "worker":
        from prover.worker.config import load_worker_config

        given = {"api": options.api, "gpu": options.gpu, "cpuset": options.cpuset}
        return load_worker_config(options.config, _overrides(given))
    from prover.settings import Override
    from prover.storage.config import load_storage_config

    overrides = _overrides({"api": options.api})
    extra = [{"name": n, "path": str(p)} for n, p in options.storages]
    if extra:
        overrides.append(Override("--storage", "storage", extra, extend=True))
    return load_storage_config(options.config, overrides)


def config_check(role: str, options: Options) -> tuple[Check, Any]:
    """The config as a check, and the config (None when it did not load)."""
    where = options.config or (
        options.manager_home() / "config.toml" if role == "manager" else None
    )
    try:
        config = load_config(role, options)
    except ImportError as exc:  # the native module (a worker's config names sizes)
        return fail(
            "config", f"cannot be read without the native module: {exc}", "see native build"
        ), None
    except Exception as exc:  # ConfigError, a validation error of an override
        return fail("config", str(exc), "correct the file (every key: configs/*.toml)"), None
    said = str(where) if where else "none (defaults and flags, as the daemon would run)"
    return ok("config", said), config


# ---- the run ---------------------------------------------------------------------


def probes_for(
    role: str, config: Any, options: Options, readings: Readings
) -> list[tuple[str, Probe]]:
    if role == "manager":
        return plans.manager_probes(config, options.manager_home(), options, readings)
    if role == "worker":
        return plans.worker_probes(config, options, readings)
    return plans.storage_probes(config, options, readings)


def run_doctor(options: Options, readings: Readings | None = None) -> Report:
    """Every check of this host's role, in one report."""
    from prover.buildinfo import build_info

    watch = Stopwatch()
    readings = readings or Readings()
    role, how = detect_role(options)
    unit_config = options.unit_file(role, ".toml")
    if options.config is None and unit_config is not None:
        options = replace(options, config=unit_config)  # as its systemd unit runs it
    check, config = config_check(role, options)
    report = Report(role, how, str(options.config or ""), build_info().describe(), [check])
    if config is not None:

        def planned() -> list[Check]:
            # a plan that cannot even be drawn up (a reading that raises) is one failure
            return run_probes(probes_for(role, config, options, readings))

        report.checks += run_probes([(f"{role} checks", planned)])
    elif role == "worker":  # what can be said without a config
        report.checks += run_probes(plans.build_probes(options.gpu, options.cpuset, readings))
    report.seconds = watch.seconds()
    return report
