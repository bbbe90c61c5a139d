"""A storage host in a lotus-miner's sector index (``[lotus_index]``),
against a fake miner API that checks each call's JSON as Lotus'
api-methods-miner.md gives it and then reads vanilla proofs as Lotus'
``Remote.GenerateSingleVanillaProof`` does: through the URL the host
attached, with the miner's own token, which the host has the miner verify.
Real sectors, real proofs, loopback only."""

from __future__ import annotations

import itertools
import json
import shutil
import time
import uuid

import httpx
import pytest
from fake_lotus_miner import ADMIN, READ, STORAGE_AUTH, FakeMiner
from structlog.testing import capture_logs

from conftest import KIB2, MINER
from prover.api.client import ApiInfo
from prover.chain.encoding import sealed_cid
from prover.config import StorageConfig
from prover.proofs import generate_challenges, verify_vanilla_proof
from prover.proofs.layout import sector_paths
from prover.storage import lotus_index
from prover.storage.config import StorageHostConfig
from prover.storage.daemon import StorageHost
from prover.storage.lotus_index import STORAGE_ID_NAMESPACE, LotusIndexConfig

NO_MANAGER = ApiInfo("worker.0123456789abcdef", "127.0.0.1:9")  # announcing: not under test
HEALTH_S = 0.2


def wait(condition, timeout: float = 15.0, what: str = "condition"):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        got = condition()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"no {what} within {timeout}s")


@pytest.fixture
def miner():
    m = FakeMiner().start()
    yield m
    m.stop()


@pytest.fixture(autouse=True)
def fast_heartbeat(monkeypatch):
    monkeypatch.setattr(lotus_index, "HEALTH_INTERVAL_S", HEALTH_S)


def start_host(storages: dict, api: str, lotus_token: str = "", **index) -> StorageHost:
    cfg = StorageHostConfig(
        name="host-l",
        listen="127.0.0.1:0",
        storage=[StorageConfig(name=n, path=p) for n, p in storages.items()],
        lotus_listen="127.0.0.1:0",
        lotus_token=lotus_token,
        lotus_index=LotusIndexConfig(api=api, scan_interval_s=0.3, **index),
    )
    return StorageHost(cfg, NO_MANAGER).start()


def challenge(replica, challenges, update: bool = False) -> dict:
    """A PostSectorChallenge as Lotus marshals it."""
    return {
        "SealProof": 5,
        "SectorNumber": replica.sector_id,
        "SealedCID": {"/": sealed_cid(replica.comm_r)},
        "Challenge": challenges[replica.sector_id],
        "Update": update,
    }


def test_a_storage_host_joins_the_miners_index_and_lotus_reads_through_it(
    miner, make_sectors, tmp_path, randomness, pid
):
    root = tmp_path / "a"
    plain = make_sectors([1, 2], root=root)
    snap = make_sectors([3], upgrade=True, root=root)
    host = start_host({"store-a": root}, miner.api_info(ADMIN))
    sid = str(uuid.uuid5(STORAGE_ID_NAMESPACE, "store-a"))
    url = f"http://{host.http.address}/remote"
    both = {2: False, 4: False}
    try:
        # StorageAttach(StorageInfo, FsStat): our URL, a read-only path
        wait(lambda: sid in miner.stores, what="StorageAttach")
        attach = next(p for m, p in miner.calls if m == "StorageAttach")
        assert attach[0] == {
            "ID": sid,
            "URLs": [url],
            "Weight": 0,
            "MaxStorage": 0,
            "CanSeal": False,
            "CanStore": False,
            "Groups": [],
            "AllowTo": [],
            "AllowTypes": [],
            "DenyTypes": [],
            "AllowMiners": [],
            "DenyMiners": [],
        }
        assert attach[1]["Capacity"] > 0 and attach[1]["Reserved"] == 0
        # StorageDeclareSector: one file type a call, sealed+cache, and
        # update+update-cache of the snap sector (its sector key too)
        expected = {(MINER, n, ft): False for n in (1, 2, 3) for ft in (2, 4)} | {
            (MINER, 3, 8): False,
            (MINER, 3, 16): False,
        }
        wait(lambda: miner.declared(sid) == expected, what="the declarations")
        assert all(p[3] is False for m, p in miner.calls if m == "StorageDeclareSector")

        # Lotus reads a vanilla proof through the index, with its own token
        challenges = generate_challenges(KIB2, randomness, pid, [1, 2, 3])
        got = miner.generate_single_vanilla_proof(
            MINER, challenge(plain[0], challenges), KIB2.chain_id
        )
        assert verify_vanilla_proof(KIB2, randomness, pid, plain[0].public, got)
        got = miner.generate_single_vanilla_proof(
            MINER, challenge(snap[0], challenges, update=True), KIB2.chain_id
        )
        assert verify_vanilla_proof(KIB2, randomness, pid, snap[0].public, got)
        # a token the miner does not give admin is refused on our route
        with pytest.raises(LookupError, match="lotus-miner verifies as admin"):
            miner.generate_single_vanilla_proof(
                MINER, challenge(plain[0], challenges), KIB2.chain_id, token=READ
            )
        # lotus-miner storage list reads GET /remote/stat/<ID>
        stat = httpx.get(
            f"{url}/stat/{sid}", headers={"Authorization": f"Bearer {STORAGE_AUTH}"}, timeout=10
        )
        assert stat.status_code == 200 and set(stat.json()) == {
            "Capacity", "Available", "FSAvailable", "Reserved", "Max", "Used",
        }  # fmt: skip

        # StorageReportHealth at the interval, with a real statfs
        wait(lambda: len(miner.stores[sid]["heartbeats"]) >= 5, what="5 health reports")
        beats = miner.stores[sid]["heartbeats"]
        gaps = [b - a for a, b in itertools.pairwise(beats[1:])]
        assert all(HEALTH_S * 0.5 < g < HEALTH_S * 5 for g in gaps), gaps
        assert miner.stores[sid]["err"] == "" and miner.stores[sid]["stat"]["Capacity"] > 0

        # a new sector is declared, a removed one dropped, at the next scan
        make_sectors([5], root=root)
        sealed, cache = sector_paths(root, MINER, 2)
        sealed.unlink()
        shutil.rmtree(cache)
        expected = {k: v for k, v in expected.items() if k[1] != 2} | {
            (MINER, 5, ft): p for ft, p in both.items()
        }
        wait(lambda: miner.declared(sid) == expected, what="the rescan")
        assert ("StorageDropSector", [sid, {"Miner": MINER, "Number": 2}, 2]) in miner.calls

        # a restarted miner (a new session, an empty index) is told again
        miner.restart()
        wait(lambda: miner.declared(sid) == expected, what="the re-declaration")
        got = miner.generate_single_vanilla_proof(
            MINER, challenge(plain[0], challenges), KIB2.chain_id
        )
        assert verify_vanilla_proof(KIB2, randomness, pid, plain[0].public, got)
        wait(lambda: len(miner.stores[sid]["heartbeats"]) >= 2, what="health after restart")
    finally:
        host.stop()
    # a clean stop detaches: the miner stops asking here
    assert ("StorageDetach", [sid, url]) in miner.calls
    assert sid not in miner.stores and not miner.declared(sid)
    assert miner.problems == []


def test_a_wrong_or_read_only_token_is_said_plainly_and_the_host_serves_on(miner, make_sectors):
    make_sectors([1])
    for token, said in (
        ("not-a-token-of-this-miner", "HTTP 401"),
        (READ, "missing permission to invoke 'StorageAttach' (need 'admin')"),
    ):
        with capture_logs() as logs:
            host = start_host({"store-a": make_sectors.root}, miner.api_info(token))
            try:
                refused = wait(
                    lambda: [e for e in logs if e["event"] == "lotus_index_refused"],
                    what="the refusal",
                )
                assert said in refused[0]["error"]
                assert "lotus-miner auth api-info --perm admin" in refused[0]["error"]
                assert host.server is not None and host.lotus_index.last_error
            finally:
                host.stop()
        assert not any(m == "StorageAttach" for m, _ in miner.calls)
    assert miner.problems == []


def test_a_lotus_storage_path_is_attached_with_its_own_sectorstore(
    miner, make_sectors, tmp_path, randomness, pid
):
    """A path the miner may have too: its ID, Weight, CanStore... as a
    worker opening it sends them (so that the miner's entry is not altered),
    its sectors declared primary as CanStore says."""
    root = tmp_path / "lotus-path"
    replicas = make_sectors([4], root=root)
    sid = str(uuid.uuid4())
    meta = {
        "ID": sid,
        "Weight": 10,
        "CanSeal": False,
        "CanStore": True,
        "MaxStorage": 0,
        "Groups": ["long-term"],
        "AllowTo": None,
        "AllowTypes": None,
        "DenyTypes": ["unsealed"],
        "AllowMiners": None,
        "DenyMiners": None,
    }
    (root / "sectorstore.json").write_text(json.dumps(meta))
    host = start_host({sid: root}, miner.api_info(ADMIN), lotus_token="jwt-1")
    try:
        expected = {(MINER, 4, 2): True, (MINER, 4, 4): True}
        wait(lambda: miner.declared(sid) == expected, what="the declarations")
        info = miner.stores[sid]["info"]
        assert info["Weight"] == 10 and info["CanStore"] is True and info["Groups"] == ["long-term"]
        assert info["AllowTo"] == [] and info["DenyTypes"] == ["unsealed"]
        challenges = generate_challenges(KIB2, randomness, pid, [4])
        # the configured lotus_token is taken too
        got = miner.generate_single_vanilla_proof(
            MINER, challenge(replicas[0], challenges), KIB2.chain_id, token="jwt-1"
        )
        assert verify_vanilla_proof(KIB2, randomness, pid, replicas[0].public, got)
    finally:
        host.stop()
    assert miner.problems == []
