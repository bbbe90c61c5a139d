"""A storage host that hangs mid-proof (issue 27, item 8): a real
prover-storage process paused by SIGSTOP, as a frozen machine or a cut
network would leave it, is noticed by the workers' keepalive pings in
seconds, not after the worker's 300-s sector timeout; its sectors go to the
next host serving them or are skipped as faults naming it, the partition is
still proven, and once SIGCONT wakes it the next request is its again. Each
going silent and coming back is logged once."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from conftest import KIB2, MINER
from manager_harness import StorageHostProcess
from prover.proofs import SectorRef, generate_challenges, prove_partition, verify_window_post
from prover.storage.remote import (
    RECHECK_S,
    HostAddress,
    HostChannels,
    RemoteVanilla,
    fetch_for,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import slowfs

TOKEN = "worker.0123456789abcdef"
API_INFO = f"{TOKEN}:127.0.0.1:9"  # announcing fails quietly: not under test here
SECTOR_TIMEOUT_S = 300.0  # the worker's default: what a hung host used to cost
NOTICED_WITHIN_S = 20.0


def address(host: StorageHostProcess, storage: str) -> HostAddress:
    return HostAddress(host.host_name, f"127.0.0.1:{host.port}", frozenset({storage}))


def refs(replicas, storage: str) -> list[SectorRef]:
    return [SectorRef(r.sector_id, r.comm_r, storage, storage) for r in replicas]


def within(seconds: float, fn):
    """``fn()``, failing the test if it has not returned in ``seconds`` (a
    hung host would otherwise hold it for the whole sector timeout)."""
    out: list = []
    began = time.monotonic()
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(seconds)
    took = time.monotonic() - began
    assert not t.is_alive(), f"still waiting on a paused host after {took:.0f} s"
    return out[0], took


def host_events(logs: list[dict]) -> list[tuple[str, str]]:
    return [(e["event"], e["host"]) for e in logs if e["event"].startswith("storage_host_")]


def test_a_host_paused_mid_request_hands_its_sectors_on_in_seconds_and_serves_again_after(
    make_sectors, tmp_path, randomness, pid
):
    why = slowfs.fuse_unavailable()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"slowfs: {why}; CI must run the FUSE tests (see .ci/run)")
        pytest.skip(f"slowfs: {why}")
    ids = [1, 2, 3, 4, 5, 6]
    replicas = make_sectors(ids, root=tmp_path / "store")
    sectors = refs(replicas, "store-a")
    challenges = generate_challenges(KIB2, randomness, pid, ids)
    # one read at a time behind a slow mount: a request lasts seconds, so the
    # pause lands in the middle of one
    config = tmp_path / "slow.toml"
    config.write_text("parallelism = 1\n")
    with slowfs.SlowMount(tmp_path / "store", tmp_path / "slow", 0.1) as mount:
        slow = StorageHostProcess(
            API_INFO, "host-slow", {"store-a": mount.mountpoint}, args=("--config", str(config))
        ).start()
        fast = StorageHostProcess(API_INFO, "host-fast", {"store-a": tmp_path / "store"}).start()
        try:
            hosts = [address(slow, "store-a"), address(fast, "store-a")]
            channels = HostChannels()  # a compute child's, kept from one partition to the next

            def prove() -> dict:
                with RemoteVanilla(
                    hosts, TOKEN, sector_timeout_s=SECTOR_TIMEOUT_S, channels=channels
                ) as remote:
                    return remote.prove(MINER, KIB2.chain_id, sectors, challenges)

            with capture_logs() as logs:
                assert {s.host for s in prove().values()} == {"host-slow"}  # connected
                served: dict = {}
                before = mount.stats().reads
                fetching = threading.Thread(target=lambda: served.update(prove()), daemon=True)
                fetching.start()
                until = time.monotonic() + 10
                while mount.stats().reads == before and time.monotonic() < until:
                    time.sleep(0.01)
                assert mount.stats().reads > before, "host-slow never started reading"
                slow.signal(signal.SIGSTOP)  # hung mid-request: TCP up, nothing answered
                paused = time.monotonic()
                fetching.join(NOTICED_WITHIN_S)
                noticed = time.monotonic() - paused
                assert not fetching.is_alive(), f"still waiting on host-slow after {noticed:.0f} s"
                print(f"paused host given up in {noticed:.1f} s")
                assert sorted(served) == ids
                assert all(s.proof for s in served.values())
                # what host-slow had not answered came from host-fast
                assert "host-fast" in {s.host for s in served.values()}

                slow.signal(signal.SIGCONT)
                woken = time.monotonic()
                again = prove()
                print(f"served by host-slow again {time.monotonic() - woken:.1f} s after SIGCONT")
                assert {s.host for s in again.values()} == {"host-slow"}
                assert all(s.proof for s in again.values())
            assert host_events(logs) == [
                ("storage_host_not_answering", "host-slow"),
                ("storage_host_answers_again", "host-slow"),
            ]
            (silent,) = [e for e in logs if e["event"] == "storage_host_not_answering"]
            assert "ping timeout" in silent["error"] and silent["sectors_left"] > 0
        finally:
            slow.signal(signal.SIGCONT)
            slow.kill()
            fast.kill()


def test_a_paused_host_s_sectors_are_faults_naming_it_and_the_partition_is_proven(
    make_sectors, tmp_path, randomness, pid
):
    local = make_sectors([1], root=tmp_path / "local")
    far = make_sectors([2], root=tmp_path / "far")
    remote = refs(far, "store-b")
    host = StorageHostProcess(API_INFO, "host-b", {"store-b": tmp_path / "far"}).start()
    try:
        channels = HostChannels()

        def prove_once():
            with RemoteVanilla(
                [address(host, "store-b")],
                TOKEN,
                sector_timeout_s=SECTOR_TIMEOUT_S,
                channels=channels,
            ) as rv:
                return prove_partition(
                    KIB2,
                    randomness,
                    pid,
                    local,
                    0,
                    remote=[(s.id, s.comm_r) for s in remote],
                    fetch_remote=fetch_for(rv, MINER, KIB2.chain_id, remote),
                )

        def prove():
            return within(NOTICED_WITHIN_S, prove_once)

        def fetched_in(logs: list[dict]) -> float:
            """How long the last partition waited for its remote sectors."""
            return [e for e in logs if e["event"] == "remote_vanilla_done"][-1]["seconds"]

        every = sorted([local[0].public, far[0].public])
        with capture_logs() as logs:
            proof, took = prove()
            assert proof.skipped == []  # connected, and answering
            print(f"answering: partition in {took:.1f} s, fetched in {fetched_in(logs):.2f} s")
            host.signal(signal.SIGSTOP)
            # the partition is proven without the paused host's sector
            proof, took = prove()
            first = fetched_in(logs)
            print(f"paused: partition in {took:.1f} s, host given up in {first:.1f} s")
            assert proof.skipped == [2]
            assert "host-b: not answering (keepalive)" in proof.faults[2]
            assert verify_window_post(KIB2, randomness, pid, [local[0].public], proof.proof)
            # still paused: the next partition does not wait a keepalive window again
            proof, took = prove()
            second = fetched_in(logs)
            print(f"still paused: partition in {took:.1f} s, host given up in {second:.1f} s")
            assert proof.skipped == [2] and second < RECHECK_S + 1.5
            host.signal(signal.SIGCONT)
            proof, _ = prove()
            assert proof.skipped == []
            assert verify_window_post(KIB2, randomness, pid, every, proof.proof)
        # once when it went silent, once when it answered again: not per partition
        assert host_events(logs) == [
            ("storage_host_not_answering", "host-b"),
            ("storage_host_answers_again", "host-b"),
        ]
    finally:
        host.signal(signal.SIGCONT)
        host.kill()
