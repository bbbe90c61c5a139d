"""bench/slowfs.py, the slow-storage emulation of issue 11's benchmark:
every figure it yields rests on the latency being really paid per read and
on the bytes arriving unchanged, so both are measured here on a real mount.

Skipped, with the reason, where FUSE cannot mount (no /dev/fuse, no
libfuse, mfusepy missing); with CI=true that fails instead: ``.ci/run``
installs Debian's fuse3, and mfusepy comes with the ``test`` extra."""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import slowfs


@pytest.fixture(autouse=True)
def fuse_mountable() -> None:
    """Skip where FUSE cannot mount; in CI, fail: these tests must run there."""
    why = slowfs.fuse_unavailable()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"slowfs: {why}; CI must run the FUSE tests (see .ci/run)")
    pytest.skip(f"slowfs: {why}")


MIB = 1 << 20


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "cache" / "s-t01000-1").mkdir(parents=True)
    (src / "sealed").mkdir()
    (src / "sealed" / "s-t01000-1").write_bytes(os.urandom(4 * MIB))
    (src / "cache" / "s-t01000-1" / "p_aux").write_bytes(os.urandom(64))
    return src


def misses(path: Path, count: int) -> tuple[float, bytes]:
    """Seconds per pread of 4 KiB a MiB apart (each one a page-cache miss,
    so each one a FUSE READ), and the bytes read."""
    with open(path, "rb", buffering=0) as f:
        t0 = time.perf_counter()
        data = b"".join(os.pread(f.fileno(), 4096, i * MIB + 123) for i in range(count))
        return (time.perf_counter() - t0) / count, data


def test_bytes_pass_through_unchanged(source, tmp_path):
    mnt = tmp_path / "mnt"
    with slowfs.SlowMount(source, mnt, 0.0):
        for rel in ("sealed/s-t01000-1", "cache/s-t01000-1/p_aux"):
            assert (mnt / rel).read_bytes() == (source / rel).read_bytes()
        assert sorted(os.listdir(mnt)) == ["cache", "sealed"]  # the control file is hidden
        assert (mnt / "sealed" / "s-t01000-1").stat().st_size == 4 * MIB
    assert not slowfs.is_mounted(mnt)


def test_each_read_pays_the_latency_once(source, tmp_path):
    latency, n = 0.05, 4
    replica = "sealed/s-t01000-1"
    expected = b"".join((source / replica).read_bytes()[i * MIB + 123 :][:4096] for i in range(n))
    with slowfs.SlowMount(source, tmp_path / "fast", 0.0):
        fast, _ = misses(tmp_path / "fast" / replica, n)
    with slowfs.SlowMount(source, tmp_path / "slow", latency) as m:
        before = m.stats()
        slow, data = misses(tmp_path / "slow" / replica, n)
        served = m.stats() - before
        # within the same open, pages already fetched cost nothing more
        with open(tmp_path / "slow" / replica, "rb", buffering=0) as f:
            os.pread(f.fileno(), 4096, 0)
            t0 = time.perf_counter()
            os.pread(f.fileno(), 64, 100)
            cached = time.perf_counter() - t0
    assert data == expected
    assert served.reads == n
    assert slow >= latency, f"{slow * 1e3:.1f} ms per read at {latency * 1e3:g} ms latency"
    assert slow - fast >= 0.9 * latency
    assert slow < latency + 0.04, "the mount adds far more than asked"
    assert cached < latency / 2


def test_writes_are_refused_but_read_write_opens_work(source, tmp_path):
    """The proofs library opens tree-r-last O_RDWR even to prove."""
    with slowfs.SlowMount(source, tmp_path / "mnt", 0.0) as m:
        fd = os.open(m.mountpoint / "cache" / "s-t01000-1" / "p_aux", os.O_RDWR)
        try:
            assert len(os.pread(fd, 64, 0)) == 64
            with pytest.raises(OSError) as refused:
                os.pwrite(fd, b"x", 0)
            assert refused.value.errno == errno.EROFS
        finally:
            os.close(fd)


def test_unmounted_when_the_block_raises(source, tmp_path):
    mnt = tmp_path / "mnt"
    with pytest.raises(KeyboardInterrupt), slowfs.SlowMount(source, mnt, 0.0):
        assert slowfs.is_mounted(mnt)
        raise KeyboardInterrupt
    assert not slowfs.is_mounted(mnt)
