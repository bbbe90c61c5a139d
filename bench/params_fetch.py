"""Throughput of ``prover params fetch`` (``prover.proofs.fetch``) against a
plain download, on loopback (issue 26).

A 32GiB WindowPoSt ``.params`` is tens of gigabytes, so what the fetch adds
per byte (hashing as it writes, the ``.part`` bookkeeping, the threads)
must not slow it below what the link gives. Loopback is far faster than any
gateway, so a cost shows here if anywhere.

Files of random bytes (default 4 x 64 MB) are served from tmpfs by a
server in a process of its own (HTTP/1.1, Range, ``sendfile``), so the
server's Python does not share the client's GIL. One run measures, each
round in a fresh destination directory on tmpfs (the disk is not what is
measured):

- baseline: one plain httpx stream per file, one file after another,
  written to a file, no digest;
- baseline + digest: the same, hashing each chunk (BLAKE2b-512, as the
  fetch checks), to tell the digest's cost from the rest;
- ``fetch_files`` with ``jobs=1`` and ``jobs=4``: ``.part``, digest, fsync,
  rename, as ``prover params fetch`` runs it.

and prints MB/s (10^6 bytes) for each, the median of the rounds, and the
ratio to the baseline of the same run.

    python bench/params_fetch.py [--files 4] [--mb 64] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from prover.proofs import fetch as pf
from prover.proofs.types import PoStProofType

TMPFS = Path("/dev/shm")


class _Handler(BaseHTTPRequestHandler):
    """Serves ``ROOT/<cid>`` at ``/ipfs/<cid>``, a ``bytes=N-`` range as 206."""

    protocol_version = "HTTP/1.1"
    root = Path(".")

    def log_message(self, format, *args):
        pass

    def do_GET(self) -> None:
        m = re.fullmatch(r"/ipfs/([A-Za-z0-9._-]+)", self.path)
        path = self.root / m.group(1) if m else None
        if path is None or not path.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = path.stat().st_size
        start = 0
        rng = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if rng and int(rng.group(1)) < size:
            start = int(rng.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        with open(path, "rb") as f:
            self.connection.sendfile(f, start, size - start)


def serve(root: str) -> None:
    """The server process: prints its port, serves until killed."""
    _Handler.root = Path(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def baseline(client: httpx.Client, urls: list[str], out: Path, *, digest: bool) -> int:
    """One plain stream per file, in turn, to a file; returns the bytes."""
    n = 0
    for i, url in enumerate(urls):
        h = hashlib.blake2b() if digest else None
        with client.stream("GET", url) as r, open(out / f"plain-{i}", "wb") as f:
            r.raise_for_status()
            for chunk in r.iter_raw():
                f.write(chunk)
                if h is not None:
                    h.update(chunk)
                n += len(chunk)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--mb", type=int, default=64, help="size of each file, MB (10^6 bytes)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.serve)

    base = TMPFS if TMPFS.is_dir() else Path(tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix="prover-bench-fetch-", dir=base))
    served = work / "served"
    served.mkdir()
    wanted: list[pf.WantedFile] = []
    size = args.mb * 10**6
    for i in range(args.files):
        data = os.urandom(size)
        cid = f"bench{i}"
        (served / cid).write_bytes(data)
        digest = hashlib.blake2b(data).hexdigest()[:32]
        wanted.append(pf.WantedFile(PoStProofType.WINDOW_32GIB, f"bench-{i}.params", cid, digest))
    del data
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(served)], stdout=subprocess.PIPE, text=True
    )
    try:
        gateway = f"http://127.0.0.1:{server.stdout.readline().strip()}/ipfs/"
        urls = [pf.file_url(gateway, w.cid) for w in wanted]
        total = size * args.files
        runs: dict[str, list[float]] = {
            "baseline": [],
            "baseline + digest": [],
            "fetch jobs=1": [],
            "fetch jobs=4": [],
        }
        with httpx.Client(timeout=60) as client:
            baseline(client, urls[:1], work, digest=False)  # warm: page cache, connections
            for _ in range(args.rounds):
                for name in runs:
                    out = Path(tempfile.mkdtemp(prefix="out-", dir=work))
                    t0 = time.perf_counter()
                    if name.startswith("baseline"):
                        got = baseline(client, urls, out, digest=name.endswith("digest"))
                    else:
                        report = pf.fetch_files(
                            wanted, out, gateway=gateway, jobs=int(name.rsplit("=", 1)[1])
                        )
                        if not report.ok:
                            raise SystemExit(f"fetch failed: {report.failed[0].detail}")
                        got = sum(f.bytes for f in report.files)
                    seconds = time.perf_counter() - t0
                    if got != total:
                        raise SystemExit(f"{name}: {got} bytes, expected {total}")
                    runs[name].append(total / seconds / 1e6)
                    shutil.rmtree(out)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
        shutil.rmtree(work, ignore_errors=True)

    base_mbs = statistics.median(runs["baseline"])
    rows = {
        name: {
            "mb_s": round(statistics.median(v), 1),
            "rounds": [round(x, 1) for x in v],
            "ratio": round(statistics.median(v) / base_mbs, 2),
        }
        for name, v in runs.items()
    }
    setup = {
        "files": args.files,
        "mb_each": args.mb,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "dir": str(base),
    }
    if args.json:
        print(json.dumps({"setup": setup, "results": rows}, indent=1))
        return
    print(
        f"{args.files} files x {args.mb} MB over loopback, served from and written to "
        f"{base}, median of {args.rounds} rounds ({os.cpu_count()} CPUs)"
    )
    print(f"{'':<20}{'MB/s':>9}{'x baseline':>12}   rounds")
    for name, row in rows.items():
        rounds = " ".join(f"{x:.0f}" for x in row["rounds"])
        print(f"{name:<20}{row['mb_s']:>9.1f}{row['ratio']:>12.2f}   {rounds}")


if __name__ == "__main__":
    main()
