"""A PostgreSQL server of a test's own (``prover.localpg``, Debian's
binaries), so that the test may stop and start it: the shared one of
PROVER_TEST_POSTGRES_URL serves every other test and must stay up."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prover.localpg import LocalPostgres, pg_bin

__all__ = ["PrivateServer", "pg_bin"]


class PrivateServer(LocalPostgres):
    """In a directory of its own under /tmp (pytest's tmp, 0700 and root's,
    is closed to the postgres user the server runs as under root), removed
    by ``close``."""

    def __init__(self) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="prover-test-pg-")))

    def close(self) -> None:  # type: ignore[override]
        super().close(remove=True)
