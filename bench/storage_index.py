"""Finding a deadline's sectors on the storages: a ``stat`` per sector per
storage (the baseline, how planning worked before) against one listing of
each storage's directories (``StorageIndex``), in the same run.

A layout of ``--sectors`` sectors of one miner is spread over three storages
(replica on one, cache on another, as Lotus allows), then every sector is
looked up as planning does. Local disk here: on a network file system each
``stat`` is a round trip, so the count of file-system calls matters more
than the time printed.

    python bench/storage_index.py [--sectors 23490] [--storages 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from prover.proofs.layout import StorageIndex, locate, sector_paths

MINER = 1000


def layout(root: Path, sectors: int, storages: int) -> dict[str, Path]:
    roots = {f"store-{i}": root / f"store-{i}" for i in range(storages)}
    for r in roots.values():
        (r / "sealed").mkdir(parents=True)
        (r / "cache").mkdir(parents=True)
    names = sorted(roots)
    for n in range(1, sectors + 1):
        sealed, _ = sector_paths(roots[names[n % storages]], MINER, n)
        _, cache = sector_paths(roots[names[(n + 1) % storages]], MINER, n)
        sealed.touch()
        cache.mkdir()
    return roots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sectors", type=int, default=23_490)  # 10 partitions of 2349
    parser.add_argument("--storages", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        roots = layout(Path(tmp), args.sectors, args.storages)
        wanted = range(1, args.sectors + 1)
        stats = 0
        real_stat = os.stat

        def counting_stat(*a, **kw):
            nonlocal stats
            stats += 1
            return real_stat(*a, **kw)

        os.stat = counting_stat
        try:
            start = time.perf_counter()
            per_sector = [locate(roots, MINER, n) for n in wanted]
            t_stat = time.perf_counter() - start
            stat_calls = stats
            start = time.perf_counter()
            index = StorageIndex(roots, MINER)
            listed = [index.locate(MINER, n) for n in wanted]
            t_index = time.perf_counter() - start
        finally:
            os.stat = real_stat
        assert listed == per_sector and all(listed)
        print(f"{args.sectors} sectors on {args.storages} storages (local disk)")
        print(f"{'method':<26}{'seconds':>10}{'fs calls':>12}")
        print(f"{'stat per sector (before)':<26}{t_stat:>10.3f}{stat_calls:>12}")
        listings = 4 * args.storages  # sealed, cache, update, update-cache
        print(f"{'StorageIndex (one listing)':<26}{t_index:>10.3f}{listings:>12}")
        print(f"ratio (index / stat): {t_index / t_stat:.2f} in time")


if __name__ == "__main__":
    main()
