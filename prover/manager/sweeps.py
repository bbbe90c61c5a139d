"""The manager's periodic passes, on APScheduler's one background thread:
the sweeps of the job table (heartbeats, deadlines, lifetime), the alert
watch's check and a standby's chain reads.

Only the leader sweeps: the sweeps change jobs, and a standby that swept
too would race the leader's tracker over the same rows. A pass that finds
the database away is skipped and said; the next one runs as usual. Each
pass runs at most once at a time, and passes missed while one ran late are
run once, not piled up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler

from prover.chain.clock import EpochClock
from prover.config import ManagerConfig
from prover.logs import get_logger
from prover.manager.alert_watch import AlertWatch
from prover.manager.dispatch import Dispatcher
from prover.manager.standby import REFRESH_S as STANDBY_READ_S
from prover.manager.standby import StandbyChain
from prover.store import JobStore, StoreUnavailable

log = get_logger("prover.manager")

# how often jobs past their lifetime are deleted
LIFETIME_SWEEP_S = 600


class Sweeps:
    """``start`` schedules every pass; ``stop`` ends them. ``leading``
    says whether this manager leads now; ``grace_until`` the time before
    which a running job's missed heartbeats are forgiven (a new term's
    grace: while nobody led, heartbeats had nowhere to go)."""

    def __init__(
        self,
        config: ManagerConfig,
        store: JobStore,
        dispatcher: Dispatcher,
        epochs: EpochClock,
        alert_watch: AlertWatch,
        standby: StandbyChain | None,
        *,
        leading: Callable[[], bool],
        grace_until: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.store = store
        self.dispatcher = dispatcher
        self.epochs = epochs
        self.alert_watch = alert_watch
        self.standby = standby
        self.leading = leading
        self.grace_until = grace_until
        self.scheduler = BackgroundScheduler(timezone="UTC")

    def start(self) -> Sweeps:
        every = self.config.jobs.sweep_interval_s
        for sweep, seconds in (
            (self.sweep_heartbeats, every),
            (self.sweep_deadlines, every),
            (self.sweep_lifetime, LIFETIME_SWEEP_S),
            (self.check_alerts, self.config.alerts.interval_s),
            (self.read_standby_chain, STANDBY_READ_S),
        ):
            self.scheduler.add_job(
                sweep, "interval", seconds=seconds, max_instances=1, coalesce=True
            )
        self.scheduler.start()
        return self

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)

    def _sweep(self, name: str, fn: Callable[[], list | int]) -> None:
        if not self.leading():
            return  # the leader sweeps
        try:
            touched = fn()
        except StoreUnavailable as exc:
            log.warning("sweep_skipped", sweep=name, error=str(exc))
            return
        if touched:
            log.info("sweep", sweep=name, jobs=touched)
            self.dispatcher.kick()

    def sweep_heartbeats(self) -> None:
        self._sweep("heartbeat", lambda: self.store.sweep_heartbeats(self.grace_until()))

    def sweep_deadlines(self) -> None:
        epoch = self.epochs.epoch()
        if epoch is not None:
            self._sweep("deadline", lambda: self.store.sweep_deadlines(epoch))

    def sweep_lifetime(self) -> None:
        self._sweep("lifetime", self.store.sweep_lifetime)

    def check_alerts(self) -> None:
        """The alert watch's pass: every condition on the leader; on a
        standby only whether anyone leads."""
        self.alert_watch.check(leading=self.leading())

    def read_standby_chain(self) -> None:
        """The standby's chain reads (a no-op once each miner is read); the
        leader's dashboard has its tracker's."""
        if self.standby is not None and not self.leading():
            self.standby.refresh()
