"""What a standby's dashboard shows of the chain it does not follow.

Only the leader runs a tracker, and the dashboard drew its chain view from
the tracker; a standby had none and fell back to the store's view (mainnet's
48 deadlines, nothing open, "no chain is followed"), contradicting the
leader's page about the same chain. A standby knows enough to draw the same
view: the lease row names the leader and carries its head at each renewal
(``ChainLease.step``), and each configured miner's proving policy and period
offset come from the chain it is configured to follow, by the one read the
tracker makes per miner (``StateMinerProvingDeadline``). Both stay put for a
miner (the policy changes only at a network upgrade), so they are read once
and again every ``READ_EVERY_S``, by the manager's scheduler (``refresh``),
never while a page is served: a page only reads the lease row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from prover.chain.deadlines import DeadlineInfo
from prover.chain.lotus import LotusClient, LotusError, ProvingDeadline
from prover.config import ChainConfig
from prover.dashboard.views import ChainFacts
from prover.logs import get_logger
from prover.store.database import utcnow
from prover.store.lease import Leadership

log = get_logger("prover.manager.standby")

# how often the scheduler looks for a miner to read (a node that did not
# answer is asked again then)
REFRESH_S = 5.0
# how long a miner's policy and period offset are kept before reading again
READ_EVERY_S = 600.0
# a standby's chain reads are for its dashboard: a node slower than this is
# asked again at the next pass rather than waited on
READ_TIMEOUT_S = 5.0


class ProvingDeadlines(Protocol):
    """The chain read a standby makes (``LotusClient``'s)."""

    def state_miner_proving_deadline(self, miner: int) -> ProvingDeadline: ...

    def close(self) -> None: ...


class StandbyChain:
    """The leader's chain as a standby shows it: ``refresh`` on the
    scheduler (reads the miners not read yet, or not for a while), ``facts``
    for the dashboard (the lease's leader and epoch, the miners read)."""

    def __init__(
        self,
        config: ChainConfig,
        leadership: Callable[[], Leadership],
        node: Callable[[], ProvingDeadlines],
        *,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        read_every_s: float = READ_EVERY_S,
    ) -> None:
        self.config = config
        self.leadership = leadership
        self._node_factory = node
        self._node: ProvingDeadlines | None = None
        self.clock = clock
        self.monotonic = monotonic
        self.read_every_s = read_every_s
        self._lock = threading.Lock()  # the scheduler writes, page threads read
        self._heads: dict[int, tuple[float, DeadlineInfo]] = {}

    def refresh(self) -> None:
        """Reads each miner whose policy is not known, or not for a while; a
        node that does not answer is asked again at the next pass."""
        now = self.monotonic()
        with self._lock:
            due = [
                m
                for m in self.config.miners
                if m not in self._heads or now - self._heads[m][0] >= self.read_every_s
            ]
        if not due:
            return
        if self._node is None:
            self._node = self._node_factory()
        for miner in due:
            try:
                head = self._node.state_miner_proving_deadline(miner)
            except (LotusError, ValueError, KeyError) as exc:
                log.warning("standby_chain_read_failed", miner=miner, error=str(exc))
                return
            with self._lock:
                self._heads[miner] = (now, head.info)

    def facts(self) -> ChainFacts:
        """The chain view at the leader's last published epoch, naming the
        leader ("" while none holds a live lease). ``StoreUnavailable`` when
        the lease cannot be read: the page answers 503, as for its other
        reads, rather than a view without a chain."""
        lead = self.leadership()
        with self._lock:
            heads = {m: info for m, (_, info) in self._heads.items()}
        return ChainFacts(
            epoch=lead.epoch,
            miners=list(self.config.miners),
            heads=heads,
            confidence=self.config.confidence,
            shadow=self.config.shadow,
            leader=lead.holder if lead.live(self.clock()) else "",
        )

    def close(self) -> None:
        if self._node is not None:
            self._node.close()


def standby_chain(
    config: ChainConfig,
    leadership: Callable[[], Leadership],
    *,
    clock: Callable[[], datetime] = utcnow,
) -> StandbyChain | None:
    """A manager's view of the leader's chain for while it stands by, None
    where it follows no chain. Its node is a Lotus client of its own,
    read-only (a standby sends nothing) and with a short timeout and no
    retries (the scheduler's pass waits on it)."""
    if not config.api:
        return None
    return StandbyChain(
        config,
        leadership,
        lambda: LotusClient.from_env(
            config.api,
            network=config.network,
            epoch_seconds=config.epoch_seconds,
            read_only=True,
            timeout=READ_TIMEOUT_S,
            retries=0,
        ),
        clock=clock,
    )
