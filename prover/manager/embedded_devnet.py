"""The devnet a manager runs itself: with no chain configured and a devnet
initialised in the home (``prover devnet init``), the devnet runs in the
manager's process and the tracker follows it through the same Lotus client
it would use for a node."""

from __future__ import annotations

from pathlib import Path

from prover.config import ManagerConfig, StorageConfig
from prover.devnet import (
    STORAGE_NAME,
    RunningDevnet,
    devnet_paths,
    follow_settings,
    serve_home_devnet,
)
from prover.logs import get_logger

log = get_logger("prover.manager")


def embedded_devnet(
    config: ManagerConfig, home: Path, *, mounts: bool
) -> tuple[ManagerConfig, RunningDevnet | None]:
    """The home's devnet started, and ``config`` following it (its
    ``[chain]`` keys, and its store mounted unless ``mounts`` is off or
    ``[[storage]]`` names some); ``(config, None)`` when the home has none.
    The home's devnet lock is taken first: one chain per home, whether this
    manager runs it or ``prover devnet run`` does."""
    running = serve_home_devnet(home, holder="prover-manager")
    if running is None:
        return config, None
    devnet = running.devnet
    _, store = devnet_paths(home)
    settings = follow_settings(devnet, running.api)
    settings["poll_interval_s"] = min(config.chain.poll_interval_s, settings["poll_interval_s"])
    chain = config.chain.model_copy(update=settings)
    storage = config.storage
    if not storage and mounts:
        storage = [StorageConfig(name=STORAGE_NAME, path=store)]
    log.info(
        "devnet_started",
        url=running.url,
        miners=sorted(devnet.miners),
        epoch_seconds=devnet.policy.epoch_seconds,
    )
    return config.model_copy(update={"chain": chain, "storage": storage}), running
