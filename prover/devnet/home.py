"""A devnet in a prover home (``prover devnet init``): its set-up in
``devnet/devnet.json`` and its test sectors in ``devnet/store``, where the
manager finds and starts it when no chain is configured."""

from __future__ import annotations

import json
from pathlib import Path

from prover.chain.deadlines import Policy
from prover.devnet.actor import Devnet, DevnetMiner
from prover.proofs import PoStProofType

DEVNET_DIR = "devnet"
STORAGE_NAME = "devnet"


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
) -> Devnet:
    """Real test sectors and parameters, spread over partitions (full ones)
    and deadlines (two partitions each, from ``first_deadline`` so a fresh
    chain leaves time to start workers), saved under ``home``. The last
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
            d = (first_deadline + k // 2) % policy.period_deadlines
            deadlines.setdefault(d, []).append(part)
        comm_r = {r.sector_id: r.comm_r for r in replicas}
        chain_miners.append(
            DevnetMiner(
                actor, pt.chain_id, 0, deadlines, comm_r, sector_keys=sector_keys(store, actor)
            )
        )
    net = Devnet(chain_miners, policy)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(net.to_json(), indent=1))
    return net


def load_devnet(home: Path) -> Devnet | None:
    config, _ = devnet_paths(home)
    if not config.is_file():
        return None
    return Devnet.from_json(json.loads(config.read_text()))
