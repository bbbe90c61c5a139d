"""The embedded devnet: our stand-in for the chain. It behaves like the miner
actor and a Lotus node in everything the service relies on (deadlines,
randomness, partitions, refusing what the actor would refuse, verifying
proofs with the chain's verifier) and serves the same JSON-RPC, so the
manager follows it through the same client it uses for Lotus.

``actor`` is the chain, ``rpc`` its Lotus methods, ``server`` the transport,
``home`` where a devnet lives in a prover home and how one process serves it
(``prover devnet run``, or embedded in a manager), ``placeholders`` miners at
mainnet size for the control plane (no proof of them can be made here).
"""

from prover.devnet.actor import Devnet
from prover.devnet.home import (
    DEVNET_DIR,
    STORAGE_NAME,
    RunningDevnet,
    devnet_paths,
    endpoint_path,
    follow_settings,
    init_devnet,
    load_devnet,
    load_devnet_setup,
    manager_config_text,
    serve_home_devnet,
)
from prover.devnet.placeholders import placeholder_miner, write_placeholder_files
from prover.devnet.server import DevnetServer
from prover.devnet.state import DevnetMessage, DevnetMiner

__all__ = [
    "DEVNET_DIR",
    "STORAGE_NAME",
    "Devnet",
    "DevnetMessage",
    "DevnetMiner",
    "DevnetServer",
    "RunningDevnet",
    "devnet_paths",
    "endpoint_path",
    "follow_settings",
    "init_devnet",
    "load_devnet",
    "load_devnet_setup",
    "manager_config_text",
    "placeholder_miner",
    "serve_home_devnet",
    "write_placeholder_files",
]
