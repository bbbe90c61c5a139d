"""``prover params fetch`` against a real HTTP server on loopback: a gateway
of the test's own (``/ipfs/<cid>``, Range requests answered with 206, and
faults on demand: corrupt bytes, a connection cut mid-body, 503s, a Range
ignored), serving random files of a few MB under the official WindowPoSt
names, with a parameters.json of their real digests (the official files
cannot be downloaded here)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from prover.cli.main import cli
from prover.proofs import PoStProofType
from prover.proofs import fetch as pf
from prover.proofs.paramcheck import proof_type_files

SIZES = (PoStProofType.WINDOW_2KIB, PoStProofType.WINDOW_8MIB, PoStProofType.WINDOW_512MIB)
SIZES_ARG = "2KiB,8MiB,512MiB"
PROVER = str(Path(sys.executable).parent / "prover")  # the installed console script


@dataclass
class Gateway:
    """What the server serves, the faults it is told to make, and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)  # cid -> content
    corrupt: set[str] = field(default_factory=set)  # served with one byte flipped
    cut_after: dict[str, int] = field(default_factory=dict)  # body cut after N bytes, once
    fail_503: dict[str, int] = field(default_factory=dict)  # answered 503 this many times
    ignore_range: bool = False
    pause_s: float = 0.0  # between 64 KiB writes: a slow link
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (cid, Range)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def requests_for(self, cid: str) -> list[str | None]:
        with self.lock:
            return [rng for c, rng in self.seen if c == cid]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self) -> None:
        gw: Gateway = self.server.gateway  # type: ignore[attr-defined]
        m = re.fullmatch(r"/ipfs/([A-Za-z0-9]+)", self.path)
        cid = m.group(1) if m else ""
        rng = self.headers.get("Range")
        with gw.lock:
            gw.seen.append((cid, rng))
            data = gw.files.get(cid)
            fail = gw.fail_503.get(cid, 0)
            if fail:
                gw.fail_503[cid] = fail - 1
            cut = gw.cut_after.pop(cid, None)
        if data is None:
            return self._plain(404, b"no such cid\n")
        if fail:
            return self._plain(503, b"busy\n")
        if cid in gw.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        if rng and not gw.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        view = memoryview(body)
        for i in range(0, len(body), 1 << 16):
            self.wfile.write(view[i : i + (1 << 16)])
            if gw.pause_s:
                time.sleep(gw.pause_s)

    def _plain(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.gateway = gw  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    gw.url = f"http://127.0.0.1:{server.server_address[1]}/ipfs/"
    try:
        yield gw
    finally:
        server.shutdown()
        server.server_close()


def digest(data: bytes) -> str:
    return hashlib.blake2b(data).hexdigest()[:32]


@dataclass(frozen=True)
class Listing:
    path: Path  # the parameters.json
    content: dict[str, bytes]  # file name -> bytes
    cids: dict[str, str]  # file name -> cid


@pytest.fixture
def listing(gateway, tmp_path) -> Listing:
    """Random files under the official names of three sizes (parameters of
    2-3 MB, verifying keys of a few KB), served by ``gateway``, and a
    parameters.json of their digests; plus one PoRep-like entry of the same
    size that must never be fetched."""
    entries, content, cids = {}, {}, {}
    for i, pt in enumerate(SIZES):
        params, vk = proof_type_files(pt, Path("."))
        for path, size in ((params, (2 << 20) + i * 400_000 + 12345), (vk, 3000 + i)):
            data = secrets.token_bytes(size)
            cid = "Qm" + secrets.token_hex(22)
            gateway.files[cid] = data
            content[path.name], cids[path.name] = data, cid
            entries[path.name] = {"cid": cid, "digest": digest(data), "sector_size": pt.sector_size}
    porep = "v28-stacked-proof-of-replication-merkletree-poseidon_hasher-8-0-0-sha256_hasher-x"
    other_cid = "Qm" + secrets.token_hex(22)
    gateway.files[other_cid] = b"not for WindowPoSt"
    entries[porep + ".params"] = {"cid": other_cid, "digest": "0" * 32, "sector_size": 2048}
    path = tmp_path / "parameters.json"
    path.write_text(json.dumps(entries, indent=1))
    return Listing(path, content, cids)


def fetch_cli(listing: Listing, directory: Path, *args: str, env: dict | None = None):
    return CliRunner().invoke(
        cli,
        ["params", "fetch", "--dir", str(directory), "--parameters-json", str(listing.path), *args],
        env=env,
        catch_exceptions=False,
    )


def fetch_lib(listing: Listing, directory: Path, gateway: Gateway, role=pf.WORKER, **kw):
    files = pf.wanted_files(SIZES, role, pf.read_listing(listing.path), "test listing")
    events: list[pf.Event] = []
    report = pf.fetch_files(
        files,
        directory,
        gateway=gateway.url,
        role=role,
        backoff_s=0.01,
        on_event=events.append,
        **kw,
    )
    return report, events


def names_in(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()} - {pf.LOCK_FILE}


def assert_whole(listing: Listing, directory: Path, names) -> None:
    for name in names:
        assert (directory / name).read_bytes() == listing.content[name], name


# ---- the good path -------------------------------------------------------------------


def test_a_good_fetch_into_a_fresh_directory_then_skips_what_is_there(gateway, listing, tmp_path):
    directory = tmp_path / "fresh" / "params"  # made by the fetch
    result = fetch_cli(
        listing, directory, "--sizes", SIZES_ARG, "--base-url", gateway.url, "--json"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["ok"] and out["fetched"] == 6 and out["present"] == 0 and out["failed"] == 0
    assert out["gateway"] == gateway.url and out["directory"] == str(directory)
    assert names_in(directory) == set(listing.content)  # no .part, nothing else
    assert_whole(listing, directory, listing.content)
    assert {f["url"] for f in out["files"]} == {gateway.url + c for c in listing.cids.values()}
    # exactly the WindowPoSt files, each asked once, whole, by go-paramfetch's URL shape
    assert sorted(c for c, _ in gateway.seen) == sorted(listing.cids.values())
    assert all(rng is None for _, rng in gateway.seen)

    stale = directory / (next(iter(listing.content)) + pf.PART_SUFFIX)
    stale.write_bytes(b"left by an earlier run")
    again = fetch_cli(listing, directory, "--sizes", SIZES_ARG, "--base-url", gateway.url)
    assert again.exit_code == 0, again.output
    assert again.output.count("already present, digest ok: skipped") == 6
    assert f"(removed a stale {stale.name})" in again.output and not stale.exists()
    assert "0 fetched" in again.output and "6 already present" in again.output
    assert len(gateway.seen) == 6  # nothing asked again


def test_the_manager_fetches_only_the_verifying_keys(gateway, listing, tmp_path):
    directory = tmp_path / "mgr"
    result = fetch_cli(
        listing, directory, "--sizes", "2KiB", "--sizes", "8MiB,512MiB", "--role", "manager",
        "--base-url", gateway.url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    vks = {n for n in listing.content if n.endswith(".vk")}
    assert names_in(directory) == vks
    assert_whole(listing, directory, vks)
    assert {c for c, _ in gateway.seen} == {listing.cids[n] for n in vks}


def test_ipfs_gateway_is_honoured_and_base_url_beats_it(gateway, listing, tmp_path):
    # as operators often write it: without the trailing slash go-paramfetch needs
    env = {pf.GATEWAY_ENV: gateway.url.rstrip("/")}
    result = fetch_cli(listing, tmp_path / "a", "--sizes", "2KiB", env=env)
    assert result.exit_code == 0, result.output
    assert f"from {gateway.url}\n" in result.output
    assert len(gateway.seen) == 2
    dead = {pf.GATEWAY_ENV: "http://127.0.0.1:9/ipfs/"}  # discard port: never used here
    result = fetch_cli(
        listing, tmp_path / "b", "--sizes", "2KiB", "--base-url", gateway.url, env=dead
    )
    assert result.exit_code == 0, result.output
    assert len(gateway.seen) == 4


def test_the_default_cache_directory_is_the_librarys(gateway, listing, tmp_path):
    """Without --dir the files go where the library reads them, resolved in a
    process of its own (the library reads FIL_PROOFS_PARAMETER_CACHE once)."""
    directory = tmp_path / "cache"
    env = {**os.environ, "FIL_PROOFS_PARAMETER_CACHE": str(directory)}
    out = subprocess.run(
        [PROVER, "params", "fetch", "--sizes", "2KiB",
         "--role", "manager", "--base-url", gateway.url, "--parameters-json", str(listing.path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    vk = proof_type_files(PoStProofType.WINDOW_2KIB, directory)[1]
    assert vk.read_bytes() == listing.content[vk.name]
    assert f"into {directory}" in out.stdout


# ---- faults ------------------------------------------------------------------------------


def test_a_corrupt_file_is_fetched_again_then_refused_and_named(gateway, listing, tmp_path):
    params_8m = proof_type_files(PoStProofType.WINDOW_8MIB, Path("."))[0].name
    gateway.corrupt.add(listing.cids[params_8m])
    directory = tmp_path / "p"
    result = fetch_cli(listing, directory, "--sizes", SIZES_ARG, "--base-url", gateway.url)
    assert result.exit_code == 1, result.output
    assert f"FAILED {params_8m}: wrong digest" in result.output
    assert "refused, nothing kept" in result.output
    assert "fetching it again from scratch" in result.output
    assert gateway.requests_for(listing.cids[params_8m]) == [None, None]  # twice, whole
    # nothing under its name, no .part; the others are whole
    assert names_in(directory) == set(listing.content) - {params_8m}
    assert_whole(listing, directory, set(listing.content) - {params_8m})


def test_a_connection_cut_halfway_is_resumed_with_a_range(gateway, listing, tmp_path):
    params_512 = proof_type_files(PoStProofType.WINDOW_512MIB, Path("."))[0].name
    cid = listing.cids[params_512]
    cut = len(listing.content[params_512]) // 2 + 777
    gateway.cut_after[cid] = cut
    report, events = fetch_lib(listing, tmp_path / "p", gateway)
    assert report.ok, [f.detail for f in report.failed]
    assert gateway.requests_for(cid) == [None, f"bytes={cut}-"]
    assert_whole(listing, tmp_path / "p", listing.content)
    r = next(f for f in report.files if f.file.name == params_512)
    assert r.status == pf.FETCHED and r.tries == 1
    assert r.bytes == len(listing.content[params_512])  # every byte once over the wire
    assert any(e.kind == "retry" and e.name == params_512 for e in events)


def test_a_part_left_by_an_earlier_run_is_resumed(gateway, listing, tmp_path):
    directory = tmp_path / "p"
    directory.mkdir()
    params_2k = proof_type_files(PoStProofType.WINDOW_2KIB, directory)[0]
    data = listing.content[params_2k.name]
    (directory / (params_2k.name + pf.PART_SUFFIX)).write_bytes(data[: 1 << 20])
    report, _ = fetch_lib(listing, directory, gateway)
    assert report.ok
    assert gateway.requests_for(listing.cids[params_2k.name]) == [f"bytes={1 << 20}-"]
    r = next(f for f in report.files if f.file.name == params_2k.name)
    assert r.resumed_from == 1 << 20 and r.bytes == len(data) - (1 << 20)
    assert params_2k.read_bytes() == data
    assert names_in(directory) == set(listing.content)


def test_an_interrupted_fetch_keeps_its_part_and_the_next_run_resumes(gateway, listing, tmp_path):
    """Ctrl-C (a KeyboardInterrupt on the caller's thread) stops every
    fetch: what arrived stays in NAME.part, nothing takes a parameter's name
    unchecked, and the next run asks for the rest only."""
    gateway.pause_s = 0.005
    directory = tmp_path / "p"
    params_512 = proof_type_files(PoStProofType.WINDOW_512MIB, directory)[0]

    def interrupt(progress):
        if progress[params_512.name].received > 256 << 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_lib(listing, directory, gateway, tick_s=0.01, on_tick=interrupt)
    part = directory / (params_512.name + pf.PART_SUFFIX)
    kept = part.stat().st_size
    assert 256 << 10 < kept < len(listing.content[params_512.name])
    assert not params_512.exists()
    gateway.pause_s = 0.0
    report, _ = fetch_lib(listing, directory, gateway)
    assert report.ok
    assert gateway.requests_for(listing.cids[params_512.name])[-1] == f"bytes={kept}-"
    assert_whole(listing, directory, listing.content)
    assert names_in(directory) == set(listing.content)


def test_a_truncated_file_under_its_name_is_resumed_and_a_wrong_one_replaced(
    gateway, listing, tmp_path
):
    """What an interrupted in-place fetch (go-paramfetch's) leaves: a short
    file under the name. It leaves the name, is resumed, and checked; a
    whole-length but altered file gets a 416, fails its digest, and is
    fetched again from scratch."""
    directory = tmp_path / "p"
    directory.mkdir()
    params_2k, vk_2k = proof_type_files(PoStProofType.WINDOW_2KIB, directory)
    data = listing.content[params_2k.name]
    params_2k.write_bytes(data[:100_000])
    vk = listing.content[vk_2k.name]
    vk_2k.write_bytes(vk[:-1] + bytes([vk[-1] ^ 1]))
    report, events = fetch_lib(listing, directory, gateway)
    assert report.ok, [f.detail for f in report.failed]
    assert gateway.requests_for(listing.cids[params_2k.name]) == ["bytes=100000-"]
    assert gateway.requests_for(listing.cids[vk_2k.name]) == [f"bytes={len(vk)}-", None]
    assert params_2k.read_bytes() == data and vk_2k.read_bytes() == vk
    assert sum(e.kind == "moved" for e in events) == 2


def test_a_server_that_ignores_ranges_is_read_whole(gateway, listing, tmp_path):
    gateway.ignore_range = True
    directory = tmp_path / "p"
    directory.mkdir()
    vk_8m = proof_type_files(PoStProofType.WINDOW_8MIB, directory)[1]
    (directory / (vk_8m.name + pf.PART_SUFFIX)).write_bytes(b"stale bytes")
    report, events = fetch_lib(listing, directory, gateway)
    assert report.ok
    assert vk_8m.read_bytes() == listing.content[vk_8m.name]
    assert any(e.kind == "restart" and "ignored the Range" in e.message for e in events)


def test_503s_are_retried_and_a_404_is_not(gateway, listing, tmp_path):
    params_2k, vk_2k = (p.name for p in proof_type_files(PoStProofType.WINDOW_2KIB, Path(".")))
    gateway.fail_503[listing.cids[params_2k]] = 2
    del gateway.files[listing.cids[vk_2k]]
    report, _ = fetch_lib(listing, tmp_path / "p", gateway)
    assert not report.ok
    assert [f.file.name for f in report.failed] == [vk_2k]
    assert f"{gateway.url}{listing.cids[vk_2k]}: HTTP 404" in report.failed[0].detail
    assert len(gateway.requests_for(listing.cids[params_2k])) == 3
    assert len(gateway.requests_for(listing.cids[vk_2k])) == 1
    assert names_in(tmp_path / "p") == set(listing.content) - {vk_2k}


def test_a_server_that_is_down_is_a_clear_error_and_leaves_nothing(listing, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/ipfs/"
    directory = tmp_path / "p"
    result = fetch_cli(listing, directory, "--sizes", "2KiB", "--base-url", url, "--retries", "1")
    assert result.exit_code == 1, result.output
    for name in (p.name for p in proof_type_files(PoStProofType.WINDOW_2KIB, directory)):
        assert f"FAILED {name}: cannot fetch {url}{listing.cids[name]}: ConnectError" in (
            result.output
        )
    assert "(tried 2 times in a row)" in result.output
    assert names_in(directory) == set()  # neither a file nor a .part


def test_an_unwritable_directory_is_a_clear_error(gateway, listing, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = fetch_cli(listing, blocker / "p", "--sizes", "2KiB", "--base-url", gateway.url)
    assert result.exit_code == 1
    assert f"cannot make {blocker / 'p'}" in result.output
    assert gateway.seen == []


# ---- one fetch at a time ---------------------------------------------------------------

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_fetch_waits_for_another_holding_fetch_lock(gateway, listing, tmp_path):
    """go-paramfetch's lock (an fcntl lock on DIR/fetch.lock), held here by
    another process as lotus fetch-params would hold it."""
    directory = tmp_path / "p"
    directory.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(directory / pf.LOCK_FILE), "0.7"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        report, events = fetch_lib(listing, directory, gateway, role=pf.MANAGER)
        assert holder.poll() is not None  # it only went on once the holder was gone
    finally:
        holder.kill()
        holder.wait()
    assert report.ok
    assert events[0].kind == "lock-wait" and str(directory / pf.LOCK_FILE) in events[0].message
    assert (directory / pf.LOCK_FILE).stat().st_size == 0  # go4's lock refuses a non-empty one


def test_a_shared_client_may_be_given(gateway, listing, tmp_path):
    with httpx.Client() as client:
        report, _ = fetch_lib(listing, tmp_path / "p", gateway, client=client, jobs=2)
        assert report.ok and not client.is_closed
