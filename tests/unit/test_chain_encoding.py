"""Encodings against published vectors and round trips."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prover.chain.encoding import (
    bitfield_from_json,
    bitfield_to_json,
    comm_r_from_cid,
    decode_bitfield,
    decode_declare_faults_recovered,
    decode_submit_windowed_post,
    encode_bitfield,
    encode_declare_faults_recovered,
    encode_submit_windowed_post,
    id_address_bytes,
    id_address_cbor,
    sealed_cid,
)


def bits_of(data: bytes) -> list[int]:
    return [(data[i // 8] >> (i % 8)) & 1 for i in range(len(data) * 8)]


def test_rleplus_vector_from_go_bitfield():
    # go-bitfield's rleplus test: runs 1,1,1,1,3,4,17 starting with a one
    ints = [0, 2, 4, 5, 6, *range(11, 28)]
    expected = [
        0,
        0,
        1,  # version, first run is ones
        1,
        1,
        1,
        1,  # runs of 1
        0,
        1,
        1,
        1,
        0,
        0,  # run of 3
        0,
        1,
        0,
        0,
        1,
        0,  # run of 4
        0,
        0,
        1,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
    ]  # run of 17 (varint 0x11)
    enc = encode_bitfield(ints)
    assert bits_of(enc)[: len(expected)] == expected
    assert not any(bits_of(enc)[len(expected) :])
    assert decode_bitfield(enc) == set(ints)


def test_small_bitfields():
    assert encode_bitfield([]) == b"" and decode_bitfield(b"") == set()
    assert decode_bitfield(encode_bitfield({5})) == {5}
    assert decode_bitfield(encode_bitfield({0})) == {0}


@given(st.sets(st.integers(0, 5000), max_size=200))
def test_bitfield_round_trip(bits):
    assert decode_bitfield(encode_bitfield(bits)) == bits
    assert bitfield_from_json(bitfield_to_json(bits)) == bits


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (bytes([0b00000001]), "version"),
        # 00 | 1 | "01" + 1,0,0,0: a short block for a run of 1
        (bytes([0b00110100]), "short run of length < 2"),
        # 00 | 1 | "00" + varint 0x02: a long block for a run of 2
        (bytes([0b01000100, 0]), "long run of length < 16"),
        (bytes([0b00000100]) + b"\xff" * 12, "too long"),
    ],
)
def test_malformed_bitfields_raise(data, why):
    with pytest.raises(ValueError, match=why):
        decode_bitfield(data)


def test_json_bitfields_as_lotus_writes_them():
    assert bitfield_from_json([5, 1]) == {5}
    assert bitfield_from_json([0, 3, 4, 1]) == {0, 1, 2, 7}
    assert bitfield_to_json({0, 1, 2, 7}) == [0, 3, 4, 1]
    assert bitfield_from_json([]) == set()
    with pytest.raises(ValueError):
        bitfield_from_json([1, -2])


def test_id_addresses():
    assert id_address_bytes(1000).hex() == "00e807"
    assert id_address_cbor(1000).hex() == "4300e807"  # docs/DOMAIN.md §3


def test_submit_windowed_post_bytes():
    enc = encode_submit_windowed_post(3, [(0, set())], 10, b"\x01\x02", 100, b"\xaa" * 32)
    assert enc.hex() == ("85038182004081820a42010218645820" + "aa" * 32)
    params = decode_submit_windowed_post(enc)
    assert (params.deadline, params.partitions, params.proof_chain_id) == (3, [(0, set())], 10)
    assert (params.proof, params.commit_epoch, params.commit_rand) == (
        b"\x01\x02",
        100,
        b"\xaa" * 32,
    )


def test_submit_windowed_post_round_trip_with_skipped():
    proof = bytes(range(192)) * 2
    enc = encode_submit_windowed_post(
        47, [(0, {3}), (1, set()), (2, {1, 2, 900})], 13, proof, 2**40, bytes(32)
    )
    p = decode_submit_windowed_post(enc)
    assert p.partitions == [(0, {3}), (1, set()), (2, {1, 2, 900})]
    assert p.proof == proof and p.commit_epoch == 2**40


@pytest.mark.parametrize("bad", [b"", b"\x80", bytes.fromhex("8403818200408182")])
def test_malformed_submit_params_raise(bad):
    with pytest.raises(ValueError):
        decode_submit_windowed_post(bad)


def test_declare_faults_recovered_round_trip():
    recs = [(5, 0, {1, 2}), (5, 1, {100})]
    assert decode_declare_faults_recovered(encode_declare_faults_recovered(recs)) == recs


def test_sealed_cid_round_trip():
    comm_r = bytes(range(32))
    cid = sealed_cid(comm_r)
    assert cid.startswith("bagboea4b5abc")  # v1, fil-commitment-sealed, poseidon
    assert comm_r_from_cid(cid) == comm_r
    assert comm_r_from_cid({"/": cid}) == comm_r


def test_other_cids_are_refused():
    with pytest.raises(ValueError, match="sealed-sector"):
        # a dag-cbor CID (codec 0x71) is no SealedCID
        comm_r_from_cid("bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
    with pytest.raises(ValueError, match="not a CID"):
        comm_r_from_cid("not-a-cid")


@given(st.binary(min_size=32, max_size=32))
def test_sealed_cids_read_fast_agree_with_the_generic_multibase_codec(comm_r):
    from multiformats import multibase

    cid = sealed_cid(comm_r)
    assert multibase.encode(multibase.decode(cid), "base32") == cid  # the generic codec's text
    assert comm_r_from_cid(cid) == comm_r
    other_base = multibase.encode(multibase.decode(cid), "base58btc")
    assert comm_r_from_cid(other_base) == comm_r


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-1] + "1",  # not a base32 letter
        lambda c: c[:-1] + "8",
        lambda c: "b" + "a" * 64,  # base32, but not a sealed commitment
        lambda c: c.upper(),  # base32 upper-case multibase: another codec, same bytes
    ],
)
def test_a_mangled_sealed_cid_is_refused_or_read_by_the_generic_codec(mangle):
    comm_r = bytes(range(32))
    cid = mangle(sealed_cid(comm_r))
    with contextlib.suppress(ValueError):  # refused, or
        assert comm_r_from_cid(cid) == comm_r  # only a faithful re-encoding reads back
