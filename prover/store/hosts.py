"""``StorageHosts``: the manager's index of which storage host serves which
storage. A host's announcement (``AnnounceStorage``, repeated every few
seconds) is its registration and its heartbeat at once, so the index never
needs a separate sweep: a host is live while its last announcement is
younger than the timeout, and a host that comes back under the same name
simply announces again (with a new address, if it moved)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlmodel import col, select

from prover.store.database import Database, unavailable_on_db_errors, utcnow
from prover.store.models import StorageHostRow


class StorageHosts:
    def __init__(
        self, db: Database, *, clock: Callable[[], datetime] = utcnow, timeout_s: float = 15.0
    ) -> None:
        self.db = db
        self.clock = clock
        self.timeout = timedelta(seconds=timeout_s)

    @unavailable_on_db_errors
    def announce(
        self,
        name: str,
        *,
        address: str,
        storages: Iterable[str],
        host: str = "",
        version: str = "",
        tls: bool = False,
        api_version: int | None = None,
    ) -> StorageHostRow:
        """Records a host's announcement (creating it the first time);
        ``api_version`` is None for a host of 0.1.0."""
        now = self.clock()
        attached = sorted(set(storages))
        with self.db.transaction() as s:
            row = s.get(StorageHostRow, name)
            if row is None:
                row = StorageHostRow(name=name, address=address, registered_at=now)
            elif row.address != address or row.storages != attached:
                row.registered_at = now  # moved or re-attached: a new registration
            row.address, row.host, row.version, row.tls = address, host, version, tls
            row.api_version = api_version
            row.storages = attached
            row.last_seen_at = now
            s.add(row)
        return row

    def live(self, row: StorageHostRow) -> bool:
        """Heard from within the timeout. A host's silence counts only from
        when it could have been heard: while the database was away its
        announcements failed, so after an outage every host has a timeout
        from the outage's last moment (seen by this manager) before it is
        judged gone; its sectors are not lost for a silence not its own."""
        seen = row.last_seen_at
        outage = self.db.unavailable_at
        if outage is not None and outage > seen:
            seen = outage
        return self.clock() - seen <= self.timeout

    @unavailable_on_db_errors
    def list(self) -> list[StorageHostRow]:
        with self.db.transaction() as s:
            return list(s.exec(select(StorageHostRow).order_by(col(StorageHostRow.name))).all())

    def serving(self, storages: Iterable[str]) -> list[StorageHostRow]:
        """Hosts that attach any of ``storages``: the live ones first, each
        part most recently heard from first (a table of a few dozen hosts:
        filtered here, not in SQL, as JSON membership differs between the
        two databases). The dead ones are listed too: they say that the
        storage is served by hosts, which are down, rather than by nobody."""
        wanted = set(storages)
        hosts = [h for h in self.list() if wanted & set(h.storages)]
        return sorted(hosts, key=lambda h: (not self.live(h), -h.last_seen_at.timestamp()))
