"""The storage-host rows of bench/storage_paths.py: the same partitions and
sectors checks, but read by a real ``prover-storage`` (its StorageService
over real gRPC, in process) from the disk it holds, while the worker mounts
nothing. A ``DelayProxy`` puts a network with the slow mount's latency as
its round trip between the two, so each row pays for the network it
replaces: the NFS server's latency per read becomes one round trip per
request, and the proofs stream back."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from netdelay import DelayProxy

TOKEN = "worker.bench-token"


def start_host(root: Path, *, parallelism: int = 32, name: str = "bench-host") -> Any:
    from prover.api.client import ApiInfo
    from prover.config import StorageConfig
    from prover.storage.config import StorageHostConfig
    from prover.storage.daemon import StorageHost

    cfg = StorageHostConfig(
        name=name,
        listen="127.0.0.1:0",
        storage=[StorageConfig(name="store", path=root)],
        parallelism=parallelism,
    )
    # no manager in the benchmark: the announcements fail quietly, and the
    # worker is given the host's address as the index would give it
    return StorageHost(cfg, ApiInfo(TOKEN, "127.0.0.1:9")).start()


def prove_through_host(
    miner: int,
    size: str,
    sectors: Sequence[Any],
    root: Path,
    randomness: Sequence[bytes],
    rtt_ms: float,
) -> dict:
    """Partitions proven with every vanilla proof from a storage host on
    ``root`` behind a link of ``rtt_ms`` round trip; each proof verified.
    Medians over the rounds, as ``prove_rounds`` gives them."""
    from prover.proofs import (
        PoStProofType,
        SectorRef,
        mask_randomness,
        prove_partition,
        prover_id,
        verify_window_post,
    )
    from prover.storage.remote import HostAddress, RemoteVanilla, fetch_for

    pt, pid = PoStProofType.from_sector_size(size), prover_id(miner)
    refs = [SectorRef(s.id, s.comm_r, "store", "store") for s in sectors]
    host = start_host(root)
    timings, verified = [], True
    try:
        with DelayProxy(("127.0.0.1", host.port), rtt_ms / 2e3) as link:
            address = HostAddress("bench-host", link.address, frozenset({"store"}))
            with RemoteVanilla([address], TOKEN, sector_timeout_s=300) as remote:
                for r in randomness:
                    masked = mask_randomness(r)
                    proof = prove_partition(
                        pt,
                        masked,
                        pid,
                        [],
                        0,
                        remote=[(s.id, s.comm_r) for s in refs],
                        fetch_remote=fetch_for(remote, miner, pt.chain_id, refs),
                    )
                    if proof.skipped:
                        raise RuntimeError(f"storage host: sectors skipped: {proof.faults}")
                    verified &= verify_window_post(
                        pt, masked, pid, proof.public_sectors, proof.proof
                    )
                    timings.append(proof.timings)
    finally:
        host.stop()

    def med(step: str) -> float:
        return statistics.median(getattr(t, step) for t in timings)

    return {
        "total_s": med("total"),
        "vanilla_s": med("vanilla"),
        "snark_s": med("snark"),
        "vanilla_share": statistics.median(t.vanilla / t.total for t in timings),
        "verified": verified,
        "totals_s": [t.total for t in timings],
    }


@contextlib.contextmanager
def host_process(root: Path, parallelism: int) -> Iterator[str]:
    """A real ``prover-storage`` serving ``root`` with its read limit at
    ``parallelism`` (and so its rayon pool, as the daemon sizes it): its
    address, while it runs."""
    env = {k: v for k, v in os.environ.items() if k != "RAYON_NUM_THREADS"}
    env["PROVER_API_INFO"] = f"{TOKEN}:127.0.0.1:9"
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as cfg:
        cfg.write(f"parallelism = {parallelism}\nsector_timeout_s = 600.0\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prover.cli.storage_main",
            "--config",
            cfg.name,
            "--listen",
            "127.0.0.1:0",
            "--storage",
            f"store={root}",
            "--log-json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in proc.stdout:
            if '"storage_host_started"' in line:
                yield json.loads(line)["listen"]
                break
        else:
            raise RuntimeError("prover-storage did not start")
    finally:
        proc.terminate()
        proc.wait(30)
        os.unlink(cfg.name)


def check_through_host(
    miner: int, size: str, sectors: Sequence[Any], root: Path, parallelism: int
) -> dict:
    """A vanilla proof of each sector from a real storage host reading
    ``root`` (the slow mount here: a host whose own disk is slow) with its
    read limit at ``parallelism``, each proof verified as `prover sectors
    check` verifies it."""
    from prover.proofs import (
        PoStProofType,
        SectorRef,
        generate_challenges,
        mask_randomness,
        prover_id,
        verify_vanilla_proof,
    )
    from prover.storage.remote import HostAddress, RemoteVanilla

    pt, pid = PoStProofType.from_sector_size(size), prover_id(miner)
    refs = [SectorRef(s.id, s.comm_r, "store", "store") for s in sectors]
    randomness = mask_randomness(os.urandom(32))
    challenges = generate_challenges(pt, randomness, pid, [r.id for r in refs])
    with host_process(root, parallelism) as address:
        host = HostAddress("bench-host", address, frozenset({"store"}))
        with RemoteVanilla([host], TOKEN, sector_timeout_s=600) as remote:
            t0 = time.perf_counter()
            served = remote.prove(miner, pt.chain_id, refs, challenges)
            wall = time.perf_counter() - t0
    good = sum(
        1
        for r in refs
        if served[r.id].proof is not None
        and verify_vanilla_proof(pt, randomness, pid, (r.id, r.comm_r), served[r.id].proof)
    )
    times = sorted(s.seconds for s in served.values())
    return {
        "parallelism": parallelism,
        "sectors": len(refs),
        "good": good,
        "wall_s": wall,
        "sector_median_s": statistics.median(times),
        "sector_p95_s": times[min(len(times) - 1, int(0.95 * len(times)))],
    }
