"""The worker's spool: finished results on disk until a manager has taken
them, so that a proof outlives a worker killed while no manager answered.

One file per result, named by job id and attempt, holding the exact
``FinishRequest`` the worker sends (its serialized protobuf bytes), so a
restarted worker sends the same request and the manager's usual checks
(is this attempt still current, is the proof valid) decide its fate. A
file is written whole or not at all (temporary file, fsync, rename, fsync
of the directory) before the Finish leaves the worker, and removed once a
manager answered it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from google.protobuf.message import DecodeError

from prover._proto import manager_pb2 as pb
from prover.logs import get_logger

log = get_logger("prover.worker")

_NAME = re.compile(r"^finish-(\d+)-(\d+)\.pb$")
_TMP_SUFFIX = ".tmp"


class Spool:
    """Finished results of one worker, in ``directory`` (created, 0700)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def path(self, job_id: int, attempt: int) -> Path:
        return self.directory / f"finish-{job_id}-{attempt}.pb"

    def put(self, req: pb.FinishRequest) -> Path:
        """Writes ``req`` atomically: after a crash the file is there whole
        or not at all, and once this returns it survives a power cut."""
        final = self.path(req.job_id, req.attempt)
        tmp = final.with_name("." + final.name + _TMP_SUFFIX)
        data = req.SerializeToString()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        self._sync_dir()
        return final

    def remove(self, job_id: int, attempt: int) -> None:
        """Forgets a result a manager has answered (a file already gone is
        fine: a repeat of the Finish is answered as a duplicate anyway)."""
        try:
            self.path(job_id, attempt).unlink()
        except FileNotFoundError:
            return
        self._sync_dir()

    def load(self) -> list[pb.FinishRequest]:
        """Every result still to deliver, oldest job first. A temporary file
        is a write a crash cut short (its Finish was never sent): removed.
        A file that does not parse, or whose content is not the job its
        name says, is set aside as ``.bad`` and logged, never sent."""
        results = []
        for entry in sorted(self.directory.iterdir()):
            if entry.name.startswith(".") and entry.name.endswith(_TMP_SUFFIX):
                entry.unlink(missing_ok=True)
                continue
            m = _NAME.match(entry.name)
            if m is None:
                continue
            req = pb.FinishRequest()
            try:
                req.ParseFromString(entry.read_bytes())
                problem = None
                if (req.job_id, req.attempt) != (int(m[1]), int(m[2])):
                    problem = f"holds job {req.job_id} attempt {req.attempt}"
            except DecodeError as exc:
                problem = f"does not parse: {exc}"
            if problem:
                bad = entry.with_name(entry.name + ".bad")
                entry.rename(bad)
                log.error("spool_file_bad", path=str(entry), problem=problem, moved_to=str(bad))
                continue
            results.append(req)
        results.sort(key=lambda r: (r.job_id, r.attempt))
        return results

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
