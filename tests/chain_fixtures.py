"""A devnet with real 2KiB test sectors, and a real manager following it:
what the chain end-to-end tests share."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from manager_harness import ManagerProcess, WorkerProcess
from prover.chain.deadlines import Policy
from prover.devnet import (
    Devnet,
    DevnetMiner,
    DevnetServer,
    placeholder_miner,
    write_placeholder_files,
)
from prover.devnet.mpool import Mpool
from prover.proofs import (
    PoStProofType,
    SectorReplica,
    create_test_sectors,
    ensure_test_params,
    sector_keys,
)

MINER = 1000
KIB2 = PoStProofType.WINDOW_2KIB
ROOT = Path(__file__).resolve().parent.parent
# 1 s epochs, 6-epoch deadlines: deadline 2 opens 12 s after genesis.
POLICY = Policy.devnet(challenge_window=6, challenge_lookback=2, fault_declaration_cutoff=3)


class Seconds:
    """A devnet clock the test moves: ``to_epoch`` puts it in the middle of
    an epoch counted from the devnet's genesis."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def to_epoch(self, genesis: float, epoch: int) -> None:
        self.now = genesis + epoch + 0.5


@dataclass
class ChainSetup:
    net: Devnet
    server: DevnetServer
    store: Path
    replicas: dict[int, SectorReplica]

    @property
    def miner(self) -> DevnetMiner:
        return self.net.miners[MINER]

    def manager(
        self,
        home: Path,
        jobs: dict | None = None,
        alerts: dict | None = None,
        *,
        mounts: bool = True,
        database_url: str = "",
        lease: dict | None = None,
        secret: bytes | None = None,
        **chain,
    ) -> ManagerProcess:
        """A manager following this devnet, storage ``store-1`` = the sectors
        (without ``mounts``, none: it reads them through storage hosts);
        ``jobs``, ``alerts`` and ``lease`` override keys of those sections;
        ``database_url`` empty: SQLite in the home."""
        settings = {
            "api": f"devnet-token:{self.server.url}",
            "network": "t",
            "miners": [MINER],
            "confidence": 1,
            "poll_interval_s": 0.3,
            "epoch_seconds": self.net.policy.epoch_seconds,
            **chain,
        }
        template = (ROOT / "configs" / "manager.toml").read_text()
        replace = {}
        if mounts:
            replace["# [[storage]]\n"] = f'[[storage]]\nname = "store-1"\npath = "{self.store}"\n'
        for key in settings:  # drop the template's line for every key set here
            (line,) = re.findall(rf"^{key} = .*\n", template, flags=re.M)
            replace[line] = ""
        lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
        replace["[chain]\n"] = f"[chain]\n{lines}"
        for key, value in {**(jobs or {}), **(alerts or {}), **(lease or {})}.items():
            (line,) = re.findall(rf"^{key} = .*\n", template, flags=re.M)
            replace[line] = f"{key} = {_toml(value)}\n"
        return ManagerProcess(
            home, replace=replace, database_url=database_url, secret=secret
        ).start()

    def worker(
        self, home: Path, manager: ManagerProcess, name: str = "w1", storages=None, **settings
    ) -> WorkerProcess:
        """A worker mounting ``store-1`` (or ``storages``; {} for none)."""
        return WorkerProcess(
            home,
            manager.api_info("worker"),
            name=name,
            storages={"store-1": self.store} if storages is None else storages,
            **settings,
        ).start()

    def proven(self, period_start: int, deadline: int) -> set[int]:
        return self.miner.proven.get((period_start, deadline), set())


def _toml(value) -> str:
    """A TOML value: JSON's literals, but inline tables as { key = value }."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def start_devnet(
    tmp_path: Path,
    deadlines: dict[int, list[list[int]]],
    policy: Policy = POLICY,
    *,
    mpool: Mpool | None = None,
    control_addresses: tuple[str, ...] = (),
    upgraded: tuple[int, ...] = (),
) -> ChainSetup:
    """``upgraded`` sectors are snap-upgraded for real (their update files
    proven, their sector key on chain as SectorKeyCID)."""
    ensure_test_params(KIB2)
    store = tmp_path / "store"
    numbers = sorted({n for parts in deadlines.values() for p in parts for n in p})
    plain = [n for n in numbers if n not in upgraded]
    replicas = create_test_sectors(store, MINER, plain, KIB2) if plain else []
    if upgraded:
        replicas += create_test_sectors(store, MINER, upgraded, KIB2, upgrade=True)
    miner = DevnetMiner(
        actor_id=MINER,
        proof_type=KIB2.chain_id,
        period_offset=0,
        deadlines=deadlines,
        comm_r={r.sector_id: r.comm_r for r in replicas},
        control_addresses=list(control_addresses),
        sector_keys=sector_keys(store, MINER),
    )
    net = Devnet([miner], policy, mpool=mpool)
    server = DevnetServer(net, token="devnet-token").start()
    return ChainSetup(net, server, store, {r.sector_id: r for r in replicas})


def start_placeholder_devnet(
    tmp_path: Path, partitions: dict[int, int], policy: Policy = POLICY
) -> ChainSetup:
    """A 32GiB miner of placeholder sectors (``partitions[d]`` full partitions
    of 2349 in deadline ``d``), their empty files in ``store-1`` (under
    ``tmp_path``; a tmpfs places 100,000 in seconds, a disk takes tens):
    mainnet sizes for the control plane; nothing here can prove them."""
    store = tmp_path / "store"
    miner = placeholder_miner(MINER, "32GiB", partitions)
    write_placeholder_files([store], miner)
    net = Devnet([miner], policy)
    server = DevnetServer(net, token="devnet-token").start()
    return ChainSetup(net, server, store, {})


def wait_for(predicate, timeout, what):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
