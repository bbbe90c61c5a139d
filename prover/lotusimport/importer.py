"""One import, its steps in order: read the repo, map its keys, ask the
nodes for the miners and their addresses, map the senders and storages,
list what the environment overrides."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from prover.lotusimport.keys import lotus_keys
from prover.lotusimport.mapping import env_notes, map_keys, map_senders, map_storages
from prover.lotusimport.model import ImportResult
from prover.lotusimport.nodes import Nodes, find_miners, full_node_client, read_miner_infos
from prover.lotusimport.repo import find_table, read_repo


def import_repo(
    repo: Path,
    storage_json: Path | None = None,
    nodes: Nodes | None = None,
    env: Mapping[str, str] | None = None,
) -> ImportResult:
    """Everything the config is written from, and the report."""
    nodes = nodes or Nodes()
    env = os.environ if env is None else env
    result = ImportResult(read_repo(repo, storage_json))
    keys, others = lotus_keys(result.repo)
    map_keys(result, keys)
    miners, prefix, source = find_miners(result, nodes, env)
    if miners:
        result.set("chain", "miners", miners, source)
        result.set("chain", "network", prefix or "f", f"the miners' address prefix ({source})")
    client = full_node_client(result, nodes, env, prefix)
    try:
        infos = read_miner_infos(result, client, miners) if client else {}
        map_senders(result, keys, infos, client.state_lookup_id if client else None)
    finally:
        if client:
            client.close()
    map_storages(result)
    result.unmapped += others
    env_notes(result, env)
    subsystems = find_table(result.repo.config, "Subsystems")
    if not (subsystems and subsystems[1].get("DisableWindowPoSt") is True):
        result.notes.append(
            "lotus-miner proves WindowPoSt itself until its [Subsystems] DisableWindowPoSt = "
            "true: switch it off once the prover proves, or both send (the second PoSt of a "
            "partition is refused and its gas lost)"
        )
    return result
