"""The parameter check's digest and size logic, on small files laid out as
bellperson writes Groth16 parameters (no proofs, no processes)."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import pytest

from prover import _native
from prover.proofs import PoStProofType, parameter_files
from prover.proofs import paramcheck as pc

KIB2 = PoStProofType.WINDOW_2KIB
ROOT = Path(__file__).resolve().parents[2]


def groth16_bytes(kind: str, ic: int = 3, vectors=(2, 1, 4, 3, 2), fill: int = 7) -> bytes:
    """A file with the layout (not the maths) of a verifying key or params."""
    out = bytes([fill]) * (3 * pc.G1_BYTES + 3 * pc.G2_BYTES)
    out += struct.pack(">I", ic) + bytes([fill]) * (ic * pc.G1_BYTES)
    if kind == "params":
        sizes = (pc.G1_BYTES,) * 4 + (pc.G2_BYTES,)
        for count, point in zip(vectors, sizes, strict=True):
            out += struct.pack(">I", count) + bytes([fill]) * (count * point)
    return out


@pytest.fixture
def official(monkeypatch):
    """Pretends the library publishes whatever digests a test says."""
    table: dict[str, pc.Published] = {}
    monkeypatch.setattr(pc, "published", lambda: table)

    def publish(path: Path) -> None:
        table[path.name] = pc.Published("Qm", pc.file_digest(path), 2048)

    return publish


def pair(tmp_path: Path, **kw) -> tuple[Path, Path]:
    files = parameter_files(KIB2, tmp_path)
    params, vk = files.params, files.verifying_key
    params.write_bytes(groth16_bytes("params", **kw))
    vk.write_bytes(groth16_bytes("vk"))
    return params, vk


def test_the_digest_is_blake2b_512_cut_to_32_hex_characters(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"")
    # BLAKE2b-512 of nothing begins 786a02f7...; the library keeps 16 bytes
    assert pc.file_digest(f) == "786a02f742015903c6c6fd852552d272"
    f.write_bytes(b"x" * (3 << 20))
    assert pc.file_digest(f, chunk=4096) == hashlib.blake2b(b"x" * (3 << 20)).hexdigest()[:32]


def test_the_size_is_read_from_the_vector_lengths_in_the_header(tmp_path):
    vk, params = tmp_path / "a.vk", tmp_path / "a.params"
    vk.write_bytes(groth16_bytes("vk", ic=23))
    assert pc.groth16_size(vk, "vk") == vk.stat().st_size == 868 + 23 * 96
    params.write_bytes(groth16_bytes("params", ic=5, vectors=(9, 8, 7, 6, 5)))
    assert pc.groth16_size(params, "params") == params.stat().st_size
    params.write_bytes(groth16_bytes("params")[:900])  # cut inside the h length
    assert pc.groth16_size(params, "params") is None


def test_missing_truncated_and_short_header_files_are_named(tmp_path):
    params, vk = pair(tmp_path)
    vk.unlink()
    whole = params.stat().st_size
    params.write_bytes(params.read_bytes()[:-100])
    report = pc.quick_check([KIB2], tmp_path)
    assert not report.ok and [f.status for f in report.files] == [pc.TRUNCATED, pc.MISSING]
    assert report.files[0].detail == f"{whole - 100} of {whole} bytes (100 missing)"
    assert report.refused() == {KIB2: list(report.files)}
    params.write_bytes(b"\0" * 10)
    assert pc.quick_check([KIB2], tmp_path).files[0].detail == "10 bytes: ends inside its header"


def test_quick_passes_a_long_enough_large_file_unhashed_the_full_check_hashes_it(
    tmp_path, official
):
    params, vk = pair(tmp_path, vectors=(12000, 1, 1, 1, 1))  # over SMALL_FILE
    assert params.stat().st_size > pc.SMALL_FILE
    official(params)
    official(vk)
    quick = pc.quick_check([KIB2], tmp_path)
    assert quick.ok
    assert [(f.digest is None, f.origin) for f in quick.files] == [(True, ""), (False, "official")]
    full = pc.check_parameters([KIB2], tmp_path)
    assert full.ok and {f.origin for f in full.files} == {"official"}
    data = bytearray(params.read_bytes())
    data[5000] ^= 1  # a flipped byte: same size
    params.write_bytes(bytes(data))
    assert pc.quick_check([KIB2], tmp_path).ok
    (bad,) = pc.check_parameters([KIB2], tmp_path).problems
    assert bad.status == pc.WRONG_DIGEST and bad.name == params.name
    assert "the official file has" in bad.detail


def test_recorded_test_parameters_are_test_never_official(tmp_path):
    params, vk = pair(tmp_path)
    pc.write_test_record(KIB2, params, vk)
    record = json.loads(pc.record_path(params).read_text())
    assert set(record["files"]) == {params.name, vk.name}
    report = pc.check_parameters([KIB2], tmp_path)
    assert report.ok and [f.origin for f in report.files] == ["test", "test"]
    assert "TEST parameters" in report.files[0].describe()
    # longer than recorded: caught even by the quick check
    params.write_bytes(params.read_bytes() + b"\0")
    (bad,) = pc.quick_check([KIB2], tmp_path).problems
    assert bad.status == pc.WRONG_SIZE
    # same size, other bytes: the recorded digest tells
    params.write_bytes(groth16_bytes("params", fill=9))
    (bad,) = pc.check_parameters([KIB2], tmp_path).problems
    assert bad.status == pc.WRONG_DIGEST and "recorded test parameters" in bad.detail


def test_an_official_digest_wins_over_a_stale_test_record(tmp_path, official):
    params, vk = pair(tmp_path)
    pc.write_test_record(KIB2, params, vk)
    params.write_bytes(groth16_bytes("params", fill=1))  # "fetched" over the test ones
    official(params)
    report = pc.check_parameters([KIB2], tmp_path)
    assert report.ok and [f.origin for f in report.files] == ["official", "test"]


def test_an_unrecorded_file_with_an_official_name_and_another_digest_is_wrong(tmp_path):
    pair(tmp_path)
    report = pc.check_parameters([KIB2], tmp_path)
    assert [f.status for f in report.files] == [pc.WRONG_DIGEST] * 2
    assert "prover params generate --size 2KiB" in report.files[0].detail
    # the quick check hashes small files too (verifying keys; these params)
    assert [f.status for f in pc.quick_check([KIB2], tmp_path).files] == [pc.WRONG_DIGEST] * 2


def test_verifying_keys_only_and_present_types(tmp_path):
    pair(tmp_path)
    report = pc.quick_check(list(PoStProofType), tmp_path, verifying_keys_only=True)
    assert [f.kind for f in report.files] == ["vk"] * 5
    assert pc.present_proof_types(tmp_path) == [KIB2]
    as_json = report.as_dict()
    assert as_json["mode"] == "quick" and len(as_json["files"]) == 5


def test_the_list_names_each_window_post_file_with_its_sector_size():
    table = pc.published()
    for pt in PoStProofType:
        files = parameter_files(pt, "/x")
        for path in (files.params, files.verifying_key):
            entry = table[path.name]
            assert entry.sector_size == pt.sector_size
            assert re.fullmatch(r"[0-9a-f]{32}", entry.digest)
        version = _native.PARAMETER_CACHE_VERSION
        assert files.params.name.startswith(f"v{version}-proof-of-spacetime-fallback")


def test_the_list_is_the_one_of_the_proofs_crate_the_extension_is_built_with():
    """The extension embeds storage-proofs-core's parameters.json; the
    crates' version is pinned in native/Cargo.lock. Where the crate's source
    is at hand (any machine that built the extension), they must agree."""
    lock = (ROOT / "native" / "Cargo.lock").read_text()
    (version,) = re.findall(r'name = "storage-proofs-core"\nversion = "([^"]+)"', lock)
    (proofs,) = re.findall(r'name = "filecoin-proofs"\nversion = "([^"]+)"', lock)
    assert version == proofs
    registry = Path.home() / ".cargo" / "registry" / "src"
    sources = sorted(registry.glob(f"*/storage-proofs-core-{version}/parameters.json"))
    if not sources:
        pytest.skip(f"storage-proofs-core {version} source not in {registry}")
    assert json.loads(sources[0].read_text()) == json.loads(_native.PARAMETERS_JSON)
    crate = sorted(registry.glob(f"*/filecoin-proofs-{proofs}/parameters.json"))
    if crate:
        assert json.loads(crate[0].read_text()) == json.loads(_native.PARAMETERS_JSON)
