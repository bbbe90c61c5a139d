"""The devnet saved and loaded: its set-up (``to_json``/``from_json``:
policy, genesis, accounts, miners) and its running state
(``state_json``/``load_state``: proven partitions, faults, misses,
messages, the pool, the PoSts still disputable), written atomically by
``save`` as a node keeps its chain across a restart. A part of ``Devnet``
(``actor.py``)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Self

from prover.chain.deadlines import Policy
from prover.devnet.mpool import Mpool
from prover.devnet.state import DevnetMessage, DevnetMiner


class Persistence:
    """Set-up and running state to and from JSON."""

    policy: Policy
    genesis: float
    worker_address: str
    mpool: Mpool
    miners: dict[int, DevnetMiner]
    messages: dict[str, DevnetMessage]
    fork: bytes
    state_path: Path | None
    stopped_epoch: int | None
    _lock: threading.RLock
    _settled_epoch: int
    _base_fees: dict[int, int]

    def to_json(self) -> dict:
        """The devnet's set-up (not its running state): policy, genesis, miners."""
        return {
            "policy": {
                "epoch_seconds": self.policy.epoch_seconds,
                "challenge_window": self.policy.challenge_window,
                "challenge_lookback": self.policy.challenge_lookback,
                "fault_declaration_cutoff": self.policy.fault_declaration_cutoff,
                "period_deadlines": self.policy.period_deadlines,
            },
            "genesis": self.genesis,
            "worker_address": self.worker_address,
            "accounts": self.mpool.to_json(),
            "miners": [
                {
                    "actor_id": m.actor_id,
                    "proof_type": m.proof_type,
                    "period_offset": m.period_offset,
                    "deadlines": {str(d): parts for d, parts in m.deadlines.items()},
                    "comm_r": {str(n): c.hex() for n, c in m.comm_r.items()},
                    "control_addresses": m.control_addresses,
                    "sector_keys": {str(n): c.hex() for n, c in m.sector_keys.items()},
                }
                for m in self.miners.values()
            ],
        }

    @classmethod
    def from_json(
        cls, data: dict, *, clock: Callable[[], float] = time.time, restart: bool = True
    ) -> Self:
        """A devnet from its set-up; ``restart`` starts the chain anew now."""
        policy = Policy.devnet(**data["policy"])
        miners = [
            DevnetMiner(
                actor_id=m["actor_id"],
                proof_type=m["proof_type"],
                period_offset=m["period_offset"],
                deadlines={int(d): parts for d, parts in m["deadlines"].items()},
                comm_r={int(n): bytes.fromhex(c) for n, c in m["comm_r"].items()},
                control_addresses=list(m.get("control_addresses", [])),
                sector_keys={int(n): bytes.fromhex(c) for n, c in m.get("sector_keys", {}).items()},
            )
            for m in data["miners"]
        ]
        return cls(
            miners,
            policy,
            clock=clock,
            genesis=None if restart else data["genesis"],
            worker_address=data.get("worker_address", "t0100"),
            mpool=Mpool.from_json(data["accounts"]) if data.get("accounts") else None,
        )

    def state_json(self) -> dict:
        """The running state (what ``to_json`` leaves out): the genesis the
        clock counts from, the settled epoch, per miner its proven
        partitions, faults, recoveries and misses, every message included
        and the pool."""
        with self._lock:
            return {
                "genesis": self.genesis,
                "epoch": self.epoch(),
                "settled_epoch": self._settled_epoch,
                "fork": self.fork.hex(),
                "base_fees": {str(e): str(f) for e, f in self._base_fees.items()},
                "miners": [
                    {
                        "actor_id": m.actor_id,
                        "faulty": sorted(m.faulty),
                        "recovering": sorted(m.recovering),
                        "proven": [[ps, d, sorted(p)] for (ps, d), p in m.proven.items()],
                        "misses": m.misses,
                        "duplicate_posts": m.duplicate_posts,
                        "optimistic": [
                            [ps, d, [_post_json(post) for post in posts]]
                            for (ps, d), posts in m.optimistic.items()
                        ],
                        "disputes": m.disputes,
                    }
                    for m in self.miners.values()
                ],
                "messages": [
                    {**asdict(msg), "params": msg.params.hex(), "fee": str(msg.fee)}
                    for msg in self.messages.values()
                ],
                "mpool": self.mpool.state_json(),
            }

    def load_state(self, data: dict) -> None:
        """Goes on from a saved running state (``state_json``)."""
        with self._lock:
            self.genesis = float(data["genesis"])
            self.stopped_epoch = int(data["epoch"])
            self._settled_epoch = int(data["settled_epoch"])
            self.fork = bytes.fromhex(data["fork"])
            self._base_fees = {int(e): int(f) for e, f in data["base_fees"].items()}
            for row in data["miners"]:
                m = self.miners[int(row["actor_id"])]
                m.faulty, m.recovering = set(row["faulty"]), set(row["recovering"])
                m.proven = {(ps, d): set(p) for ps, d, p in row["proven"]}
                m.misses = list(row["misses"])
                # absent from a chain saved before duplicates were counted
                m.duplicate_posts = list(row.get("duplicate_posts", []))
                # absent from a chain saved before PoSts were accepted optimistically
                m.optimistic = {
                    (ps, d): [_post_of_json(post) for post in posts]
                    for ps, d, posts in row.get("optimistic", [])
                }
                m.disputes = list(row.get("disputes", []))
            self.messages = {
                row["cid"]: DevnetMessage(
                    **{**row, "params": bytes.fromhex(row["params"]), "fee": int(row["fee"])}
                )
                for row in data["messages"]
            }
            self.mpool = Mpool.from_state(data["mpool"])

    def save(self) -> None:
        """Writes the running state to ``state_path`` (if set) atomically:
        a temporary file, then a rename over the old one."""
        if self.state_path is None:
            return
        with self._lock:
            tmp = self.state_path.with_name(self.state_path.name + ".tmp")
            tmp.write_text(json.dumps(self.state_json()))
            os.replace(tmp, self.state_path)


def _post_json(post: dict | None) -> dict | None:
    return None if post is None else {**post, "proof": post["proof"].hex()}


def _post_of_json(post: dict | None) -> dict | None:
    return None if post is None else {**post, "proof": bytes.fromhex(post["proof"])}
