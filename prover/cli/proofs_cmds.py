"""``prover params``, ``prover sectors`` and ``prover bench``: the proof
core from the command line, for setting up a machine and sizing hardware."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from prover.cli.common import api_option, connect
from prover.cli.options import SECTOR_SIZE, size_option
from prover.proofs import (
    PoStProofType,
    ProofError,
    create_test_sectors,
    ensure_test_params,
    load_test_sectors,
    mask_randomness,
    parameter_cache_dir,
    prove_partition,
    prover_id,
    verify_window_post,
)
from prover.proofs.params import LARGE_TEST_PARAMETER_SIZES, TEST_PARAMETER_SIZES

if TYPE_CHECKING:  # prover.proofs.fetch (httpx) loads only when `params fetch` runs
    from prover.proofs.fetch import Event, FileProgress


def _use_parameter_dir(directory: Path | None) -> None:
    """The library reads FIL_PROOFS_PARAMETER_CACHE once, on first use; the
    commands set it before touching the library so ``--params-dir`` holds."""
    if directory is not None:
        os.environ["FIL_PROOFS_PARAMETER_CACHE"] = str(directory)


def default_bench_root(pt: PoStProofType) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "prover" / "bench-sectors" / pt.size_name


@click.group("params")
def params_group() -> None:
    """Groth16 parameter files."""


@params_group.command("generate")
@size_option()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Parameter cache directory [default: FIL_PROOFS_PARAMETER_CACHE or "
    "/var/tmp/filecoin-proof-parameters/].",
)
@click.option(
    "--large",
    is_flag=True,
    help="Allow 512MiB (minutes of CPU, 45 MB), into a --dir of its own: never the "
    "default cache, nor beside official files.",
)
def params_generate(proof_type: PoStProofType, directory: Path | None, large: bool) -> None:
    """Make random TEST parameters for 2KiB or 8MiB sectors, or 512MiB with
    --large (local use and benchmarks only)."""
    if proof_type in LARGE_TEST_PARAMETER_SIZES:
        if not large or directory is None:
            raise click.UsageError(
                f"{proof_type} test parameters are made only with --large and a --dir of "
                "their own (never a production parameter cache)"
            )
    elif proof_type not in TEST_PARAMETER_SIZES:
        raise click.UsageError(
            f"test parameters are only made for 2KiB and 8MiB (512MiB with --large); "
            f"{proof_type} needs the official parameter files"
        )
    _use_parameter_dir(directory)
    try:
        files = ensure_test_params(proof_type, directory, allow_large=large)
    except ProofError as exc:
        raise click.ClickException(str(exc)) from exc
    state = (
        "generated (TEST parameters, valid for local use only)"
        if files.generated
        else ("already present")
    )
    click.echo(f"{proof_type} parameters {state}")
    click.echo(f"  params: {files.params}")
    click.echo(f"  vk:     {files.verifying_key}")


@params_group.command("check")
@click.option(
    "--size",
    "proof_types",
    type=SECTOR_SIZE,
    multiple=True,
    help="Sector size to check (repeatable) [default: every size with a file in the directory].",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Parameter cache directory [default: FIL_PROOFS_PARAMETER_CACHE or "
    "/var/tmp/filecoin-proof-parameters/].",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Only presence and sizes (and the small verifying keys' digests), as workers "
    "check at start.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def params_check(
    proof_types: tuple[PoStProofType, ...], directory: Path | None, quick: bool, as_json: bool
) -> None:
    """Check parameter and verifying-key files against the digests the
    proofs library publishes; exit status 1 if any is missing, truncated or
    wrong."""
    from prover.proofs.paramcheck import check_parameters, present_proof_types

    if directory is not None and not directory.is_dir():
        raise click.BadParameter(f"{directory} is not a directory", param_hint="'--dir'")
    directory = directory or parameter_cache_dir()
    chosen = list(proof_types) or present_proof_types(directory)
    report = check_parameters(chosen, directory, full=not quick)
    nothing = not chosen
    if as_json:
        out = report.as_dict()
        if nothing:
            out["ok"] = False
            out["error"] = f"no WindowPoSt parameter files in {directory}"
        click.echo(json.dumps(out, indent=1))
    elif nothing:
        click.echo(f"no WindowPoSt parameter files in {directory} (name one with --size)")
    else:
        click.echo(f"{'quick' if quick else 'full'} check of {directory}")
        for f in report.files:
            click.echo(f"  {f.proof_type.size_name:>6} {f.kind:<6} {f.describe()}")
        bad = report.problems
        click.echo(f"{len(report.files) - len(bad)} ok, {len(bad)} wrong")
    if nothing or not report.ok:
        raise SystemExit(1)


def _fetch_sizes(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[PoStProofType, ...]:
    """``--sizes 32GiB,64GiB`` (also repeated): each size read as ``--size`` reads it."""
    out: list[PoStProofType] = []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if item:
                out.append(SECTOR_SIZE.convert(item, param, ctx))
    if not out:
        raise click.BadParameter("name at least one sector size", ctx, param)
    return tuple(dict.fromkeys(out))


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class _FetchDisplay:
    """What ``params fetch`` shows while it runs: on a terminal, one bar
    over all files redrawn in place, with the events printed above it; else
    (a log, a pipe) the events only, a line each, so a log stays readable."""

    def __init__(self, *, tty: bool, err: bool) -> None:
        self.tty, self.err = tty, err
        self.began = time.monotonic()
        self.drawn = False

    def _clear(self) -> None:
        if self.drawn:
            click.echo("\r\x1b[2K", nl=False, err=self.err)
            self.drawn = False

    def event(self, event: Event) -> None:
        self._clear()
        click.echo(event.message, err=self.err)

    def tick(self, progress: Mapping[str, FileProgress]) -> None:
        if not self.tty:
            return
        files = list(progress.values())
        known = [f for f in files if f.total]
        got = sum(min(f.received, f.total or 0) for f in known)
        total = sum(f.total or 0 for f in known)
        busy = sum(f.state in ("fetching", "checking") for f in files)
        done = sum(f.state == "done" for f in files)
        rate = sum(f.fetched for f in files) / max(time.monotonic() - self.began, 1e-3)
        width = 30
        filled = int(width * got / total) if total else 0
        bar = "#" * filled + "-" * (width - filled)
        eta = f"  eta {int((total - got) / rate)}s" if rate > 0 and total > got else ""
        line = (
            f"[{bar}] {done}/{len(files)} done, {busy} busy  {_bytes(got)} of {_bytes(total)}"
            f"  {_bytes(rate)}/s{eta}"
        )
        click.echo("\r\x1b[2K" + line, nl=False, err=self.err)
        self.drawn = True

    def close(self) -> None:
        self._clear()


@params_group.command("fetch")
@click.option(
    "--sizes",
    "proof_types",
    multiple=True,
    required=True,
    callback=_fetch_sizes,
    metavar="SIZE[,SIZE...]",
    help="Sector sizes whose WindowPoSt files to fetch: 2KiB, 8MiB, 512MiB, 32GiB, 64GiB "
    "(comma-separated or repeated).",
)
@click.option(
    "--role",
    type=click.Choice(["worker", "manager"]),
    default="worker",
    show_default=True,
    help="worker: the .params and .vk files (it proves); manager: the .vk files only (it "
    "verifies). A storage host needs none.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Parameter cache directory [default: FIL_PROOFS_PARAMETER_CACHE or "
    "/var/tmp/filecoin-proof-parameters/].",
)
@click.option(
    "--base-url",
    default=None,
    metavar="URL",
    help="Gateway the files' cids are appended to [default: IPFS_GATEWAY, else "
    "https://proofs.filecoin.io/ipfs/, go-paramfetch's, as lotus fetch-params uses].",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Files fetched at once.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Times a file is tried again, resuming, after a refused or cut connection, a "
    "timeout or an HTTP 5xx before it is given up (counted afresh once bytes arrive).",
)
@click.option(
    "--parameters-json",
    "parameters_json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read the files' cids and digests from this parameters.json [default: the one "
    "built into this prover's proofs library].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
def params_fetch(
    proof_types: tuple[PoStProofType, ...],
    role: str,
    directory: Path | None,
    base_url: str | None,
    jobs: int,
    retries: int,
    parameters_json: Path | None,
    as_json: bool,
) -> None:
    """Fetch the official WindowPoSt parameter files a host needs, from the
    gateway lotus fetch-params uses, each checked against its published
    digest before it takes its name; exit status 1 if any could not be
    fetched."""
    import sys

    from prover.proofs import fetch as pf

    try:
        gateway = pf.gateway_url(base_url)
    except pf.FetchError as exc:
        raise click.BadParameter(str(exc), param_hint="'--base-url' / IPFS_GATEWAY") from None
    try:
        listing = pf.read_listing(parameters_json)
    except pf.FetchError as exc:
        raise click.BadParameter(str(exc), param_hint="'--parameters-json'") from None
    source = str(parameters_json) if parameters_json else "the library's parameters.json"
    directory = directory or parameter_cache_dir()
    display = _FetchDisplay(tty=not as_json and sys.stdout.isatty(), err=as_json)
    if not as_json:
        click.echo(f"{role} files for {', '.join(map(str, proof_types))} into {directory}")
        click.echo(f"from {gateway}")
    try:
        files = pf.wanted_files(proof_types, role, listing, source)
        report = pf.fetch_files(
            files,
            directory,
            gateway=gateway,
            role=role,
            jobs=jobs,
            retries=retries,
            on_event=display.event,
            on_tick=display.tick,
        )
    except pf.FetchError as exc:
        display.close()
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        display.close()
        click.echo(
            "interrupted: partial files are kept as NAME.part (never under a parameter's "
            "name); the same command resumes them",
            err=True,
        )
        raise SystemExit(130) from None
    display.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=1))
    else:
        out = report.as_dict()
        fetched = [f for f in report.files if f.status == pf.FETCHED]
        got = sum(f.bytes for f in fetched)
        how = ""
        if got:
            rate = got / max(report.seconds, 1e-3)
            how = f" ({_bytes(got)} in {report.seconds:.1f} s, {_bytes(rate)}/s)"
        click.echo(
            f"{len(report.files)} files: {out['fetched']} fetched{how}, "
            f"{out['present']} already present, {out['failed']} failed"
        )
        for f in report.failed:
            click.echo(f"  FAILED {f.file.name}: {f.detail}")
    if not report.ok:
        raise SystemExit(1)


@click.group("sectors")
def sectors_group() -> None:
    """Sector replicas."""


@sectors_group.command("create-test")
@click.option("--miner", type=click.IntRange(min=0), required=True, help="Miner actor id.")
@size_option()
@click.option("--count", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--first",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Number of the first sector.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Storage root: sectors go to ROOT/sealed and ROOT/cache (upgraded: also ROOT/update*).",
)
@click.option("--seal", is_flag=True, help="Really seal (PC1+PC2) instead of fauxrep.")
@click.option(
    "--upgrade",
    is_flag=True,
    help="Snap-upgrade them: seal as committed capacity, then a real empty-sector "
    "update into ROOT/update and ROOT/update-cache (the new comm_r is printed).",
)
def sectors_create_test(
    miner: int,
    proof_type: PoStProofType,
    count: int,
    first: int,
    root: Path,
    seal: bool,
    upgrade: bool,
) -> None:
    """Make provable test sectors in the Lotus layout."""
    try:
        replicas = create_test_sectors(
            root, miner, range(first, first + count), proof_type, seal=seal, upgrade=upgrade
        )
    except ProofError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'Sector':>8}  {'CommR':<64}  {'Update' if upgrade else 'Sealed'}")
    for r in replicas:
        click.echo(f"{r.sector_id:>8}  {r.comm_r.hex():<64}  {r.sealed_path}")


@sectors_group.command("check")
@click.option("--miner", type=click.IntRange(min=0), required=True, help="Miner actor id.")
@click.option(
    "--deadline", type=click.IntRange(min=0), default=None, help="Only this deadline [all]."
)
@click.option(
    "--slow",
    "slow_s",
    type=click.FloatRange(min=0),
    default=0.0,
    help="A good sector slower than this many seconds is reported slow [never].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: sectors and totals.")
@api_option
def sectors_check(miner, deadline, slow_s, as_json, api, api_ca):
    """A vanilla proof of every sector, verified, read as proving reads it
    (the manager's mounts or the storage hosts); exit status 1 if any is bad."""
    import grpc

    from prover._proto import manager_pb2 as pb

    req = pb.CheckSectorsRequest(miner=miner, slow_s=slow_s)
    if deadline is not None:
        req.deadline = deadline
    rows = []
    began = time.monotonic()
    with connect(api, api_ca) as client:
        try:
            for c in client.admin.CheckSectors(req, metadata=client.metadata, timeout=24 * 3600):
                rows.append(c)
                if not as_json:
                    why = f" ({c.reason})" if c.reason else ""
                    click.echo(
                        f"{c.deadline:>3} {c.partition:>4} {c.sector:>10}  "
                        f"{c.status + why:<40} {c.seconds:8.3f}s  {c.served_by}"
                    )
        except grpc.RpcError as exc:
            raise click.ClickException(f"{exc.code().name}: {exc.details()}") from None
    counts = {s: sum(1 for c in rows if c.status == s) for s in ("good", "slow", "bad")}
    wall = time.monotonic() - began
    if as_json:
        click.echo(
            json.dumps(
                {
                    "miner": miner,
                    "sectors": [
                        {
                            "deadline": c.deadline,
                            "partition": c.partition,
                            "sector": c.sector,
                            "status": c.status,
                            "reason": c.reason,
                            "seconds": c.seconds,
                            "served_by": c.served_by,
                        }
                        for c in rows
                    ],
                    "totals": {**counts, "sectors": len(rows), "seconds": round(wall, 3)},
                },
                indent=1,
            )
        )
    else:
        click.echo(
            f"{len(rows)} sectors: {counts['good']} good, {counts['slow']} slow, "
            f"{counts['bad']} bad in {wall:.1f} s"
        )
    if counts["bad"]:
        raise SystemExit(1)


@click.group("bench")
def bench_group() -> None:
    """Measure proving on this machine."""


@bench_group.command("post")
@size_option()
@click.option(
    "--sectors",
    "count",
    type=click.IntRange(min=1),
    default=None,
    help="Sectors in the partition [default: a full partition].",
)
@click.option("--miner", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where test sectors are made or reused [default: ~/.cache/prover/bench-sectors/SIZE].",
)
@click.option(
    "--params-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Parameter cache directory [default: FIL_PROOFS_PARAMETER_CACHE].",
)
@click.option(
    "--parallelism",
    type=click.IntRange(min=1),
    default=None,
    help="Threads for vanilla proofs [default: sectors, up to 2x cores].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_post(
    proof_type: PoStProofType,
    count: int | None,
    miner: int,
    root: Path | None,
    params_dir: Path | None,
    parallelism: int | None,
    as_json: bool,
) -> None:
    """Prove and verify one partition of test sectors; print step timings."""
    count = count or proof_type.partition_sectors
    if count > proof_type.partition_sectors:
        raise click.UsageError(
            f"--sectors {count}: one {proof_type} partition holds at most "
            f"{proof_type.partition_sectors} sectors"
        )
    _use_parameter_dir(params_dir)
    root = root or default_bench_root(proof_type)
    try:
        ensure_test_params(proof_type, params_dir or parameter_cache_dir())
        replicas = load_test_sectors(root, miner, proof_type)
        if len(replicas) < count:
            have = {r.sector_id for r in replicas}
            missing = [n for n in range(count * 2) if n not in have][: count - len(replicas)]
            replicas += create_test_sectors(root, miner, missing, proof_type)
        replicas = sorted(replicas, key=lambda r: r.sector_id)[:count]
        randomness = mask_randomness(secrets.token_bytes(32))
        pid = prover_id(miner)
        result = prove_partition(proof_type, randomness, pid, replicas, 0, parallelism=parallelism)
        t0 = time.perf_counter()
        verified = verify_window_post(
            proof_type, randomness, pid, result.public_sectors, result.proof
        )
        verify_s = time.perf_counter() - t0
    except ProofError as exc:
        raise click.ClickException(str(exc)) from exc

    timings = result.timings.as_dict()
    timings["verify"] = verify_s
    timings["total"] = result.timings.total + verify_s
    if as_json:
        click.echo(
            json.dumps(
                {
                    "proof_type": proof_type.api_name,
                    "sector_size": proof_type.sector_size,
                    "sectors": len(replicas),
                    "skipped": result.skipped,
                    "verified": verified,
                    "timings": timings,
                    "gpu": result.gpu.as_dict() if result.gpu is not None else None,
                }
            )
        )
    else:
        click.echo(f"WindowPoSt {proof_type}, {len(replicas)} sectors, partition 0")
        click.echo(f"{'step':<12}{'seconds':>10}")
        for step in ("challenges", "vanilla", "snark", "verify", "total"):
            click.echo(f"{step:<12}{timings[step]:>10.4f}")
        if result.skipped:
            click.echo(f"skipped sectors: {result.skipped}")
        gpu = result.gpu
        if gpu is not None and gpu.fallback:
            click.echo(f"!! the {gpu.build} build's SNARK ran on the CPU: {gpu.fallback}")
        elif gpu is not None and gpu.build == "cuda" and gpu.observed:
            click.echo(
                f"SNARK on the GPU ({gpu.fft_kernels} FFT, {gpu.multiexp_kernels} multiexp kernels)"
            )
        click.echo(f"verified: {'yes' if verified else 'NO'}")
    if not verified:
        raise SystemExit(1)
