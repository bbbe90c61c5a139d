"""A job's sectors in the compact form the job table stores.

A 32GiB partition holds 2349 sectors. As JSON objects they took about
385 kB a job, three quarters of it keys, hex and storage names repeated
2349 times. Packed, a job costs its comm_rs (32 bytes each, random, so
incompressible) plus a few hundred bytes: sector numbers as deltas (mostly
1), storage names once with an index per sector, all deflated.

Layout, version 1 (integers little-endian)::

    u8   version (1)
    u32  length of the deflated part
    deflate(
        u32 sector count n
        u16 storage name count k, then k x (u16 length, UTF-8 name)
        n x i64  sector number minus the previous one (the first: itself)
        n x u16  replica storage index
        n x u16  cache storage index
        n x u8   1 when snap-upgraded
    )
    n x 32 bytes comm_r, in sector order

Order is kept as given (the planner writes ascending, a job file may not).
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from itertools import accumulate

from prover.proofs.layout import SectorRef

VERSION = 1
COMM_R_LEN = 32
_HEAD = struct.Struct("<BI")
_LITTLE = sys.byteorder == "little"


def _le(a: array) -> bytes:
    if not _LITTLE:
        a.byteswap()
    return a.tobytes()


def _read(code: str, raw: bytes | memoryview, at: int, n: int) -> tuple[array, int]:
    a = array(code)
    end = at + n * a.itemsize
    a.frombytes(raw[at:end])
    if len(a) != n:
        raise ValueError("packed sectors are truncated")
    if not _LITTLE:
        a.byteswap()
    return a, end


def pack(sectors: Sequence[SectorRef]) -> bytes:
    names: dict[str, int] = {}
    sealed, cache, upgraded, deltas = array("H"), array("H"), array("B"), array("q")
    comm = bytearray()
    prev = 0
    for s in sectors:
        if len(s.comm_r) != COMM_R_LEN:
            raise ValueError(f"comm_r of sector {s.id} is {len(s.comm_r)} bytes, not 32")
        deltas.append(s.id - prev)
        prev = s.id
        sealed.append(names.setdefault(s.sealed_storage, len(names)))
        cache.append(names.setdefault(s.cache_storage, len(names)))
        upgraded.append(1 if s.upgraded else 0)
        comm += s.comm_r
    if len(names) > 0xFFFF:
        raise ValueError("more than 65535 storage names in one job")
    meta = bytearray(struct.pack("<IH", len(sectors), len(names)))
    for name in names:  # insertion order = index order
        raw = name.encode()
        meta += struct.pack("<H", len(raw)) + raw
    meta += _le(deltas) + _le(sealed) + _le(cache) + upgraded.tobytes()
    deflated = zlib.compress(bytes(meta), 6)
    return _HEAD.pack(VERSION, len(deflated)) + deflated + bytes(comm)


def unpack(blob: bytes) -> list[SectorRef]:
    """The sectors of ``pack``; ``ValueError`` for anything else. Every claim
    and detailed listing passes here, so it builds the tuples directly."""
    if len(blob) < _HEAD.size:
        raise ValueError("packed sectors are truncated")
    version, dlen = _HEAD.unpack_from(blob)
    if version != VERSION:
        raise ValueError(f"packed sectors of unknown version {version}")
    try:
        meta = zlib.decompress(blob[_HEAD.size : _HEAD.size + dlen])
    except zlib.error as exc:
        raise ValueError(f"packed sectors are corrupt: {exc}") from exc
    n, k = struct.unpack_from("<IH", meta)
    at, names = 6, []
    for _ in range(k):
        (length,) = struct.unpack_from("<H", meta, at)
        names.append(meta[at + 2 : at + 2 + length].decode())
        at += 2 + length
    deltas, at = _read("q", meta, at, n)
    sealed, at = _read("H", meta, at, n)
    cache, at = _read("H", meta, at, n)
    upgraded, at = _read("B", meta, at, n)
    comm_at = _HEAD.size + dlen
    if len(blob) - comm_at != n * COMM_R_LEN:
        raise ValueError("packed sectors: comm_r section does not match the sector count")
    new = tuple.__new__
    return [
        new(SectorRef, (sid, blob[c : c + COMM_R_LEN], names[a], names[b], u == 1))
        for sid, c, a, b, u in zip(
            accumulate(deltas),
            range(comm_at, len(blob), COMM_R_LEN),
            sealed,
            cache,
            upgraded,
            strict=True,
        )
    ]
