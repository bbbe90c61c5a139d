"""A real ``prover-storage --lotus-miner-api`` process joins a (fake)
lotus-miner's sector index, Lotus reads a vanilla proof through the URL it
attached, and a clean stop detaches it; with a token the miner refuses it
says so plainly and goes on running."""

from __future__ import annotations

import signal
import time

from fake_lotus_miner import ADMIN, FakeMiner

from conftest import KIB2, MINER
from manager_harness import StorageHostProcess
from prover.chain.encoding import sealed_cid
from prover.proofs import generate_challenges, verify_vanilla_proof

NO_MANAGER = "worker.0123456789abcdef:127.0.0.1:9"  # announcing: not under test


def host(miner: FakeMiner, token: str, root) -> StorageHostProcess:
    return StorageHostProcess(
        NO_MANAGER,
        "host-l",
        {"store-a": root},
        args=("--lotus-listen", "127.0.0.1:0", "--lotus-miner-api", miner.api_info(token)),
    ).start()


def test_prover_storage_joins_a_lotus_miners_index(make_sectors, randomness, pid):
    replicas = make_sectors([1, 2])
    miner = FakeMiner().start()
    h = host(miner, ADMIN, make_sectors.root)
    try:
        attached = h.wait_for("lotus_index_attached", 30)
        listening = h.wait_for("http_listening", 5)
        url = f"http://{listening['listen']}/remote"
        assert attached["url"] == url and attached["storage"] == "store-a"
        sid = attached["id"]
        h.wait_for("lotus_index_declared", 10, id=sid)
        assert set(miner.declared(sid)) == {(MINER, n, ft) for n in (1, 2) for ft in (2, 4)}
        challenges = generate_challenges(KIB2, randomness, pid, [2])
        sector = {
            "SealProof": 5,
            "SectorNumber": 2,
            "SealedCID": {"/": sealed_cid(replicas[1].comm_r)},
            "Challenge": challenges[2],
            "Update": False,
        }
        got = miner.generate_single_vanilla_proof(MINER, sector, KIB2.chain_id)
        assert verify_vanilla_proof(KIB2, randomness, pid, replicas[1].public, got)
        h.signal(signal.SIGTERM)
        h.wait_for("lotus_index_detached", 30, id=sid)
        assert h.proc.wait(30) == 0
        assert sid not in miner.stores and miner.problems == []
    finally:
        h.kill()
        miner.stop()


def test_prover_storage_says_plainly_when_the_miner_refuses_its_token(make_sectors):
    make_sectors([1])
    miner = FakeMiner().start()
    h = host(miner, "a-token-of-another-miner", make_sectors.root)
    try:
        refused = h.wait_for("lotus_index_refused", 30)
        assert "HTTP 401" in refused["error"] and "--perm admin" in refused["error"]
        time.sleep(0.5)
        assert h.proc.poll() is None  # it goes on serving its workers
        assert not miner.stores
    finally:
        h.kill()
        miner.stop()
