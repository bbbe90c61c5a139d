"""This manager's chain work, a term of the chain lease at a time.

Every manager serves the APIs; the chain work (a tracker following the
chain, planning jobs, sending messages) runs only on the holder of the
chain lease (``prover.store.lease``). The lease thread renews or takes the
lease every ``[lease] renew_s``; at each new term it starts a fresh tracker
on a thread of its own, and stops it when the lease is lost. A standby
only follows the leader's epoch. As Lotus' wdpost scheduler starts and
stops its PoSt work at each head change, this starts and stops it at each
term; whatever a deposed leader's tracker still tries is refused by the
fence in the store, not here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from prover.api.tokens import make_token
from prover.chain.clock import EpochClock
from prover.chain.lotus import LotusClient
from prover.config import ManagerConfig
from prover.logs import get_logger
from prover.manager.alert_watch import AlertWatch
from prover.manager.dispatch import Dispatcher
from prover.storage.access import SectorAccess
from prover.storage.remote import HostAddress
from prover.store import JobStore, Ledger, StorageHosts, StoreUnavailable
from prover.store.lease import ChainLease
from prover.tracker import Tracker

log = get_logger("prover.manager")


class ChainWork:
    """``start`` takes the lease (or learns who holds it) at once, then
    steps every ``renew_s`` on the lease thread; ``stop_stepping`` then
    ``step_down`` end it. ``tracker`` and ``term`` are this manager's while
    it leads, None on a standby."""

    def __init__(
        self,
        config: ManagerConfig,
        lease: ChainLease,
        epochs: EpochClock,
        store: JobStore,
        ledger: Ledger,
        dispatcher: Dispatcher,
        alert_watch: AlertWatch,
        *,
        access: Callable[[], SectorAccess],
        clock: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.lease = lease
        self.epochs = epochs
        self.store = store
        self.ledger = ledger
        self.dispatcher = dispatcher
        self.alert_watch = alert_watch  # reads the term's tracker
        self.access = access  # a tracker's way to sector files, one per term
        self.clock = clock
        self.term: int | None = None
        self.tracker: Tracker | None = None
        # Running jobs get one full heartbeat timeout of grace at a new term:
        # their heartbeats may have had nowhere to go while nobody led.
        self.grace_until = clock()
        self._tracker_stop = threading.Event()
        self._tracker_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ChainWork:
        self.step()
        self._thread = threading.Thread(target=self._loop, name="lease", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stopping.wait(self.config.lease.renew_s):
            self.step()

    def step(self) -> None:
        try:
            self.lease.step(self.epochs.epoch() if self.term is not None else None)
        except StoreUnavailable as exc:
            # keep leading only while the last renewal is young enough
            # (``holds``); a standby simply waits for the database
            log.warning("lease_unreachable", error=str(exc), leader=self.lease.holds() is not None)
        held = self.lease.holds()
        with self._lock:
            if self._stopping.is_set():
                return
            if held is not None and held != self.term:
                self._stop_chain("new term")
                self._start_chain(held)
            elif held is None and self.term is not None:
                self._stop_chain("lease lost")
        if held is None and self.config.chain.api and self.lease.leader_epoch is not None:
            # a standby works at the leader's epoch (claims of closed
            # deadlines refused, status), as its step read it
            self.epochs.observe(self.lease.leader_epoch)

    def stop_stepping(self) -> None:
        """No step after this one returns (a step in flight starts nothing)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)

    def step_down(self, why: str) -> None:
        with self._lock:
            self._stop_chain(why)

    def _start_chain(self, term: int) -> None:
        cfg = self.config
        self.term = term
        self.grace_until = self.clock() + timedelta(seconds=cfg.jobs.heartbeat_timeout_s)
        log.info("leader_elected", name=self.lease.name, term=term)
        if not cfg.chain.api:
            return
        # in shadow mode the client itself refuses to sign, estimate or push
        client = LotusClient.from_env(
            cfg.chain.api,
            network=cfg.chain.network,
            epoch_seconds=cfg.chain.epoch_seconds,
            read_only=cfg.chain.shadow,
        )
        if cfg.chain.shadow:
            log.warning(
                "shadow_mode",
                miners=cfg.chain.miners,
                note="proving every deadline; nothing is signed or sent",
            )
        tracker = Tracker(
            self.store,
            self.ledger,
            client,
            cfg.chain,
            self.access(),
            clock=self.epochs,
            kick=self.dispatcher.kick,
        )
        self._tracker_stop = threading.Event()
        self._tracker_thread = threading.Thread(
            target=tracker.run, args=(self._tracker_stop,), name=f"tracker-{term}", daemon=True
        )
        self.tracker = tracker
        self.alert_watch.tracker = tracker
        self._tracker_thread.start()

    def _stop_chain(self, why: str) -> None:
        if self.term is None:
            return
        log.warning("leader_stepped_down", name=self.lease.name, term=self.term, reason=why)
        self.term = None
        tracker, self.tracker = self.tracker, None
        self.alert_watch.tracker = None
        if tracker is not None:
            self._tracker_stop.set()
            tracker.wake()
            if self._tracker_thread is not None:
                # a thread stuck in a node call is left behind: whatever it
                # tries to record or send is refused by the fence
                self._tracker_thread.join(10)
            tracker.close()


def sector_access(config: ManagerConfig, hosts: StorageHosts, secret: bytes) -> SectorAccess:
    """The manager's way to sector files: its [[storage]] mounts, else
    the live storage hosts of the index, asked with the worker token
    (which storage hosts take)."""

    def live() -> list[HostAddress]:
        return [
            HostAddress(h.name, h.address, frozenset(h.storages), h.tls)
            for h in hosts.list()
            if hosts.live(h)
        ]

    return SectorAccess(
        {s.name: s.path for s in config.storage},
        live,
        make_token(secret, "worker"),
        ca_file=config.api.tls.storage_ca,
        sector_timeout_s=config.chain.recovery_check_timeout_s,
        parallelism=config.chain.recovery_check_parallelism,
    )
