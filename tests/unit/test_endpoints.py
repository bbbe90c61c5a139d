"""Endpoint files (prover.endpoints): what a daemon writes once it listens,
read back whole, and never mistaken for another process's."""

from __future__ import annotations

import json
import os

from prover.endpoints import (
    Endpoint,
    read_endpoint,
    remove_endpoint,
    this_process,
    wait_for_endpoint,
    write_endpoint,
    write_text_atomically,
)


def test_an_endpoint_reads_back_as_written(tmp_path):
    path = tmp_path / "run" / "manager.json"  # its folder is made
    written = this_process("prover-manager", grpc="127.0.0.1:4001", http="127.0.0.1:4002")
    write_endpoint(path, written)
    got = read_endpoint(path, pid=os.getpid())
    assert got == written
    assert (got.grpc_port, got.http_port) == (4001, 4002)
    assert got.pid == os.getpid() and got.version
    assert json.loads(path.read_text())["daemon"] == "prover-manager"


def test_a_missing_listener_is_empty_and_port_0():
    endpoint = Endpoint("prover-worker", 1, "v")
    assert (endpoint.grpc, endpoint.grpc_port, endpoint.http_port) == ("", 0, 0)


def test_a_file_of_another_process_is_not_taken_for_the_one_started(tmp_path):
    path = tmp_path / "endpoint.json"
    write_endpoint(path, Endpoint("prover-storage", 99999999, "v", grpc="127.0.0.1:1"))
    assert read_endpoint(path) is not None
    assert read_endpoint(path, pid=12345) is None


def test_nothing_readable_is_none(tmp_path):
    path = tmp_path / "endpoint.json"
    assert read_endpoint(path) is None
    for text in ("", "{not json", "[1, 2]", '{"pid": 1}'):
        path.write_text(text)
        assert read_endpoint(path) is None, text


def test_unknown_keys_of_a_later_release_are_ignored(tmp_path):
    path = tmp_path / "endpoint.json"
    path.write_text(json.dumps({"daemon": "d", "pid": 7, "version": "v", "later": 1}))
    assert read_endpoint(path, pid=7) == Endpoint("d", 7, "v")


def test_the_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "endpoint"
    write_text_atomically(path, "first\n")
    write_text_atomically(path, "second\n")
    assert path.read_text() == "second\n"
    assert [p.name for p in tmp_path.iterdir()] == ["endpoint"]


def test_a_process_removes_only_its_own_file(tmp_path):
    path = tmp_path / "endpoint.json"
    write_endpoint(path, Endpoint("prover-manager", os.getpid() + 1, "v"))
    remove_endpoint(path)  # a newer process took the path: its file stays
    assert path.exists()
    write_endpoint(path, this_process("prover-manager"))
    remove_endpoint(path)
    assert not path.exists()
    remove_endpoint(path)  # already gone: nothing to do


def test_waiting_ends_when_the_process_is_gone(tmp_path):
    path = tmp_path / "endpoint.json"
    assert wait_for_endpoint(path, 1, timeout_s=5, gone=lambda: True) is None
    assert wait_for_endpoint(path, 1, timeout_s=0.1) is None
    write_endpoint(path, Endpoint("d", 1, "v"))
    assert wait_for_endpoint(path, 1, timeout_s=5) == Endpoint("d", 1, "v")
