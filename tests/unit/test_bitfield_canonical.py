"""RLE+ decoding is as strict as the miner actor's (fvm_ipld_bitfield): the
one canonical encoding of a set is accepted, every other encoding of it
(a trailing zero byte, a trailing run of zeros, a run in a longer block
than it needs, ...) raises ``BitfieldError`` naming what is wrong. The
encodings here are built bit by bit, independently of ``encode_bitfield``."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prover.chain.encoding import (
    BITFIELD_MAX_BYTES,
    BitfieldError,
    bitfield_to_json,
    decode_bitfield,
    decode_declare_faults_recovered,
    decode_submit_windowed_post,
    encode_bitfield,
    encode_declare_faults_recovered,
    encode_submit_windowed_post,
)


def pack(bits: list[int]) -> bytes:
    """Bits, least significant first in each byte, as they are (nothing trimmed)."""
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        out[i // 8] |= bit << (i % 8)
    return bytes(out)


def uint(value: int, width: int) -> list[int]:
    return [(value >> i) & 1 for i in range(width)]


def varint(n: int) -> list[int]:
    out = []
    while True:
        byte, n = n & 0x7F, n >> 7
        out += uint(byte | (0x80 if n else 0), 8)
        if not n:
            return out


def block(n: int, form: str = "minimal") -> list[int]:
    if form == "minimal":
        form = "single" if n == 1 else "short" if n < 16 else "long"
    if form == "single":
        assert n == 1
        return [1]
    if form == "short":
        return [0, 1, *uint(n, 4)]
    return [0, 0, *varint(n)]


def stream(first: int, runs: list[int], forms: dict[int, str] | None = None) -> list[int]:
    """Version 00, the first run's value, then each run in its block."""
    forms = forms or {}
    out = [0, 0, first]
    for i, n in enumerate(runs):
        out += block(n, forms.get(i, "minimal"))
    return out


def runs_of(bits: set[int]) -> tuple[int, list[int]]:
    runs = bitfield_to_json(bits)  # starts with a run of zeros, maybe empty
    return (1, runs[1:]) if runs[0] == 0 else (0, runs)


def canonical(bits: set[int]) -> bytes:
    return pack(stream(*runs_of(bits))).rstrip(b"\0")


sets = st.sets(st.integers(0, 3000), min_size=1, max_size=80)


# ---- the canonical encoding is accepted -------------------------------------------


@given(st.sets(st.integers(0, 5000), max_size=200))
def test_the_encoder_writes_the_canonical_encoding_and_it_round_trips(bits):
    enc = encode_bitfield(bits)
    assert enc == (canonical(bits) if bits else b"")
    assert decode_bitfield(enc) == bits


@pytest.mark.parametrize(
    "bits",
    [
        {0},
        {5},
        {1, 2, 3, 9},
        set(range(16)),  # a long first run of ones
        {100, *range(200, 217)},  # long runs of zeros and ones
        {2**40, 2**40 + 1},  # a run of zeros in a 6-byte varint
        {2**63 - 2},
    ],
)
def test_canonical_encodings_are_accepted(bits):
    assert decode_bitfield(canonical(bits)) == bits
    assert decode_bitfield(encode_bitfield(bits)) == bits


def test_the_empty_set_is_no_bytes():
    assert decode_bitfield(b"") == set()


# ---- the two kinds the issue names ------------------------------------------------


def test_a_trailing_zero_byte_is_refused():
    enc = encode_bitfield({1, 2, 3, 9})
    assert enc.hex() == "e85801"
    assert decode_bitfield(enc) == {1, 2, 3, 9}
    with pytest.raises(BitfieldError, match="trailing zero byte"):
        decode_bitfield(enc + b"\x00")
    with pytest.raises(BitfieldError, match="trailing zero byte"):
        decode_bitfield(enc + b"\x00\x00")
    with pytest.raises(BitfieldError, match="trailing zero byte"):
        decode_bitfield(b"\x00")  # the empty set, with a byte


def test_a_trailing_run_of_zeros_is_refused():
    # {2}: 00 | 0 | "01" 0100 (2 zeros) | "1" (1 one), then "1": 1 zero more
    good = [0, 0, 0, 0, 1, 0, 1, 0, 0, 1]
    assert pack(good) == encode_bitfield({2})
    assert pack(good).hex() == "5002"
    bad = pack([*good, 1])
    assert bad.hex() == "5006"
    with pytest.raises(BitfieldError, match="trailing run of zeros"):
        decode_bitfield(bad)
    # the empty set as "a run of zeros": 00 | 0 | "1"
    with pytest.raises(BitfieldError, match="trailing run of zeros"):
        decode_bitfield(pack([0, 0, 0, 1]))
    # a header alone announcing a run of ones
    with pytest.raises(BitfieldError, match="no runs"):
        decode_bitfield(pack([0, 0, 1]))


@given(sets, st.sampled_from([b"\x00", b"\x00" * 3]))
def test_any_set_with_trailing_zero_bytes_is_refused(bits, zeros):
    with pytest.raises(BitfieldError, match="trailing zero byte"):
        decode_bitfield(encode_bitfield(bits) + zeros)


@given(sets, st.integers(1, 100_000))
def test_any_set_with_a_trailing_run_of_zeros_is_refused(bits, zeros):
    first, runs = runs_of(bits)
    # trimmed as an encoder would trim it: only the run is wrong
    enc = pack(stream(first, [*runs, zeros])).rstrip(b"\0")
    with pytest.raises(BitfieldError, match="trailing run of zeros"):
        decode_bitfield(enc)


# ---- the actor's other rules --------------------------------------------------------


@given(sets, st.data())
def test_a_run_in_a_longer_block_than_it_needs_is_refused(bits, data):
    first, runs = runs_of(bits)
    i = data.draw(st.integers(0, len(runs) - 1))
    n = runs[i]
    if n >= 16:
        return  # only the long block holds it
    form = data.draw(st.sampled_from(["short", "long"] if n == 1 else ["long"]))
    enc = pack(stream(first, runs, {i: form})).rstrip(b"\0")
    with pytest.raises(BitfieldError, match="not minimal"):
        decode_bitfield(enc)


@pytest.mark.parametrize(
    ("bits", "why"),
    [
        ([1, 0, 1, 0, 1, 0, 1, 0], "unknown version"),
        ([0, 0, 1, 0, 1, 0, 0, 0, 0, 1], "short run of length < 2"),  # a run of 0
        ([0, 0, 1, 0, 1, 1, 0, 0, 0, 1], "short run of length < 2"),  # a run of 1
        ([0, 0, 1, 0, 0, *uint(15, 8), 1], "long run of length < 16"),
        ([0, 0, 1, 0, 0, *uint(0x90, 8), *uint(0x00, 8), 1], "varint is not minimal"),
        ([0, 0, 1, 0, 0, *uint(0xFF, 8) * 10], "too long"),
        # nine bytes of 0xff then 2: 2^64 + 2^63 - 1, past a u64
        ([0, 0, 1, 0, 0, *uint(0xFF, 8) * 9, *uint(2, 8), 1], "overflows 64 bits"),
        # runs of 2^63 - 1 (zeros) and 2^63 + 1 (ones): 2^64 in all
        (
            [0, 0, 0, 0, 0, *varint(2**63 - 1), 0, 0, *varint(2**63 + 1), 1],
            "past 2\\^64 - 1",
        ),
    ],
)
def test_malformed_encodings_are_refused_naming_why(bits, why):
    # each ends with a set bit: wrong in that one way only, whichever the
    # decoder looks at first
    assert pack(bits)[-1] != 0
    with pytest.raises(BitfieldError, match=why):
        decode_bitfield(pack(bits))


def test_a_bitfield_over_32_kib_is_refused():
    sparse = set(range(0, 2 * BITFIELD_MAX_BYTES * 4 + 2, 2))  # 2 bits a member
    enc = encode_bitfield(sparse)
    assert len(enc) == BITFIELD_MAX_BYTES + 1
    with pytest.raises(BitfieldError, match="32768-byte limit"):
        decode_bitfield(enc)
    under = set(range(0, 2 * BITFIELD_MAX_BYTES * 4 - 20, 2))
    assert len(encode_bitfield(under)) <= BITFIELD_MAX_BYTES
    assert decode_bitfield(encode_bitfield(under)) == under


def test_a_bitfield_error_is_a_value_error():
    assert issubclass(BitfieldError, ValueError)


# ---- inside message parameters ------------------------------------------------------


def test_message_params_with_a_non_canonical_bitfield_are_refused():
    post = cbor2.loads(encode_submit_windowed_post(3, [(0, {2})], 10, b"p" * 192, 7, b"r" * 32))
    post[1][0][1] = encode_bitfield({2}) + b"\x00"
    with pytest.raises(BitfieldError, match="trailing zero byte"):
        decode_submit_windowed_post(cbor2.dumps(post))

    recoveries = cbor2.loads(encode_declare_faults_recovered([(1, 0, {2})]))
    recoveries[0][0][2] = pack([0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1])  # {2}, 1 zero more
    with pytest.raises(BitfieldError, match="trailing run of zeros"):
        decode_declare_faults_recovered(cbor2.dumps(recoveries))
