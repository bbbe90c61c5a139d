"""``prover params fetch`` without a server: which files a role gets from
which list, where they are fetched from (go-paramfetch's gateway, the
``IPFS_GATEWAY`` override, ``--base-url``), and the options refused before
anything is fetched."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from prover.cli.main import cli
from prover.cli.proofs_cmds import _fetch_sizes
from prover.proofs import PoStProofType
from prover.proofs import fetch as pf
from prover.proofs.paramcheck import Published, proof_type_files, published

KIB2, MIB8, GIB32, GIB64 = (
    PoStProofType.WINDOW_2KIB,
    PoStProofType.WINDOW_8MIB,
    PoStProofType.WINDOW_32GIB,
    PoStProofType.WINDOW_64GIB,
)


def names(pt: PoStProofType) -> tuple[str, str]:
    params, vk = proof_type_files(pt, Path("."))
    return params.name, vk.name


# ---- where from ------------------------------------------------------------------------


def test_the_default_gateway_is_go_paramfetchs():
    assert pf.gateway_url(None, {}) == "https://proofs.filecoin.io/ipfs/"


def test_ipfs_gateway_overrides_it_and_base_url_overrides_both():
    env = {"IPFS_GATEWAY": "https://mirror.example/ipfs/"}
    assert pf.gateway_url(None, env) == "https://mirror.example/ipfs/"
    assert pf.gateway_url("http://10.0.0.5:8080/ipfs/", env) == "http://10.0.0.5:8080/ipfs/"
    assert pf.gateway_url(None, {"IPFS_GATEWAY": ""}) == pf.DEFAULT_GATEWAY  # empty: unset


def test_a_gateway_without_its_trailing_slash_gets_one():
    # go-paramfetch concatenates gateway and cid: ".../ipfsQm..." would 404 there
    assert pf.gateway_url(None, {"IPFS_GATEWAY": "https://mirror.example/ipfs"}) == (
        "https://mirror.example/ipfs/"
    )


def test_a_gateway_that_is_not_http_is_refused():
    with pytest.raises(pf.FetchError, match="not an http"):
        pf.gateway_url("ftp://mirror.example/ipfs/", {})


def test_the_url_is_the_gateway_then_the_cid():
    params, _ = names(GIB32)
    cid = published()[params].cid
    assert pf.file_url(pf.DEFAULT_GATEWAY, cid) == f"https://proofs.filecoin.io/ipfs/{cid}"


# ---- which files -------------------------------------------------------------------------


def test_a_worker_gets_params_and_vk_of_each_size_from_the_built_list():
    files = pf.wanted_files([GIB32, GIB64, GIB32], pf.WORKER, published())
    assert [f.name for f in files] == [*names(GIB32), *names(GIB64)]
    assert [f.kind for f in files] == ["params", "vk", "params", "vk"]
    for f in files:
        entry = published()[f.name]
        assert (f.cid, f.digest) == (entry.cid, entry.digest)
        assert entry.sector_size == f.proof_type.sector_size
        assert "proof-of-spacetime" in f.name  # never PoRep or SnapDeals files


def test_a_manager_gets_only_the_verifying_keys():
    files = pf.wanted_files([KIB2, GIB32], pf.MANAGER, published())
    assert [f.name for f in files] == [names(KIB2)[1], names(GIB32)[1]]
    assert {f.kind for f in files} == {"vk"}


def test_every_size_is_in_the_built_list():
    for pt in PoStProofType:
        assert len(pf.wanted_files([pt], pf.WORKER, published())) == 2


def test_a_file_the_list_lacks_is_named():
    params, vk = names(MIB8)
    listing = {vk: Published("Qmx", "0" * 32, MIB8.sector_size)}
    with pytest.raises(pf.FetchError, match=f"my.json lists no {params}"):
        pf.wanted_files([MIB8], pf.WORKER, listing, "my.json")
    assert len(pf.wanted_files([MIB8], pf.MANAGER, listing, "my.json")) == 1


def test_a_file_listed_for_another_size_is_refused():
    params, vk = names(MIB8)
    listing = {n: Published("Qmx", "0" * 32, KIB2.sector_size) for n in (params, vk)}
    with pytest.raises(pf.FetchError, match="for sector size 2048, not 8388608"):
        pf.wanted_files([MIB8], pf.WORKER, listing)


def test_an_unknown_role_is_refused():
    with pytest.raises(pf.FetchError, match="unknown role 'storage'"):
        pf.wanted_files([KIB2], "storage", published())


def test_another_parameters_json_is_read(tmp_path):
    params, vk = names(KIB2)
    good = {
        params: {"cid": "QmA", "digest": "AB" * 16, "sector_size": 2048},
        vk: {"cid": "QmB", "digest": "cd" * 16, "sector_size": "2048"},
    }
    path = tmp_path / "parameters.json"
    path.write_text(json.dumps(good))
    listing = pf.read_listing(path)
    assert listing[params] == Published("QmA", "ab" * 16, 2048)  # digests compared lower-case
    assert listing[vk].sector_size == 2048


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "expected an object"),
        ('{"x.vk": {"cid": "Qm"}}', "entry 'x.vk' lacks"),
    ],
)
def test_a_bad_parameters_json_is_named(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(pf.FetchError, match=message):
        pf.read_listing(path)
    with pytest.raises(pf.FetchError, match="cannot read"):
        pf.read_listing(tmp_path / "absent.json")


def test_content_range():
    assert pf.parse_content_range("bytes 100-199/200") == (100, 199, 200)
    assert pf.parse_content_range("bytes 0-9/*") == (0, 9, None)
    with pytest.raises(ValueError):
        pf.parse_content_range("items 0-9/10")
    with pytest.raises(ValueError):
        pf.parse_content_range(None)


# ---- the lock, the report -------------------------------------------------------------


def test_the_lock_is_go_paramfetchs_file_left_empty(tmp_path):
    lock = pf.DirectoryLock(tmp_path)
    lock.acquire()
    lock.release()
    lock.acquire()  # released, so taken again
    lock.release()
    assert (tmp_path / "fetch.lock").stat().st_size == 0


def test_the_report_counts_and_names():
    params, vk = names(KIB2)
    a = pf.WantedFile(KIB2, params, "QmA", "a" * 32)
    b = pf.WantedFile(KIB2, vk, "QmB", "b" * 32)
    report = pf.FetchReport(
        Path("/p"),
        pf.DEFAULT_GATEWAY,
        pf.WORKER,
        (
            pf.FileResult(a, Path("/p") / params, pf.FETCHED, "u1", bytes=10, size=10, tries=1),
            pf.FileResult(b, Path("/p") / vk, pf.FAILED, "u2", detail="u2: HTTP 404"),
        ),
    )
    out = report.as_dict()
    assert not report.ok and [f.file.name for f in report.failed] == [vk]
    assert (out["fetched"], out["present"], out["failed"], out["bytes"]) == (1, 0, 1, 10)
    assert out["files"][1]["detail"] == "u2: HTTP 404" and out["files"][0]["kind"] == "params"


# ---- the command's options ----------------------------------------------------------------


def test_sizes_are_read_as_the_rest_of_the_cli_reads_them():
    cmd = cli.commands["params"].commands["fetch"]
    param = next(p for p in cmd.params if p.name == "proof_types")
    ctx = click.Context(cmd)
    assert _fetch_sizes(ctx, param, ("32GiB,64GiB", "32GiB", " 2KiB ,")) == (GIB32, GIB64, KIB2)
    assert _fetch_sizes(ctx, param, ("StackedDrgWindow8MiBV1_1",)) == (MIB8,)


def fetch(*args: str):
    return CliRunner().invoke(cli, ["params", "fetch", *args], catch_exceptions=False)


def test_an_unknown_size_is_a_clear_error(tmp_path):
    result = fetch("--sizes", "32GiB,16GiB", "--dir", str(tmp_path))
    assert result.exit_code == 2
    assert "no WindowPoSt proof type for sector size '16GiB'" in result.output
    assert "known: 2KiB, 8MiB, 512MiB, 32GiB, 64GiB" in result.output
    assert list(tmp_path.iterdir()) == []


def test_sizes_are_required_and_a_role_is_one_of_two(tmp_path):
    assert fetch("--dir", str(tmp_path)).exit_code == 2
    result = fetch("--sizes", "32GiB", "--role", "storage", "--dir", str(tmp_path))
    assert result.exit_code == 2 and "'storage' is not one of 'worker', 'manager'" in result.output
    assert fetch("--sizes", ",", "--dir", str(tmp_path)).exit_code == 2


def test_a_bad_gateway_or_list_is_refused_before_anything_is_fetched(tmp_path):
    result = fetch("--sizes", "32GiB", "--base-url", "proofs.example/ipfs", "--dir", str(tmp_path))
    assert result.exit_code == 2 and "not an http:// or https:// URL" in result.output
    bad = tmp_path / "p.json"
    bad.write_text("{")
    result = fetch("--sizes", "32GiB", "--parameters-json", str(bad), "--dir", str(tmp_path))
    assert result.exit_code == 2 and "is not JSON" in result.output
    empty = tmp_path / "e.json"
    empty.write_text("{}")
    result = fetch("--sizes", "32GiB", "--parameters-json", str(empty), "--dir", str(tmp_path))
    assert result.exit_code == 1 and f"{empty} lists no {names(GIB32)[0]}" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.json", "p.json"]
