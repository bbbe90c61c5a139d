"""Deadlines that opened and closed while no manager could plan them: no
leader, or the database or the chain out of reach for longer than the
window in which a deadline can still be planned and proven.

Such a deadline has no jobs, so the Settler's pass over the jobs never
meets it, yet the chain marked its sectors faulty at its Close. Each is
found by the deadline math, its partitions are read from the chain as they
stood when it opened, and a partition whose sectors the chain now holds
faulty is a miss, recorded like any other (a partition another prover
proved meanwhile shows no new fault and is not one).
"""

from __future__ import annotations

from collections.abc import Mapping

from prover.chain.deadlines import DeadlineInfo, current_deadline
from prover.chain.lotus import LotusClient, ProvingDeadline
from prover.store import JobStore, Miss

UNPLANNED = (
    "not planned: the deadline opened and closed while no manager could plan it "
    "(no leader, or the database or the chain out of reach)"
)


def deadlines_closed_in(head: DeadlineInfo, after: int, through: int) -> list[DeadlineInfo]:
    """The miner's deadlines (``head`` is one of them) that closed in
    (``after``, ``through``]."""
    policy = head.policy
    d = current_deadline(head.period_start % policy.proving_period, max(0, after), policy)
    out = []
    while d.close <= through:
        out.append(d)
        d = d.next()
    return out


class Unplanned:
    """Finds the misses of deadlines nobody planned; the Settler records them."""

    def __init__(
        self, jobs: JobStore, client: LotusClient, heads: Mapping[int, ProvingDeadline]
    ) -> None:
        self.jobs = jobs
        self.client = client
        self.heads = heads  # the tracker's, per miner followed
        self._first: dict[int, int] = {}  # miner -> Close of its first tracked deadline

    def misses(self, after: int, through: int) -> list[Miss]:
        """The misses of unplanned deadlines that closed in (``after``,
        ``through``], from a miner's first tracked deadline on (a deadline
        from before this database proved the miner is not its miss)."""
        out: list[Miss] = []
        for miner, head in list(self.heads.items()):
            first = self._first_tracked(miner)
            if first is None:
                continue
            for d in deadlines_closed_in(head.info, max(after, first), through):
                if not self.jobs.has_deadline_jobs(miner, d.period_start, d.index):
                    out += self._deadline(miner, d)
        return out

    def _first_tracked(self, miner: int) -> int | None:
        if miner not in self._first:
            first = self.jobs.first_tracked_close(miner)
            if first is None:
                return None
            self._first[miner] = first
        return self._first[miner]

    def _deadline(self, miner: int, d: DeadlineInfo) -> list[Miss]:
        now = self.client.state_miner_partitions(miner, d.index)
        if not any(p.live for p in now):
            return []  # nothing to prove in this deadline (one read, the common case)
        opened = self.client.chain_get_tipset_by_height(d.open)
        then = self.client.state_miner_partitions(miner, d.index, opened)
        return [
            Miss(miner, d.period_start, d.index, index, d.close, sorted(was.to_prove), UNPLANNED)
            for index, (was, p) in enumerate(zip(then, now, strict=False))
            if was.to_prove & p.faulty
        ]
