"""A devnet in a prover home (``prover devnet init``): its set-up in
``devnet/devnet.json``, its running chain state in ``devnet/chain.json``
(written by the devnet as it goes, from its first start) and its test
sectors in ``devnet/store``, where the manager finds and starts it when no
chain is configured. A restarted manager goes on with the same chain, from
its recorded genesis; ``init_devnet`` (``prover devnet init --force``)
starts a new one."""

from __future__ import annotations

import json
from pathlib import Path

from prover.chain.deadlines import Policy
from prover.devnet.actor import Devnet, DevnetMiner
from prover.proofs import PoStProofType

DEVNET_DIR = "devnet"
STORAGE_NAME = "devnet"
STATE_FILE = "chain.json"


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
) -> Devnet:
    """Real test sectors and parameters, spread over partitions (full ones)
    and deadlines (two partitions each, from ``first_deadline`` so a fresh
    chain leaves time to start workers; with ``spread`` one each, evenly
    over the proving period), saved under ``home`` as a new chain. The last
    ``upgraded`` sectors of each miner are snap-upgraded for real (sealed as
    committed capacity, then updated with deal data), as a large share of
    mainnet sectors are."""
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
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(net.to_json(), indent=1))
    (config.parent / STATE_FILE).unlink(missing_ok=True)  # a new chain
    return net


def _spread_step(parts: int, first: int, period_deadlines: int) -> int:
    """Deadlines between partitions spread one each over the period from
    ``first``: as even as the period allows, the last before it wraps."""
    if parts < 2:
        return 1
    return max(1, min(period_deadlines // parts, (period_deadlines - first - 1) // (parts - 1)))


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
