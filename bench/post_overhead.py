"""What the Python layer adds to a partition proof.

For each sector size, the same partition (same sectors, same randomness) is
proven and verified by ``prove_partition`` from Python and by the crate's
``post_timings`` example, which runs the same Rust steps with no
interpreter, in the same run. Each side's first round (which maps the
parameter file) is dropped; medians of the remaining rounds are compared.

    python bench/post_overhead.py [--sizes 2KiB,8MiB] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("challenges", "vanilla", "snark", "verify", "total")


def build_baseline() -> Path:
    """Builds the Rust example (no Python feature) and returns its path."""
    cmd = [
        "cargo",
        "build",
        "--release",
        "--no-default-features",
        "--example",
        "post_timings",
        "--manifest-path",
        str(ROOT / "native" / "Cargo.toml"),
        "--message-format=json",
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "post_timings":
            return Path(msg["executable"])
    raise RuntimeError("cargo did not report the post_timings executable")


def python_rounds(pt, randomness, pid, replicas, rounds, parallelism):
    from prover.proofs import prove_partition, verify_window_post

    results = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        proof = prove_partition(pt, randomness, pid, replicas, 0, parallelism=parallelism)
        t1 = time.perf_counter()
        ok = verify_window_post(pt, randomness, pid, proof.public_sectors, proof.proof)
        t2 = time.perf_counter()
        row = proof.timings.as_dict()
        row.update(verify=t2 - t1, total=t2 - t0, verified=ok)
        results.append(row)
    return results


def rust_rounds(binary, pt, randomness, pid, replicas, rounds, parallelism):
    specs = [f"{r.sector_id}:{r.comm_r.hex()}:{r.sealed_path}:{r.cache_dir}" for r in replicas]
    cmd = [str(binary), pt.api_name, randomness.hex(), pid.hex(), str(parallelism), str(rounds)]
    out = subprocess.run(cmd + specs, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def median(rows, step):
    return statistics.median(r[step] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2KiB,8MiB")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    args = parser.parse_args()

    os.environ.setdefault(
        "FIL_PROOFS_PARAMETER_CACHE",
        str(Path.home() / ".cache" / "prover" / "test-proof-parameters"),
    )
    from prover.proofs import (
        PoStProofType,
        create_test_sectors,
        ensure_test_params,
        mask_randomness,
        prover_id,
    )

    binary = build_baseline()
    py_version = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {py_version}")
    print(f"rounds: {args.rounds} (+1 warm-up each side), vanilla threads: {args.parallelism}")
    summary = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="prover-bench-") as tmp:
        for size in args.sizes.split(","):
            pt = PoStProofType.from_sector_size(size)
            ensure_test_params(pt)
            replicas = create_test_sectors(
                Path(tmp) / pt.size_name, 1000, range(pt.partition_sectors), pt
            )
            randomness, pid = mask_randomness(secrets.token_bytes(32)), prover_id(1000)
            n = args.rounds + 1
            py = python_rounds(pt, randomness, pid, replicas, n, args.parallelism)[1:]
            rs = rust_rounds(binary, pt, randomness, pid, replicas, n, args.parallelism)[1:]
            if not all(r["verified"] for r in py + rs):
                print(f"{pt}: a proof did not verify")
                failed = True
            print(f"\n{pt} partition, {len(replicas)} sectors (median seconds)")
            print(f"{'step':<12}{'python':>10}{'rust':>10}{'python/rust':>13}{'diff ms':>10}")
            sizes = {}
            for step in STEPS:
                p, r = median(py, step), median(rs, step)
                ratio = p / r if r else float("nan")
                sizes[step] = {"python": p, "rust": r}
                diff_ms = (p - r) * 1000
                print(f"{step:<12}{p:>10.4f}{r:>10.4f}{ratio:>13.4f}{diff_ms:>+10.2f}")
            p_total, r_total = sizes["total"]["python"], sizes["total"]["rust"]
            overhead = (p_total - r_total) / r_total * 100
            print(f"Python layer overhead on total: {overhead:+.2f}% (budget 2%)")
            sizes["overhead_percent"] = overhead
            summary[pt.size_name] = sizes
    if args.json:
        print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
