"""``prover params check`` on real generated 2KiB parameters: recognised as
test parameters, and a truncated, altered, deleted or unrecorded file named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import KIB2
from prover.cli.main import cli
from prover.proofs import PoStProofType, ensure_test_params, parameter_files
from prover.proofs import paramcheck as pc


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("generated-params")
    assert ensure_test_params(KIB2, directory).generated
    return directory


@pytest.fixture
def params_dir(generated, tmp_path) -> Path:
    """A copy of freshly generated 2KiB parameters (and their record)."""
    directory = tmp_path / "params"
    shutil.copytree(generated, directory)
    return directory


def check(*args: str):
    return CliRunner().invoke(cli, ["params", "check", *args], catch_exceptions=False)


def files(directory: Path):
    f = parameter_files(KIB2, directory)
    return f.params, f.verifying_key


def test_generated_parameters_pass_as_test_parameters_never_official(params_dir):
    report = pc.check_parameters([KIB2], params_dir)
    assert report.ok
    assert [f.origin for f in report.files] == ["test", "test"]
    published = pc.published()
    for f in report.files:
        assert f.digest != published[f.name].digest  # not the official bytes
    result = check("--dir", str(params_dir))
    assert result.exit_code == 0, result.output
    assert result.output.count("ok (TEST parameters, local use only)") == 2
    assert "official" not in result.output
    out = json.loads(check("--dir", str(params_dir), "--size", "2KiB", "--json").output)
    assert out["ok"] and out["mode"] == "full"
    assert {f["origin"] for f in out["files"]} == {"test"}


def test_a_truncated_file_is_named_by_both_checks(params_dir):
    params, _ = files(params_dir)
    whole = params.stat().st_size
    with params.open("r+b") as f:
        f.truncate(whole - 4096)
    for full in (False, True):
        (bad,) = pc.check_parameters([KIB2], params_dir, full=full).problems
        assert (bad.name, bad.status) == (params.name, pc.TRUNCATED)
        assert bad.detail == f"{whole - 4096} of {whole} bytes (4096 missing)"
    result = check("--dir", str(params_dir), "--quick")
    assert result.exit_code == 1
    assert f"{params.name}: truncated" in result.output
    assert "1 ok, 1 wrong" in result.output


def test_a_flipped_byte_is_caught_by_the_full_check(params_dir):
    params, _ = files(params_dir)
    data = bytearray(params.read_bytes())
    data[len(data) // 2] ^= 0x40
    params.write_bytes(bytes(data))
    assert pc.quick_check([KIB2], params_dir).ok  # the same size: quick cannot tell
    result = check("--dir", str(params_dir), "--json")
    assert result.exit_code == 1
    out = json.loads(result.output)
    (bad,) = [f for f in out["files"] if not f["ok"]]
    assert (bad["file"], bad["status"]) == (params.name, "wrong digest")
    assert "recorded test parameters" in bad["detail"]


def test_a_deleted_verifying_key_is_missing(params_dir):
    _, vk = files(params_dir)
    vk.unlink()
    result = check("--dir", str(params_dir), "--size", "2KiB")
    assert result.exit_code == 1
    assert f"{vk.name}: missing: not found in {params_dir}" in result.output


def test_official_names_with_other_digests_are_wrong(params_dir):
    params, vk = files(params_dir)
    pc.record_path(params).unlink()  # not recorded: the names alone prove nothing
    report = pc.check_parameters([KIB2], params_dir)
    assert [f.status for f in report.files] == [pc.WRONG_DIGEST] * 2
    official = pc.published()[params.name].digest
    assert f"the official file has {official}" in report.files[0].detail
    # a 32GiB verifying key with the official name and other bytes
    big = parameter_files(PoStProofType.WINDOW_32GIB, params_dir)
    shutil.copy(vk, big.verifying_key)
    result = check("--dir", str(params_dir), "--size", "32GiB", "--json")
    assert result.exit_code == 1
    out = {f["file"]: f for f in json.loads(result.output)["files"]}
    assert out[big.params.name]["status"] == "missing"
    assert out[big.verifying_key.name]["status"] == "wrong digest"
    assert out[big.verifying_key.name]["expected_digest"] == (
        pc.published()[big.verifying_key.name].digest
    )


def test_earlier_generated_files_are_recorded_once_whole_ones_only(params_dir):
    params, _ = files(params_dir)
    record = pc.record_path(params)
    record.unlink()
    assert not ensure_test_params(KIB2, params_dir).generated
    assert record.is_file() and pc.check_parameters([KIB2], params_dir).ok
    record.unlink()
    with params.open("r+b") as f:
        f.truncate(params.stat().st_size - 1)
    ensure_test_params(KIB2, params_dir)
    assert not record.exists()  # a truncated file is not vouched for


def test_bad_usage_exits_2_naming_the_option(params_dir, tmp_path):
    result = check("--size", "3KiB")
    assert result.exit_code == 2 and "'--size'" in result.output
    result = check("--dir", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "'--dir'" in result.output
    assert "is not a directory" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = check("--dir", str(empty))
    assert result.exit_code == 1 and "no WindowPoSt parameter files" in result.output
