"""How the demo learns its processes' ports: from the endpoint file each
writes (prover.endpoints), only from the run it started."""

from __future__ import annotations

from types import SimpleNamespace

import click
import pytest

from prover.cli.demo import _metrics_address, _Proc, _wait_for_manager
from prover.endpoints import Endpoint, write_endpoint


def proc(tmp_path, pid: int, exited: int | None = None) -> _Proc:
    p = _Proc("manager", lambda: [], {}, tmp_path / "m.log", tmp_path / "endpoint.json")
    p.popen = SimpleNamespace(pid=pid, poll=lambda: exited)
    return p


def test_a_manager_is_known_by_its_endpoint_file(tmp_path):
    p = proc(tmp_path, 4242)
    write_endpoint(
        p.endpoint, Endpoint("prover-manager", 4242, "v", grpc="127.0.0.1:7001", http="h:7002")
    )
    _wait_for_manager(p)
    assert (p.port, p.http) == (7001, "h:7002")


def test_a_file_left_by_an_earlier_run_is_not_read(tmp_path):
    p = proc(tmp_path, 4242)
    write_endpoint(p.endpoint, Endpoint("prover-worker", 1111, "v", http="127.0.0.1:9"))
    assert _metrics_address(p) == ""
    write_endpoint(p.endpoint, Endpoint("prover-worker", 4242, "v", http="127.0.0.1:9"))
    assert _metrics_address(p) == "127.0.0.1:9"


def test_a_manager_that_exits_before_its_file_is_said(tmp_path):
    with pytest.raises(click.ClickException, match="manager exited; see"):
        _wait_for_manager(proc(tmp_path, 4242, exited=1))
