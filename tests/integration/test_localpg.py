"""The demo's own PostgreSQL (prover.localpg): a server left running by a
demo that was killed (``pg_ctl`` detaches the server, so the kill reaches
only the demo) must not stop the next demo in that home from starting."""

from __future__ import annotations

import os

import psycopg
import pytest

from prover.localpg import LocalPostgres, NoPostgres, data_dir_for, pg_bin


def test_a_leftover_server_is_stopped_before_the_next_start(tmp_path):
    if pg_bin() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no PostgreSQL server installed (.ci/run installs Debian's postgresql)")
        pytest.skip("no PostgreSQL server installed")
    root = data_dir_for(tmp_path / "home")
    leftover = LocalPostgres(root).start()
    try:
        psycopg.connect(leftover.url, connect_timeout=5).close()
        # the demo that started it was killed -9; the next one picks another port
        after = LocalPostgres(root)
        assert after.running()
        with pytest.raises(NoPostgres):
            after.start()  # "another server might be running"
        after.start(replace_leftover=True)
        psycopg.connect(after.url, connect_timeout=5).close()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(leftover.url, connect_timeout=2).close()
    finally:
        LocalPostgres(root).close(remove=True)
    assert not root.exists()
