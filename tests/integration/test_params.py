"""Parameters: test parameters for small sectors, a clear error for missing ones."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import KIB2
from prover.proofs import (
    InvalidInput,
    ParametersMissing,
    PoStProofType,
    ProofError,
    ensure_test_params,
    parameter_cache_dir,
    parameter_files,
    partition_snark,
    verify_window_post,
)


def test_library_reads_the_configured_directory():
    assert str(parameter_cache_dir()).rstrip("/") == os.environ[
        "FIL_PROOFS_PARAMETER_CACHE"
    ].rstrip("/")


def test_generated_once_then_reused(tmp_path):
    first = ensure_test_params(KIB2, tmp_path)
    assert first.generated
    assert first.params.parent == tmp_path
    assert first.params.name.startswith("v28-proof-of-spacetime-fallback-merkletree-poseidon")
    assert first.params.suffix == ".params" and first.verifying_key.suffix == ".vk"
    assert first.params.stat().st_size > 0 and first.verifying_key.stat().st_size > 0
    assert first.params.with_suffix(".meta").is_file()
    again = ensure_test_params(KIB2, tmp_path)
    assert not again.generated
    assert again.params == first.params
    assert not list(tmp_path.glob("*.tmp.*"))  # written atomically, nothing left behind


def test_file_names_match_the_official_ones(tmp_path):
    # The name is the circuit's hash: test and official 2KiB files are
    # interchangeable by name, so an operator's real files are found too.
    files = parameter_files(KIB2, tmp_path)
    assert files.params.name == (
        "v28-proof-of-spacetime-fallback-merkletree-poseidon_hasher-8-0-0-"
        "0170db1f394b35d995252228ee359194b13199d259380541dc529fb0099096b0.params"
    )


def test_a_lone_verifying_key_is_not_overwritten(tmp_path):
    vk = parameter_files(KIB2, tmp_path).verifying_key
    vk.write_bytes(b"operator's file")
    with pytest.raises(ProofError, match="must be generated together"):
        ensure_test_params(KIB2, tmp_path)
    assert vk.read_bytes() == b"operator's file"


@pytest.mark.parametrize("pt", [PoStProofType.WINDOW_512MIB, PoStProofType.WINDOW_32GIB])
def test_production_sizes_are_never_generated(tmp_path, pt):
    with pytest.raises(ParametersMissing) as info:
        ensure_test_params(pt, tmp_path)
    assert info.value.directory == tmp_path
    assert info.value.path.name in str(info.value)
    assert str(tmp_path) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_proving_without_parameters_names_file_and_directory(randomness, pid):
    pt = PoStProofType.WINDOW_32GIB
    with pytest.raises(ParametersMissing) as info:
        partition_snark(pt, randomness, pid, [b"vanilla"], 0)
    expected = parameter_files(pt)
    assert info.value.path == expected.params
    assert info.value.directory == parameter_cache_dir()
    with pytest.raises(ParametersMissing) as info:
        verify_window_post(pt, randomness, pid, [(1, bytes([1]) + bytes(31))], bytes(192))
    assert info.value.path == expected.verifying_key


def test_a_process_pointed_at_an_empty_cache_fails_clearly(tmp_path, make_sectors):
    """The whole path in a fresh process: 2KiB proving with no parameters."""
    replicas = make_sectors([1, 2])
    empty = tmp_path / "empty-params"
    script = textwrap.dedent(
        f"""
        from prover.proofs import *
        reps = load_test_sectors({str(replicas[0].sealed_path.parent.parent)!r}, 1000, "2KiB")
        try:
            prove_partition("2KiB", mask_randomness(bytes(32)), prover_id(1000), reps, 0)
        except ParametersMissing as e:
            print("MISSING", e.path.name, e.directory)
        """
    )
    env = dict(os.environ, FIL_PROOFS_PARAMETER_CACHE=str(empty))
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("MISSING v28-proof-of-spacetime-fallback")
    assert str(empty) in out


# ---- 512MiB: only when asked, never into a production cache ------------------

MIB512 = PoStProofType.WINDOW_512MIB


def test_512mib_is_generated_only_when_asked(tmp_path):
    from prover.proofs.native import _native

    with pytest.raises(InvalidInput, match="only when asked explicitly"):
        _native.generate_test_params(MIB512.api_name, str(tmp_path))
    with pytest.raises(InvalidInput, match="not 68719476736 bytes"):
        _native.generate_test_params(PoStProofType.WINDOW_64GIB.api_name, str(tmp_path), True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "spelling", ["/var/tmp/filecoin-proof-parameters", "/var/tmp/filecoin-proof-parameters/"]
)
def test_512mib_never_goes_into_the_default_cache(spelling):
    with pytest.raises(InvalidInput, match="default parameter cache"):
        ensure_test_params(MIB512, spelling, allow_large=True)


def test_512mib_never_goes_beside_official_files(tmp_path):
    """A node's cache moved elsewhere: a file under an official name with no
    ``.meta`` of ours beside it is someone's production file."""
    from prover.proofs.paramcheck import published

    official = next(n for n, e in published().items() if e.sector_size == 32 << 30)
    (tmp_path / official).write_bytes(b"an operator's file")
    with pytest.raises(InvalidInput, match=f"holds official parameters \\({official}\\)"):
        ensure_test_params(MIB512, tmp_path, allow_large=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [official]


def test_generated_test_parameters_do_not_count_as_official(tmp_path):
    """Our own 2KiB files (official names, a ``.meta`` beside them) do not
    make a directory a production cache: the directory is checked first,
    so without the flag the refusal is the flag's."""
    from prover.proofs.native import _native

    files = ensure_test_params(KIB2, tmp_path)
    assert '"test":true' in files.params.with_suffix(".meta").read_text()
    with pytest.raises(InvalidInput, match="only when asked"):
        _native.generate_test_params(MIB512.api_name, str(tmp_path), False)
