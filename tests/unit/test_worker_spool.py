"""The worker's spool: a finished result is on disk whole before its Finish
is sent, read back exactly, removed once answered; torn and foreign files
never get sent."""

from __future__ import annotations

import os

from prover._proto import manager_pb2 as pb
from prover.worker.config import WorkerConfig, default_spool_dir
from prover.worker.spool import Spool


def _result(job_id: int = 7, attempt: int = 2, **kw) -> pb.FinishRequest:
    req = pb.FinishRequest(worker="w1", job_id=job_id, attempt=attempt, **kw)
    req.timings.snark = 1.5
    return req


def test_a_result_is_written_read_back_exactly_and_removed(tmp_path):
    spool = Spool(tmp_path / "spool")
    ok = _result(proof=b"\x01" * 192, success=True, faulty=[3, 4])
    failed = _result(job_id=3, attempt=1, success=False, error="compute process died")
    path = spool.put(ok)
    spool.put(failed)
    assert path.name == "finish-7-2.pb" and path == spool.path(7, 2)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "spool").stat().st_mode & 0o777) == "0o700"
    assert [(r.job_id, r.attempt) for r in spool.load()] == [(3, 1), (7, 2)]
    assert spool.load()[1] == ok and spool.load()[0] == failed
    assert not [p for p in (tmp_path / "spool").iterdir() if p.name.startswith(".")]
    spool.remove(7, 2)
    spool.remove(7, 2)  # again: already gone is fine
    assert spool.load() == [failed]


def test_rewriting_a_result_replaces_it(tmp_path):
    spool = Spool(tmp_path)
    spool.put(_result(error="first"))
    spool.put(_result(error="second"))
    (only,) = spool.load()
    assert only.error == "second"


def test_a_torn_write_is_dropped_and_a_bad_file_set_aside(tmp_path):
    spool = Spool(tmp_path)
    spool.put(_result(job_id=1, attempt=1))
    # a crash between the temporary file and the rename: never sent
    (tmp_path / ".finish-2-1.pb.tmp").write_bytes(b"\x08")
    # a file that does not parse, and one whose content is another job
    (tmp_path / "finish-3-1.pb").write_bytes(b"\xff\xff\xff")
    (tmp_path / "finish-4-1.pb").write_bytes(_result(job_id=5, attempt=1).SerializeToString())
    (tmp_path / "notes.txt").write_text("not ours")
    assert [(r.job_id, r.attempt) for r in spool.load()] == [(1, 1)]
    names = sorted(os.listdir(tmp_path))
    assert names == ["finish-1-1.pb", "finish-3-1.pb.bad", "finish-4-1.pb.bad", "notes.txt"]


def test_the_default_spool_is_per_worker_and_outside_the_per_process_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "env"))
    assert default_spool_dir(WorkerConfig(name="box1-gpu0")) == (
        tmp_path / "env" / "prover-spool-box1-gpu0"
    )
    cfg = WorkerConfig(name="box1-gpu1", tmpdir=tmp_path / "t")
    assert default_spool_dir(cfg) == tmp_path / "t" / "prover-spool-box1-gpu1"
