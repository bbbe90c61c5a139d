"""A devnet in a prover home (``prover devnet init``): its set-up in
``devnet/devnet.json``, its running chain state in ``devnet/chain.json``
(written by the devnet as it goes, from its first start) and its test
sectors in ``devnet/store``, where the manager finds and starts it when no
chain is configured. A restarted manager goes on with the same chain, from
its recorded genesis; ``init_devnet`` (``prover devnet init --force``)
starts a new one.

One process runs a home's chain at a time (``serve_home_devnet`` holds the
home's devnet lock, ``prover.homelock``): ``prover devnet run`` on its own,
or a manager with no chain configured, embedded. Its URL is in
``devnet/endpoint``; managers follow it through ``[chain] api`` with
``follow_settings``, as they would follow a Lotus node.

With ``incumbent`` in its set-up (``prover devnet init --incumbent``), the
process that serves the devnet also runs the incumbent (``incumbent.py``):
an existing prover that submits the miners' WindowPoSts itself, for a
manager in shadow mode to compare with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prover.chain.deadlines import Policy
from prover.devnet.actor import Devnet
from prover.devnet.incumbent import Incumbent, IncumbentConfig, add_incumbent_account
from prover.devnet.server import DevnetServer
from prover.devnet.state import DevnetMiner
from prover.endpoints import write_text_atomically
from prover.homelock import HomeLock, lock_devnet_home
from prover.proofs import PoStProofType

DEVNET_DIR = "devnet"
STORAGE_NAME = "devnet"
STATE_FILE = "chain.json"
# the running devnet's API ("<token>:<url>", or the URL alone)
ENDPOINT_FILE = "endpoint"


def devnet_paths(home: Path) -> tuple[Path, Path]:
    """(devnet.json, the devnet's sector storage) under a prover home."""
    return home / DEVNET_DIR / "devnet.json", home / DEVNET_DIR / "store"


def init_devnet(
    home: Path,
    *,
    miners: int = 1,
    sectors: int = 8,
    size: str = "2KiB",
    policy: Policy | None = None,
    first_deadline: int = 2,
    upgraded: int = 0,
    spread: bool = False,
    incumbent: IncumbentConfig | None = None,
) -> Devnet:
    """Real test sectors and parameters, spread over partitions (full ones)
    and deadlines (two partitions each, from ``first_deadline`` so a fresh
    chain leaves time to start workers; with ``spread`` one each, evenly
    over the proving period), saved under ``home`` as a new chain. The last
    ``upgraded`` sectors of each miner are snap-upgraded for real (sealed as
    committed capacity, then updated with deal data), as a large share of
    mainnet sectors are. An enabled ``incumbent`` is saved with the set-up,
    its sender funded and made a control address of each miner."""
    from prover.proofs import create_test_sectors, ensure_test_params, sector_keys

    if not 0 <= upgraded <= sectors:
        raise ValueError(f"cannot upgrade {upgraded} of {sectors} sectors")

    pt = PoStProofType.from_sector_size(size)
    ensure_test_params(pt)
    config, store = devnet_paths(home)
    policy = policy or Policy.devnet()
    chain_miners = []
    for i in range(miners):
        actor = 1000 + i
        plain = sectors - upgraded
        replicas = create_test_sectors(store, actor, range(1, plain + 1), pt) if plain else []
        if upgraded:
            replicas += create_test_sectors(
                store, actor, range(plain + 1, sectors + 1), pt, upgrade=True
            )
        numbers = [r.sector_id for r in replicas]
        size_p = pt.partition_sectors
        parts = [numbers[k : k + size_p] for k in range(0, len(numbers), size_p)]
        deadlines: dict[int, list[list[int]]] = {}
        for k, part in enumerate(parts):
            step = _spread_step(len(parts), first_deadline, policy.period_deadlines)
            d = first_deadline + k * step if spread else first_deadline + k // 2
            deadlines.setdefault(d % policy.period_deadlines, []).append(part)
        comm_r = {r.sector_id: r.comm_r for r in replicas}
        chain_miners.append(
            DevnetMiner(
                actor, pt.chain_id, 0, deadlines, comm_r, sector_keys=sector_keys(store, actor)
            )
        )
    net = Devnet(chain_miners, policy)
    setup = net.to_json()
    if incumbent is not None and incumbent.enabled:
        add_incumbent_account(net, incumbent)
        setup = {**net.to_json(), "incumbent": incumbent.to_json()}
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(setup, indent=1))
    (config.parent / STATE_FILE).unlink(missing_ok=True)  # a new chain
    return net


def _spread_step(parts: int, first: int, period_deadlines: int) -> int:
    """Deadlines between partitions spread one each over the period from
    ``first``: as even as the period allows, the last before it wraps."""
    if parts < 2:
        return 1
    return max(1, min(period_deadlines // parts, (period_deadlines - first - 1) // (parts - 1)))


def load_incumbent_config(home: Path) -> IncumbentConfig:
    """The incumbent's options in the home's devnet set-up (off if none)."""
    config, _ = devnet_paths(home)
    if not config.is_file():
        return IncumbentConfig()
    return IncumbentConfig.from_json(json.loads(config.read_text()).get("incumbent"))


def load_devnet_setup(home: Path) -> Devnet | None:
    """The home's devnet set-up alone (miners, policy) and the genesis its
    chain counts from (``load_devnet`` records it in ``chain.json`` at the
    first start); nothing else of the running chain is read, and nothing is
    written: what may be read while another process runs it."""
    config, _ = devnet_paths(home)
    if not config.is_file():
        return None
    net = Devnet.from_json(json.loads(config.read_text()))
    state = config.parent / STATE_FILE
    if state.is_file():
        net.genesis = float(json.loads(state.read_text())["genesis"])
    return net


def load_devnet(home: Path) -> Devnet | None:
    """The home's devnet going on from its saved chain state, or a new
    chain from now (its genesis recorded at once) on its first start."""
    config, _ = devnet_paths(home)
    if not config.is_file():
        return None
    net = Devnet.from_json(json.loads(config.read_text()))
    state = config.parent / STATE_FILE
    if state.is_file():
        net.load_state(json.loads(state.read_text()))
    net.state_path = state
    net.save()
    return net


def endpoint_path(home: Path) -> Path:
    return home / DEVNET_DIR / ENDPOINT_FILE


class RunningDevnet:
    """A home's devnet serving its Lotus API: the home's devnet lock held,
    its URL in the endpoint file, and its incumbent (if its set-up has one)
    proving. ``stop`` stops the incumbent, saves the chain, removes the
    endpoint (if it is still this one's) and drops the lock."""

    def __init__(
        self,
        home: Path,
        server: DevnetServer,
        lock: HomeLock,
        url: str,
        api: str,
        incumbent: Incumbent | None = None,
    ) -> None:
        self.home = home
        self.server = server
        self.lock = lock
        self.incumbent = incumbent
        # its /rpc/v1 as others reach it (the advertised host, not a wildcard)
        self.url = url
        # what a manager's [chain] api names: "<token>:<url>" or the URL
        self.api = api

    @property
    def devnet(self) -> Devnet:
        return self.server.devnet

    def stop(self) -> None:
        try:
            if self.incumbent is not None:
                self.incumbent.stop()
            self.server.stop()  # saves the chain as it stopped
            endpoint = endpoint_path(self.home)
            if endpoint.is_file() and endpoint.read_text().strip() == self.api:
                endpoint.unlink()
        finally:
            self.lock.release()


def serve_home_devnet(
    home: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    advertise: str | None = None,
    holder: str = "prover-manager",
) -> RunningDevnet | None:
    """Starts ``home``'s devnet (None when the home has none), going on
    from its saved chain. The devnet lock is taken before the chain is
    loaded, so a second process never even writes ``chain.json``: it gets
    ``HomeInUse`` naming the holder (``holder`` names this one in a later
    refusal). ``advertise`` is the host others reach it at (the listen
    host by default), written to the endpoint file. An incumbent in the
    set-up starts with it."""
    config, store = devnet_paths(home)
    if not config.is_file():
        return None
    lock = lock_devnet_home(home, holder)
    try:
        devnet = load_devnet(home)
        if devnet is None:  # removed between the check and the lock
            lock.release()
            return None
        server = DevnetServer(devnet, host=host, port=port, token=token).start()
        incumbent = None
        try:
            settings = load_incumbent_config(home)
            if settings.enabled:
                incumbent = Incumbent(devnet, store, settings).start()
                server.status_extras["incumbent"] = incumbent.status
        except BaseException:
            server.stop()
            raise
    except BaseException:
        lock.release()
        raise
    url = f"http://{advertise or host}:{server.port}/rpc/v1"
    api = f"{token}:{url}" if token else url
    # whole or not at all: a reader (the demo, `prover devnet config`) may
    # look while it is written
    write_text_atomically(endpoint_path(home), api + "\n")
    return RunningDevnet(home, server, lock, url, api, incumbent)


def follow_settings(devnet: Devnet, api: str) -> dict[str, Any]:
    """The ``[chain]`` keys of a manager following ``devnet`` at ``api``:
    what the manager's embedded devnet sets for itself (testnet addresses,
    its miners, its genesis and epoch length, one epoch of confidence and a
    fast poll, since a devnet's epochs are seconds and it never reorganises
    on its own), so an external devnet is followed the same way. The
    genesis is what ``prover_chain_head_lag_seconds`` needs."""
    return {
        "api": api,
        "network": "t",
        "miners": sorted(devnet.miners),
        "confidence": 1,
        "poll_interval_s": 0.5,
        "genesis_unix": devnet.genesis,
        "epoch_seconds": devnet.policy.epoch_seconds,
    }


def manager_config_text(devnet: Devnet, api: str, store: Path) -> str:
    """The lines of a manager's ``config.toml`` that follow ``devnet`` (its
    ``[chain]`` keys, to set in the ``[chain]`` section) and mount its store
    (``[[storage]]``, for a manager on the same machine)."""
    chain = "".join(f"{k} = {json.dumps(v)}\n" for k, v in follow_settings(devnet, api).items())
    return (
        f"[chain]\n{chain}\n"
        "# where the manager reads the devnet's sectors (on another machine: a\n"
        "# prover-storage host serving this directory instead)\n"
        f'[[storage]]\nname = "{STORAGE_NAME}"\npath = {json.dumps(str(store))}\n'
    )
