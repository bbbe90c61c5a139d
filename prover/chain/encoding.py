"""Filecoin encodings, written once: RLE+ bitfields (binary, inside CBOR) and
their JSON run-length form, ID addresses, ``SubmitWindowedPoSt``,
``DeclareFaultsRecovered`` and ``DisputeWindowedPoSt`` parameters, and
comm_r <-> SealedCID.

CBOR goes through cbor2 and multibase/varints through multiformats; only
RLE+, which no Python library implements, is written by hand here.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

import cbor2
from multiformats import multibase, varint

from prover.proofs.types import leb128

# ---- RLE+ ---------------------------------------------------------------------
#
# A bit stream, least significant bit first in each byte: version "00", the
# value of the first run, then runs alternating between 0 and 1, each
# "1" (length 1), "01" + 4 bits (2..15) or "00" + unsigned varint (16+).
# Trailing zeros are not encoded and trailing zero bytes are trimmed, so a
# decoder reads past the end as zeros (as go-bitfield does); an empty set is
# zero bytes.
#
# The encoding is unique, and the miner actor holds senders to it: its
# decoder (fvm_ipld_bitfield, ``rleplus/mod.rs`` and ``rleplus/reader.rs``)
# refuses any other encoding of a set, and so does ``decode_bitfield``: a
# version other than 00, a trailing zero byte, a last run of zeros (or a
# header and no run), a run in a longer block than it needs (a short block
# for 0 or 1, a long one for 0..15), a varint that is not minimal or longer
# than 10 bytes (its 10th byte at most 1), runs adding up past 2^64 - 1, and
# (``BitField``'s ``Deserialize``) more than 32 KiB of it. A message whose
# parameters carry such a bitfield fails to deserialize: the actor exits with
# USR_SERIALIZATION (21) before its method runs.

MAX_RUN = 1 << 63
BITFIELD_MAX_BYTES = 32 << 10  # fvm_ipld_bitfield's MAX_ENCODED_SIZE
_RUNS_LIMIT = 1 << 64  # the actor's total run length is a u64


class ParamsNotDeserializable(ValueError):
    """Message parameters that do not deserialize into the method's type
    (not CBOR, another shape, a field of another type, a bitfield the
    actor's decoder refuses). On chain the actor's dispatch fails on them
    before the method runs, with USR_SERIALIZATION (21), where a well-formed
    but wrong value is the method's illegal argument (16)."""


class BitfieldError(ParamsNotDeserializable):
    """An RLE+ bitfield the miner actor refuses to decode (malformed, or
    another encoding of a set than the one ``encode_bitfield`` writes); the
    message names what is wrong."""


class _Bits:
    def __init__(self) -> None:
        self.out = bytearray()
        self.n = 0

    def put(self, value: int, width: int) -> None:
        for i in range(width):
            if self.n % 8 == 0:
                self.out.append(0)
            if (value >> i) & 1:
                self.out[-1] |= 1 << (self.n % 8)
            self.n += 1


def _runs(bits: set[int]) -> list[int]:
    runs, prev = [], -1
    for start, end in _ranges(bits):
        runs += [start - prev - 1, end - start + 1]
        prev = end
    return runs


def _ranges(bits: set[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for b in sorted(bits):
        if out and b == out[-1][1] + 1:
            out[-1] = (out[-1][0], b)
        else:
            out.append((b, b))
    return out


def encode_bitfield(bits: Iterable[int]) -> bytes:
    values = set(bits)
    if any(not isinstance(b, int) or b < 0 or b >= MAX_RUN for b in values):
        raise ValueError("bitfield members must be integers in 0..2^63-1")
    if not values:
        return b""
    runs = _runs(values)
    w = _Bits()
    w.put(0, 2)  # version
    if runs[0] == 0:
        runs = runs[1:]
        w.put(1, 1)  # the first run is of ones
    else:
        w.put(0, 1)
    for length in runs:
        if length == 1:
            w.put(1, 1)
        elif length < 16:
            w.put(0b10, 2)  # "01": bit 0 then bit 1
            w.put(length, 4)
        else:
            w.put(0, 2)
            for byte in varint.encode(length):
                w.put(byte, 8)
    return bytes(w.out).rstrip(b"\0")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.total = len(data) * 8

    def left(self) -> int:
        return self.total - self.pos

    def rest_is_zero(self) -> bool:
        return all(not self._bit(i) for i in range(self.pos, self.total))

    def _bit(self, i: int) -> int:
        return (self.data[i // 8] >> (i % 8)) & 1

    def take(self, width: int) -> int:
        """The next ``width`` bits; past the end they read as zeros."""
        value = 0
        for i in range(width):
            if self.pos + i < self.total:
                value |= self._bit(self.pos + i) << i
        self.pos += width
        return value


def decode_bitfield(data: bytes) -> set[int]:
    """Decodes RLE+ as the miner actor does: an encoding it refuses (see
    above), canonical or not, raises ``BitfieldError`` naming the problem.
    Runs are checked in order first, then the end of the encoding (the
    actor looks at the last byte first; either way the same encodings are
    refused, only one wrong in two ways may be named for the other)."""
    data = bytes(data)
    if not data:
        return set()
    if len(data) > BITFIELD_MAX_BYTES:
        raise BitfieldError(
            f"RLE+ bitfield of {len(data)} bytes is over the {BITFIELD_MAX_BYTES}-byte limit"
        )
    r = _Reader(data)
    if r.take(2) != 0:
        raise BitfieldError("RLE+ bitfield has an unknown version")
    value = r.take(1)
    out: set[int] = set()
    pos = 0
    runs = 0
    while r.left() > 0 and not r.rest_is_zero():
        if r.take(1):
            length = 1
        elif r.take(1):
            length = r.take(4)
            if length < 2:
                raise BitfieldError("RLE+ bitfield: short run of length < 2 (not minimal)")
        else:
            raw = bytearray()
            while True:
                byte = r.take(8)
                raw.append(byte)
                if not byte & 0x80:
                    break
                if len(raw) == 10:
                    raise BitfieldError("RLE+ bitfield: run length varint is too long")
            if len(raw) == 10 and raw[-1] > 1:
                raise BitfieldError("RLE+ bitfield: run length varint overflows 64 bits")
            if len(raw) > 1 and raw[-1] == 0:
                raise BitfieldError("RLE+ bitfield: run length varint is not minimal")
            length = sum((b & 0x7F) << (7 * i) for i, b in enumerate(raw))
            if length < 16:
                raise BitfieldError("RLE+ bitfield: long run of length < 16 (not minimal)")
        if pos + length >= _RUNS_LIMIT:
            raise BitfieldError("RLE+ bitfield: runs add up past 2^64 - 1")
        if value:
            if length > 1 << 24:
                # not the actor's rule but this decoder's (it expands runs
                # into a set): a plain ValueError, as the actor would decode it
                raise ValueError(f"RLE+ bitfield: run of {length} set bits is too large to expand")
            out.update(range(pos, pos + length))
        pos += length
        runs += 1
        value ^= 1
    if data[-1] == 0:
        raise BitfieldError("RLE+ bitfield: trailing zero byte (not minimal)")
    if value:  # the run that would come next is of ones: the last was of zeros
        if not runs:
            raise BitfieldError("RLE+ bitfield: a header and no runs (the empty set is no bytes)")
        raise BitfieldError("RLE+ bitfield: trailing run of zeros (not minimal)")
    return out


def bitfield_from_json(runs: list[int]) -> set[int]:
    """Lotus' JSON form: run lengths, the first one a run of zeros;
    ``[5, 1]`` is {5}."""
    if not isinstance(runs, list) or any(
        isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in runs
    ):
        raise ValueError(f"a JSON bitfield is a list of non-negative run lengths, got {runs!r}")
    out: set[int] = set()
    pos = 0
    for i, n in enumerate(runs):
        if i % 2:
            out.update(range(pos, pos + n))
        pos += n
    return out


def bitfield_to_json(bits: Iterable[int]) -> list[int]:
    return _runs(set(bits))


# ---- addresses --------------------------------------------------------------


def id_address_bytes(actor_id: int) -> bytes:
    """The binary form of address f0<actor_id>: protocol 0, then LEB128."""
    return b"\x00" + leb128(actor_id)


def id_address_cbor(actor_id: int) -> bytes:
    """As the chain serialises it (e.g. the entropy of the PoSt randomness)."""
    return cbor2.dumps(id_address_bytes(actor_id))


# ---- comm_r <-> SealedCID -----------------------------------------------------

FIL_COMMITMENT_SEALED = 0xF102
POSEIDON_BLS12_381_A2_FC1 = 0xB401


# CIDv1, fil-commitment-sealed, poseidon-bls12_381-a2-fc1, 32-byte digest:
# the same 8 bytes before every comm_r (40 bytes: 64 base32 letters).
_SEALED_HEADER = (
    varint.encode(1)
    + varint.encode(FIL_COMMITMENT_SEALED)
    + varint.encode(POSEIDON_BLS12_381_A2_FC1)
    + varint.encode(32)
)


_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_BASE32_TO_DIGITS = str.maketrans(_BASE32, "0123456789abcdefghijklmnopqrstuv")
_NOT_BASE32 = str.maketrans("", "", _BASE32)  # deletes every base32 letter


def sealed_cid(comm_r: bytes) -> str:
    """The SealedCID of a comm_r, in multibase base32 (``b...``) as Lotus
    writes CIDs. The standard library's base32 (a 32GiB deadline has
    117,000 of these to read) is 30 times faster than the generic multibase
    codec and yields the same text."""
    if len(comm_r) != 32:
        raise ValueError(f"comm_r must be 32 bytes, got {len(comm_r)}")
    return "b" + base64.b32encode(_SEALED_HEADER + comm_r).decode().lower().rstrip("=")


def comm_r_from_cid(cid: str | dict) -> bytes:
    """comm_r is the multihash digest of a sector's SealedCID (``{"/": ...}``
    in Lotus JSON)."""
    if isinstance(cid, dict):
        cid = cid.get("/", "")
    if isinstance(cid, str) and len(cid) == 65 and cid[0] == "b":
        # the form Lotus sends, decoded fast (anything else below): 64 base32
        # letters are one 320-bit number, which int() reads in C once the
        # RFC 4648 alphabet is mapped onto its digits
        body = cid[1:]
        if not body.translate(_NOT_BASE32):
            raw = int(body.translate(_BASE32_TO_DIGITS), 32).to_bytes(40, "big")
            if raw.startswith(_SEALED_HEADER):
                return raw[len(_SEALED_HEADER) :]
    try:
        raw = bytes(multibase.decode(cid))
    except Exception as exc:
        raise ValueError(f"not a CID: {cid!r}: {exc}") from None
    fields = []
    rest = raw
    for _ in range(4):
        value, n, _ = varint.decode_raw(rest)
        fields.append(value)
        rest = rest[n:]
    version, codec, mh, length = fields
    if version != 1 or codec != FIL_COMMITMENT_SEALED or mh != POSEIDON_BLS12_381_A2_FC1:
        raise ValueError(f"{cid} is not a sealed-sector commitment CID")
    if length != 32 or len(rest) != 32:
        raise ValueError(f"{cid}: digest is not 32 bytes")
    return bytes(rest)


# ---- message parameters -------------------------------------------------------

# Miner actor method numbers of the messages whose parameters follow.
METHOD_SUBMIT_WINDOWED_POST = 5
METHOD_DECLARE_FAULTS_RECOVERED = 11
# builtin-actors ``actors/miner/src/lib.rs``: ``Method::DisputeWindowedPoSt = 24``
METHOD_DISPUTE_WINDOWED_POST = 24

# How long after a deadline's Close its optimistically accepted PoSts may be
# disputed (builtin-actors ``runtime/src/runtime/policy.rs``:
# WPOST_DISPUTE_WINDOW = 2 * CHAIN_FINALITY, 900 epochs on every network the
# actors are built for), and never once the deadline opens again.
CHAIN_FINALITY = 900
WPOST_DISPUTE_WINDOW = 2 * CHAIN_FINALITY

# The miner actor's limits on one DeclareFaultsRecovered (builtin-actors,
# policy): at most DeclarationsMax declarations and AddressedSectorsMax
# sectors in all; beyond either it exits with 16 (illegal argument).
DECLARATIONS_MAX = 3000
ADDRESSED_SECTORS_MAX = 25_000


@dataclass(frozen=True)
class SubmitWindowedPoStParams:
    deadline: int
    partitions: list[tuple[int, set[int]]]
    proof_chain_id: int
    proof: bytes
    commit_epoch: int
    commit_rand: bytes


def encode_submit_windowed_post(
    deadline: int,
    partitions: list[tuple[int, set[int]]],
    proof_chain_id: int,
    proof: bytes,
    commit_epoch: int,
    commit_rand: bytes,
) -> bytes:
    """``SubmitWindowedPoSt`` (method 5) parameters: a CBOR array of 5, with
    exactly one proof entry (the partition proofs concatenated)."""
    return cbor2.dumps(
        [
            deadline,
            [[index, encode_bitfield(skipped)] for index, skipped in partitions],
            [[proof_chain_id, bytes(proof)]],
            commit_epoch,
            bytes(commit_rand),
        ]
    )


def decode_submit_windowed_post(data: bytes) -> SubmitWindowedPoStParams:
    try:
        obj = cbor2.loads(data)
    except Exception as exc:
        raise ParamsNotDeserializable(f"SubmitWindowedPoSt params are not CBOR: {exc}") from None
    if not isinstance(obj, list) or len(obj) != 5:
        raise ParamsNotDeserializable("SubmitWindowedPoSt params must be an array of 5")
    deadline, partitions, proofs, commit_epoch, commit_rand = obj
    if not isinstance(deadline, int) or not isinstance(commit_epoch, int):
        raise ParamsNotDeserializable("deadline and commit epoch must be integers")
    if not isinstance(proofs, list) or not all(
        isinstance(pr, list) and len(pr) == 2 and isinstance(pr[1], bytes) for pr in proofs
    ):
        raise ParamsNotDeserializable("proofs must be [proof type, proof bytes] pairs")
    if len(proofs) != 1:  # the method's own check (illegal argument)
        raise ValueError(f"expected exactly one proof, got {len(proofs)}")
    if not isinstance(partitions, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[1], bytes) for p in partitions
    ):
        raise ParamsNotDeserializable("partitions must be [index, skipped bitfield] pairs")
    return SubmitWindowedPoStParams(
        deadline=deadline,
        partitions=[(p[0], decode_bitfield(p[1])) for p in partitions],
        proof_chain_id=proofs[0][0],
        proof=bytes(proofs[0][1]),
        commit_epoch=commit_epoch,
        commit_rand=bytes(commit_rand),
    )


def encode_declare_faults_recovered(recoveries: list[tuple[int, int, set[int]]]) -> bytes:
    """``DeclareFaultsRecovered`` (method 11): [[deadline, partition, sectors]...]."""
    return cbor2.dumps([[[d, p, encode_bitfield(s)] for d, p, s in recoveries]])


def decode_declare_faults_recovered(data: bytes) -> list[tuple[int, int, set[int]]]:
    try:
        obj = cbor2.loads(data)
    except Exception as exc:
        raise ParamsNotDeserializable(
            f"DeclareFaultsRecovered params are not CBOR: {exc}"
        ) from None
    if not isinstance(obj, list) or len(obj) != 1 or not isinstance(obj[0], list):
        raise ParamsNotDeserializable("DeclareFaultsRecovered params must be [recoveries]")
    if not all(
        isinstance(r, list)
        and len(r) == 3
        and isinstance(r[0], int)
        and isinstance(r[1], int)
        and isinstance(r[2], bytes)
        for r in obj[0]
    ):
        raise ParamsNotDeserializable(
            "recoveries must be [deadline, partition, sectors bitfield] triples"
        )
    return [(d, p, decode_bitfield(s)) for d, p, s in obj[0]]


@dataclass(frozen=True)
class DisputeWindowedPoStParams:
    deadline: int
    post_index: int  # into the deadline's optimistically accepted PoSts


def encode_dispute_windowed_post(deadline: int, post_index: int) -> bytes:
    """``DisputeWindowedPoSt`` (method 24) parameters: a CBOR array of 2,
    ``[Deadline uint, PoStIndex uint]`` (the actor's tuple struct)."""
    return cbor2.dumps([deadline, post_index])


def decode_dispute_windowed_post(data: bytes) -> DisputeWindowedPoStParams:
    """Both fields are u64 in the actor: anything else does not deserialize."""
    try:
        obj = cbor2.loads(data)
    except Exception as exc:
        raise ParamsNotDeserializable(f"DisputeWindowedPoSt params are not CBOR: {exc}") from None
    if not isinstance(obj, list) or len(obj) != 2:
        raise ParamsNotDeserializable("DisputeWindowedPoSt params must be an array of 2")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64 for v in obj):
        raise ParamsNotDeserializable("deadline and post index must be unsigned 64-bit integers")
    return DisputeWindowedPoStParams(deadline=obj[0], post_index=obj[1])
