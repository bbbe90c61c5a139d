"""What starting counters at 0 costs a scrape of the manager's events.

Baseline (measured first, in the same process): a manager a period into
proving ``--miners`` mainnet miners, whose event counters hold what a
period of events makes exist (messages pushed and landed, partitions
proven, per miner, deadline and kind). Then each miner is followed
(``metrics.miner_followed``: failed, replaced and dropped messages,
partitions missed, gas, fees, skipped sectors, at 0) and the same scrape is
timed again. Prints lines, bytes and milliseconds per scrape, and ratios.

    python bench/metrics_scrape.py [--miners 30] [--scrapes 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

from prometheus_client import generate_latest

from prover import metrics

DEADLINES = 48


def scrape(registry, times: int) -> tuple[float, int, int]:
    """Median milliseconds per scrape, lines and bytes of one."""
    took = []
    for _ in range(times):
        t0 = time.perf_counter()
        body = generate_latest(registry)
        took.append((time.perf_counter() - t0) * 1000)
    return statistics.median(took), body.count(b"\n"), len(body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--miners", type=int, default=30)
    ap.add_argument("--scrapes", type=int, default=50)
    args = ap.parse_args()
    registry = metrics.registry_of(metrics.MANAGER_EVENTS)
    miners = [10_000 + i for i in range(args.miners)]
    for m in miners:
        for d in range(DEADLINES):
            metrics.message("pushed", "post", m, d)
            metrics.message_executed(
                "post", m, d, landed=True, partitions=1, gas_used=None, fee_paid=None
            )
    base = scrape(registry, args.scrapes)
    t0 = time.perf_counter()
    for m in miners:
        metrics.miner_followed(m, DEADLINES)
    follow_ms = (time.perf_counter() - t0) * 1000
    after = scrape(registry, args.scrapes)
    print(f"{args.miners} miners of {DEADLINES} deadlines, median of {args.scrapes} scrapes")
    print(f"{'':28}{'ms/scrape':>10}{'lines':>9}{'bytes':>11}")
    print(f"{'baseline (events only)':28}{base[0]:>10.1f}{base[1]:>9}{base[2]:>11}")
    print(f"{'counters started at 0':28}{after[0]:>10.1f}{after[1]:>9}{after[2]:>11}")
    print(
        f"ratio: {after[0] / base[0]:.2f}x time, {after[1] / base[1]:.2f}x lines, "
        f"{after[2] / base[2]:.2f}x bytes; following {args.miners} miners took {follow_ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
