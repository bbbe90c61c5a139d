"""Storage hosts end to end: real prover-storage processes on loopback
serve two storages, a manager and a worker that mount nothing prove the
devnet's deadline through them; `prover sectors check` reads and verifies
every sector the same way; a killed host's sectors are skipped, never the
partition lost; a wrong token is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from chain_fixtures import MINER, start_devnet, wait_for
from manager_harness import StorageHostProcess
from prover.proofs.layout import sector_paths


def split_stores(chain, tmp_path, moved: list[int]):
    """Moves ``moved`` sectors' files from store-1 to a second storage root."""
    other = tmp_path / "store-2"
    for n in moved:
        for src in sector_paths(chain.store, MINER, n):
            dst = other / src.parent.name / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src, dst)
    return {"store-1": chain.store, "store-2": other}


def hosts_for(m, stores: dict) -> list[StorageHostProcess]:
    token = m.api_info("worker")
    return [
        StorageHostProcess(token, f"host-{i + 1}", {name: path}).start()
        for i, (name, path) in enumerate(sorted(stores.items()))
    ]


def sectors_check(m, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "prover.cli", "sectors", "check", "--miner", str(MINER), *args],
        env={**m.env(), "PROVER_API_INFO": m.api_info()},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_worker_without_mounts_proves_sectors_on_two_storage_hosts(tmp_path):
    chain = start_devnet(tmp_path, {2: [[1, 2]]})
    stores = split_stores(chain, tmp_path, [2])
    m = chain.manager(tmp_path / "mgr", mounts=False)
    hosts = hosts_for(m, stores)
    w = None
    try:
        for h in hosts:
            h.wait_for("storage_host_announced", 30)
        w = chain.worker(tmp_path / "w1", m, storages={})
        wait_for(lambda: chain.proven(0, 2) == {0}, 120, "deadline 2 proven")
        started = w.wait_for("proving_started", 5)
        assert started["remote"] == 2 and started["hosts"] == ["host-1", "host-2"]
        done = w.wait_for("remote_vanilla_done", 5)
        assert done["hosts"] == ["host-1", "host-2"] and done["faulty"] == 0
        assert {h.wait_for("vanilla_served", 5)["good"] for h in hosts} == {1}
        # the manager planned without mounts: from the hosts' listings
        assert not m.events("partition_unprovable")

        listed = subprocess.run(
            [sys.executable, "-m", "prover.cli", "storage", "list", "--json"],
            env={**m.env(), "PROVER_API_INFO": m.api_info()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert [(h["name"], h["storages"], h["live"]) for h in json.loads(listed.stdout)] == [
            ("host-1", ["store-1"], True),
            ("host-2", ["store-2"], True),
        ]

        # every sector read through the hosts and verified
        checked = sectors_check(m, "--json")
        assert checked.returncode == 0, checked.stderr
        report = json.loads(checked.stdout)
        assert [(s["sector"], s["status"], s["served_by"]) for s in report["sectors"]] == [
            (1, "good", "host-1"),
            (2, "good", "host-2"),
        ]
        assert report["totals"]["good"] == 2 and report["totals"]["bad"] == 0

        # a corrupt sector on a host: bad with the reason, exit status 1
        sealed, _ = sector_paths(stores["store-2"], MINER, 2)
        sealed.write_bytes(sealed.read_bytes()[:100])
        checked = sectors_check(m, "--deadline", "2")
        assert checked.returncode == 1
        (bad,) = [line for line in checked.stdout.splitlines() if "bad (" in line]
        assert "2  bad (" in bad and "is 100 bytes, expected 2048" in bad and "host-2" in bad
        assert "2 sectors: 1 good, 0 slow, 1 bad" in checked.stdout
        wrong = sectors_check(m, "--deadline", "60")
        assert (
            wrong.returncode == 1 and "deadline" in wrong.stderr and "out of range" in wrong.stderr
        )
    finally:
        if w is not None:
            w.kill()
        for h in hosts:
            h.kill()
        m.kill()
        chain.server.stop()


def test_a_killed_storage_host_costs_its_sectors_not_the_partition(tmp_path):
    chain = start_devnet(tmp_path, {3: [[1, 2]]})
    stores = split_stores(chain, tmp_path, [2])
    m = chain.manager(tmp_path / "mgr", mounts=False, jobs={"heartbeat_timeout_s": 60.0})
    hosts = hosts_for(m, stores)
    w = None
    try:
        for h in hosts:
            h.wait_for("storage_host_announced", 30)
        wait_for(lambda: m.events("deadline_jobs_created"), 60, "deadline 3 planned")
        hosts[1].kill()  # store-2's only host, still "live" in the index for a minute
        w = chain.worker(tmp_path / "w1", m, storages={})
        wait_for(lambda: chain.proven(0, 3) == {0}, 120, "deadline 3 proven")
        failed = w.wait_for("storage_host_failed", 5)
        assert failed["host"] == "host-2"
        finished = w.wait_for("job_finished", 5)
        assert finished["success"] and finished["faulty"] == [2]
        assert 2 in chain.miner.faulty  # skipped in the PoSt: faulty on chain, nothing missed
        assert not m.events("partition_missed")
    finally:
        if w is not None:
            w.kill()
        for h in hosts:
            h.kill()
        m.kill()
        chain.server.stop()


def test_a_storage_host_with_a_wrong_token_is_refused(tmp_path):
    chain = start_devnet(tmp_path, {2: [[1, 2]]})
    m = chain.manager(tmp_path / "mgr", mounts=False)
    host = StorageHostProcess(
        f"worker.{'0' * 64}:127.0.0.1:{m.port}", "host-x", {"store-1": chain.store}
    ).start()
    try:
        refused = host.wait_for("announce_refused", 30)
        assert refused["code"] == "UNAUTHENTICATED" and "invalid token" in refused["error"]
        with m.client() as client:
            from prover._proto import manager_pb2 as pb

            listed = client.admin.ListStorageHosts(
                pb.ListStorageHostsRequest(), metadata=client.metadata, timeout=10
            )
        assert list(listed.hosts) == []
    finally:
        host.kill()
        m.kill()
        chain.server.stop()
