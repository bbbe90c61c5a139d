"""Slow network storage on one machine: a FUSE pass-through with read latency.

Storage providers' most common proving failure is a loaded NFS server: every
read of a Merkle path waits milliseconds for the network (lotus #6720,
#3947). This mounts a directory of real sector files at a second path and
makes every read there wait ``latency_s`` first, so the proving code can be
measured against slow storage without a second machine. It is built on
``mfusepy`` (ctypes over libfuse 3 or 2) rather than code of our own
speaking the FUSE protocol.

What a "read" is. The latency is paid once per FUSE READ request that
reaches this process, not per ``pread`` a program makes:

- The kernel's page cache sits in front of the mount, as an NFS client's
  does. A read that misses it becomes one READ of at least a page, widened
  by readahead (``max_readahead``, 128 KiB by default) and split into
  ``max_read``-sized requests; reads that hit pages already fetched cost
  nothing. Each ``open`` of a file drops its cached pages (no
  ``kernel_cache``/``keep_cache``), so every new opener pays again, like
  NFS's close-to-open revalidation after a change.
- ``direct_io=True`` turns that cache off: every read syscall becomes READs
  of exactly what was asked for. That is an uncached worst case (each
  32-byte node read a round trip), not what an NFS client does.
- Lookups, ``getattr``, ``open`` and directory listings carry no added
  latency (the kernel caches attributes for a second anyway).

How the proofs library reads (checked with strace on an 8MiB vanilla
proof, filecoin-proofs 19): ``p_aux`` with read(2); the replica with pread
(16 KiB per challenge to rebuild the discarded tree rows, then 32-byte
leaves); ``sc-02-data-tree-r-last.dat`` with 32-byte preads, opened
``O_RDWR``. Nothing is mmapped, so every byte goes through ``read`` below
and the latency is really paid (``tests/integration/test_slowfs.py`` and
``python bench/slowfs.py --self-test`` measure it). The challenges of one
sector are read on rayon's global pool, not on the calling thread.

Writes are refused (``EROFS``), but opening for writing is allowed: the
proofs library opens tree files read-write even to prove.

    python bench/slowfs.py SOURCE MOUNTPOINT --latency-ms 10   # until Ctrl-C
    python bench/slowfs.py --self-test                          # measure it

From Python, ``SlowMount`` runs the file system in a child process for the
duration of a ``with`` block, and ``stats()`` reads its counters from a
hidden control file at the mount's root (``.slowfs-stats``, never cached,
no latency).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

STATS_NAME = ".slowfs-stats"
_STATS_PATH = "/" + STATS_NAME
_STATS_FH = 1 << 62  # handles from here up are snapshots of the counters, not files
_WRITE_FLAGS = os.O_CREAT | os.O_TRUNC | os.O_APPEND


def fuse_unavailable() -> str | None:
    """Why a FUSE mount cannot be made here, or None when it can."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    try:
        import mfusepy  # noqa: F401
    except ImportError:
        return "mfusepy is not installed (pip install -e '.[bench]')"
    except OSError as exc:  # mfusepy found no libfuse
        return f"libfuse cannot be loaded: {exc}"
    if os.geteuid() != 0 and not _unmount_command():
        return "not root and no fusermount3/fusermount to mount and unmount with"
    return None


def _unmount_command() -> list[str] | None:
    for tool in ("fusermount3", "fusermount"):
        path = shutil.which(tool)
        if path:
            return [path, "-u"]
    if shutil.which("umount") and os.geteuid() == 0:
        return ["umount"]
    return None


def is_mounted(path: Path) -> bool:
    """Whether ``path`` is a mount point in this mount namespace (read from
    /proc, not by stat-ing the path: a dead FUSE server makes stat hang or
    fail with ENOTCONN)."""
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mount_point = fields[4].encode().decode("unicode_escape")
            if mount_point == target:
                return True
    return False


def _serve(source: Path, mountpoint: Path, latency_s: float, direct_io: bool) -> None:
    """Runs the file system in the foreground until it is unmounted."""
    import mfusepy

    class SlowFS(mfusepy.Operations):
        """Pass-through of ``source`` with ``latency_s`` before every READ.

        libfuse runs callbacks on a pool of threads (``max_threads``), and
        the sleep releases the GIL, so concurrent reads wait concurrently,
        as requests in flight to one NFS server do."""

        use_ns = True

        def __init__(self) -> None:
            self.root = str(source)
            self.lock = threading.Lock()
            self.reads = 0
            self.bytes = 0
            self.opens = 0
            self.inflight = 0
            self.max_inflight = 0
            self.snapshots: dict[int, bytes] = {}
            self.next_snapshot = _STATS_FH

        def _real(self, path: str) -> str:
            return self.root + path

        def init_with_config(self, conn_info: Any, config_3: Any) -> None:
            if conn_info is not None:
                # Readahead and page-cache reads are "background" requests;
                # the kernel holds back more than max_background of them
                # (12 by default), which would cap parallel reads below what
                # a prover asks for. Let many be in flight, as over NFS.
                conn_info.max_background = 128
                conn_info.congestion_threshold = 96
            if config_3 is not None:
                config_3.kernel_cache = 0
                config_3.auto_cache = 0
                config_3.direct_io = 1 if direct_io else 0

        def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
            if path == _STATS_PATH:
                return {"st_mode": 0o100444, "st_nlink": 1, "st_size": 0}
            try:
                st = os.lstat(self._real(path))
            except OSError as exc:
                raise mfusepy.FuseOSError(exc.errno) from None
            keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks")
            attrs = {k: getattr(st, k) for k in keys}
            attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
            return attrs

        def readdir(self, path: str, fh: Any) -> list[str]:
            try:
                return [".", "..", *os.listdir(self._real(path))]
            except OSError as exc:
                raise mfusepy.FuseOSError(exc.errno) from None

        def readlink(self, path: str) -> str:
            return os.readlink(self._real(path))

        def statfs(self, path: str) -> dict[str, int]:
            st = os.statvfs(self._real(path))
            keys = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files")
            return {k: getattr(st, k) for k in (*keys, "f_ffree", "f_favail", "f_namemax")}

        def open(self, path: str, fi: Any) -> int:
            if path == _STATS_PATH:
                # The counters as of this open, so that reading them in
                # several calls cannot tear; direct_io as the size is only
                # known now.
                with self.lock:
                    fi.fh = self.next_snapshot
                    self.next_snapshot += 1
                    self.snapshots[fi.fh] = self._snapshot()
                fi.direct_io = 1
                return 0
            if fi.flags & _WRITE_FLAGS:
                raise mfusepy.FuseOSError(errno.EROFS)
            try:
                # Read-only underneath, whatever was asked: writes are
                # refused anyway, and the source may be read-only.
                fi.fh = os.open(self._real(path), os.O_RDONLY)
            except OSError as exc:
                raise mfusepy.FuseOSError(exc.errno) from None
            with self.lock:
                self.opens += 1
            return 0

        def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
            if fi.fh >= _STATS_FH:
                return self.snapshots[fi.fh][offset : offset + size]
            with self.lock:
                self.inflight += 1
                self.max_inflight = max(self.max_inflight, self.inflight)
            data = b""
            try:
                if latency_s > 0:
                    time.sleep(latency_s)
                data = os.pread(fi.fh, size, offset)
            except OSError as exc:
                raise mfusepy.FuseOSError(exc.errno) from None
            finally:
                with self.lock:
                    self.inflight -= 1
                    self.reads += 1
                    self.bytes += len(data)
            return data

        def _snapshot(self) -> bytes:
            """The counters, with the peak of READs in flight since the
            previous snapshot (then reset to those in flight now), so that
            two reads of the stats bracket one measurement. Lock held."""
            stats = {
                "latency_s": latency_s,
                "direct_io": direct_io,
                "reads": self.reads,
                "bytes": self.bytes,
                "opens": self.opens,
                "max_inflight": self.max_inflight,
            }
            self.max_inflight = self.inflight
            return json.dumps(stats).encode()

        def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
            raise mfusepy.FuseOSError(errno.EROFS)

        def truncate(self, path: str, length: int, fh: Any = None) -> int:
            raise mfusepy.FuseOSError(errno.EROFS)

        def release(self, path: str, fi: Any) -> int:
            if fi.fh >= _STATS_FH:
                with self.lock:
                    self.snapshots.pop(fi.fh, None)
            else:
                os.close(fi.fh)
            return 0

    mfusepy.FUSE(
        SlowFS(),
        str(mountpoint),
        raw_fi=True,
        foreground=True,
        fsname=f"slowfs:{source}",
        subtype="slowfs",
        # more threads than the most reads a benchmark keeps in flight
        max_threads=256,
    )


@dataclass(frozen=True)
class SlowStats:
    """Counters since the mount: READ requests served, bytes returned and
    files opened; and the most READs that were waiting at once since the
    previous ``stats()``. ``after - before`` is one measurement's share,
    its peak the one seen since ``before`` was read."""

    reads: int
    bytes: int
    opens: int
    max_inflight: int

    def __sub__(self, other: SlowStats) -> SlowStats:
        return SlowStats(
            self.reads - other.reads,
            self.bytes - other.bytes,
            self.opens - other.opens,
            self.max_inflight,
        )


class SlowMount(contextlib.AbstractContextManager["SlowMount"]):
    """``source`` seen at ``mountpoint`` with ``latency_s`` added to every
    read, for the duration of a ``with`` block.

    The file system runs in a child process of its own session, so that a
    proof reading through it never shares a GIL with the server answering
    it, and a Ctrl-C in the terminal reaches this process, which unmounts
    (``fusermount3 -u``, lazily if the mount is busy) before the child is
    stopped. The mount point is made if missing."""

    def __init__(
        self,
        source: str | os.PathLike[str],
        mountpoint: str | os.PathLike[str],
        latency_s: float,
        *,
        direct_io: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.source = Path(source).resolve()
        self.mountpoint = Path(mountpoint)
        self.latency_s = latency_s
        self.direct_io = direct_io
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def __enter__(self) -> SlowMount:
        reason = fuse_unavailable()
        if reason:
            raise RuntimeError(f"cannot mount slowfs: {reason}")
        if not self.source.is_dir():
            raise FileNotFoundError(f"slowfs source {self.source} is not a directory")
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        if is_mounted(self.mountpoint):
            raise RuntimeError(f"{self.mountpoint} is already a mount point")
        self._log = tempfile.TemporaryFile()
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve"]
        cmd += [str(self.source), str(self.mountpoint), "--latency-ms", str(self.latency_s * 1e3)]
        if self.direct_io:
            cmd.append("--direct-io")
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        until = time.monotonic() + self.timeout
        try:
            while not is_mounted(self.mountpoint):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"slowfs exited ({self.proc.returncode}): {self._output()}")
                if time.monotonic() > until:
                    raise RuntimeError(f"slowfs did not mount in {self.timeout:g} s")
                time.sleep(0.02)
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def stats(self) -> SlowStats:
        d = json.loads((self.mountpoint / STATS_NAME).read_bytes())
        return SlowStats(d["reads"], d["bytes"], d["opens"], d["max_inflight"])

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()[-2000:]

    def _stop(self) -> None:
        """Unmounts, then makes sure the server is gone. Runs on every exit
        of the ``with`` block, KeyboardInterrupt included; a mount left
        behind would make every later stat of the path fail."""
        if is_mounted(self.mountpoint):
            cmd = _unmount_command() or ["umount"]
            done = subprocess.run([*cmd, str(self.mountpoint)], capture_output=True)
            if done.returncode != 0:
                # busy (a reader still holds a file): detach it now, the
                # kernel lets the last reader finish
                lazy = [*cmd, "-z"] if "fusermount" in cmd[0] else ["umount", "-l"]
                subprocess.run([*lazy, str(self.mountpoint)], capture_output=True)
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


def self_test(latency_ms: float = 20.0, reads: int = 5) -> dict[str, float]:
    """Reads a file through the mount at 0 and ``latency_ms``: the seconds
    each read took, and whether the bytes came through unchanged."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="slowfs-selftest-") as tmp:
        src, mnt = Path(tmp) / "src", Path(tmp) / "mnt"
        src.mkdir()
        payload = os.urandom(reads * 1024 * 1024)
        (src / "data").write_bytes(payload)
        for ms in (0.0, latency_ms):
            with SlowMount(src, mnt, ms / 1e3) as m:
                before = m.stats()
                t0 = time.perf_counter()
                with open(mnt / "data", "rb", buffering=0) as f:
                    got = b"".join(
                        os.pread(f.fileno(), 4096, i * 1024 * 1024) for i in range(reads)
                    )
                per_read = (time.perf_counter() - t0) / reads
                served = m.stats() - before
            expected = b"".join(payload[i * 1024 * 1024 :][:4096] for i in range(reads))
            out[f"{ms:g}ms_per_read_s"] = per_read
            out[f"{ms:g}ms_fuse_reads"] = served.reads
            out[f"{ms:g}ms_bytes_ok"] = float(got == expected)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path)
    parser.add_argument("mountpoint", nargs="?", type=Path)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--direct-io", action="store_true", help="bypass the page cache")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--self-test", action="store_true", help="measure the added latency")
    args = parser.parse_args()
    if args.self_test:
        print(json.dumps(self_test(args.latency_ms), indent=1))
        return 0
    if not (args.source and args.mountpoint):
        parser.error("SOURCE and MOUNTPOINT are required")
    if args.serve:
        _serve(args.source.resolve(), args.mountpoint, args.latency_ms / 1e3, args.direct_io)
        return 0
    with SlowMount(args.source, args.mountpoint, args.latency_ms / 1e3, direct_io=args.direct_io):
        print(f"{args.source} at {args.mountpoint}, {args.latency_ms:g} ms per read; Ctrl-C ends")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
