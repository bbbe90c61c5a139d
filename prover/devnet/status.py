"""``DevnetStatus``: what the devnet says of itself, per miner and deadline
(partitions proven, missed, faulty sectors, PoSts refused as duplicates,
disputes) and every message with its outcome. A part of ``Devnet``
(``actor.py``)."""

from __future__ import annotations

import threading

from prover.chain.deadlines import Policy, deadline_info
from prover.devnet.mpool import Mpool
from prover.devnet.state import DevnetMessage, DevnetMiner


class StatusReport:
    """The status, read under the chain's lock from one state."""

    policy: Policy
    genesis: float
    stopped_epoch: int | None
    mpool: Mpool
    miners: dict[int, DevnetMiner]
    messages: dict[str, DevnetMessage]
    _lock: threading.RLock

    def status(self) -> dict:
        """Per miner and deadline: partitions proven, missed, faulty sectors,
        PoSts refused as duplicates (``duplicate_posts``, also summed over
        the miners at the top); and every message with its outcome."""
        with self._lock:  # one state: messages land from the RPC threads
            return self._status()

    def _status(self) -> dict:
        self.settle()
        now = self.epoch()
        out = {
            "epoch": now,
            "genesis": self.genesis,
            "stopped_epoch": self.stopped_epoch,
            "challenge_window": self.policy.challenge_window,
            "period_deadlines": self.policy.period_deadlines,
            "miners": [],
            "messages": [],
        }
        for m in self.miners.values():
            dl = self.deadline_of(m, now)
            deadlines = []
            for index, parts in sorted(m.deadlines.items()):
                info = deadline_info(dl.period_start, index, now, self.policy)
                sectors = {n for p in parts for n in p}
                deadlines.append(
                    {
                        "deadline": index,
                        "open": info.open,
                        "close": info.close,
                        "partitions": len(parts),
                        "proven": sorted(m.proven.get((dl.period_start, index), set())),
                        "faulty": sorted(sectors & m.faulty),
                        "recovering": sorted(sectors & m.recovering),
                    }
                )
            out["miners"].append(
                {
                    "actor_id": m.actor_id,
                    "current_deadline": dl.index,
                    "period_start": dl.period_start,
                    "deadlines": deadlines,
                    "misses": m.misses,
                    "duplicate_posts": len(m.duplicate_posts),
                    "duplicates": list(m.duplicate_posts),
                    "disputes": list(m.disputes),
                }
            )
        out["duplicate_posts"] = sum(m["duplicate_posts"] for m in out["miners"])
        out["messages"] = [
            {
                "cid": msg.cid,
                "to": msg.to,
                "method": msg.method,
                "epoch": msg.height,
                "exit_code": msg.exit_code,
                "reason": msg.reason,
                "fee": str(msg.fee),
            }
            for msg in self.messages.values()
        ]
        out["pending"] = len(self.mpool.pending)
        return out
