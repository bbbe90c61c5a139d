"""Builds, here, the directory a GPU machine needs to run bench/gpu_post.py
with no network and no compiler: the CPU build, the CUDA build and, when
given, the SupraSeal build of ``prover._native`` (xz-compressed), wheels of
the Python packages the benchmark's processes import (for the GPU machine's
CPython), and the test parameters that fit, the others to be generated
there. It fits what travels (this checkout's files and the carried paths)
within ``--limit-mib``.

    python bench/gpu_pack.py --cuda BUILD [--supraseal BUILD] [--out dist/gpu-bench]

A BUILD is a ``.so``, a wheel, or ``.ci/cuda-build``'s output directory.

Then carry ``dist/gpu-bench`` and run there:

    python3 bench/gpu_post.py --pack dist/gpu-bench --out FIGURES.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata as md
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import gpu_figures as fig  # noqa: E402
from gpu_post import default_cpu_ext, extension_bytes, find_build  # noqa: E402

MIB = 1 << 20
# What the benchmark's processes import (the orchestrator, the compute
# children, prover-storage), checked with ``python -S`` against these alone.
REQUIREMENTS = (
    "annotated-types",
    "anyio",
    "bases",
    "cbor2",
    "certifi",
    "click",
    "grpcio",
    "h11",
    "httpcore",
    "httpx",
    "idna",
    "multiformats",
    "multiformats-config",
    "nvidia-ml-py",
    "prometheus-client",
    "protobuf",
    "pydantic",
    "pydantic-core",
    "structlog",
    "typing-extensions",
    "typing-inspection",
    "typing-validation",
)
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)


def travelling_bytes() -> int:
    """What travels besides the carried paths: tracked files, and untracked
    files git does not ignore."""
    total = 0
    for flag in ("--cached", "--others"):
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", flag, "--exclude-standard"],
            capture_output=True,
            check=True,
        ).stdout
        for name in filter(None, out.decode().split("\0")):
            with contextlib.suppress(FileNotFoundError):
                total += (ROOT / name).lstat().st_size
    return total


def pins() -> list[str]:
    return [f"{name}=={md.version(name)}" for name in REQUIREMENTS]


def download_wheels(dest: Path, versions: list[str]) -> None:
    for version in versions:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
        cmd += ["--only-binary=:all:", "--implementation", "cp", "--python-version", version]
        for p in PLATFORMS:
            cmd += ["--platform", p]
        subprocess.run([*cmd, "-d", str(dest), *pins()], check=True)


def copy_wheels(source: Path, dest: Path, versions: list[str]) -> None:
    wanted = {n.replace("_", "-") for n in REQUIREMENTS}
    for whl in sorted(source.glob("*.whl")):
        fits = any(
            fig.wheel_fits(whl.name, (int(v.split(".")[0]), int(v.split(".")[1]))) for v in versions
        )
        if fits and fig.wheel_name(whl.name) in wanted:
            shutil.copy2(whl, dest / whl.name)


def parameter_files(size: str, directory: Path) -> list[Path]:
    from prover.proofs import ensure_test_params, parameter_files
    from prover.proofs.params import LARGE_TEST_PARAMETER_SIZES, TEST_PARAMETER_SIZES
    from prover.proofs.types import PoStProofType

    pt = PoStProofType.from_sector_size(size)
    files = parameter_files(pt, directory)
    if pt in TEST_PARAMETER_SIZES and not files.params.exists():
        ensure_test_params(pt, directory)
    elif pt in LARGE_TEST_PARAMETER_SIZES and not files.params.exists():
        # the pack's own cache (never a production one: the native side refuses)
        ensure_test_params(pt, directory, allow_large=True)
    if not files.params.exists():
        return []
    stem = files.params.name.removesuffix(".params")
    return sorted(p for p in directory.glob(stem + ".*") if p.is_file())


def xz(data: bytes, dest: Path) -> int:
    dest.write_bytes(lzma.compress(data, preset=6))
    return dest.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", "--ext", type=Path, help="the CUDA build (.so, .whl or a dir)")
    parser.add_argument("--supraseal", type=Path, help="the SupraSeal build (likewise)")
    parser.add_argument("--cpu-ext", type=Path, help="the CPU build [default: this checkout's]")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "gpu-bench")
    parser.add_argument(
        "--python", default="3.12", help="CPython versions of the GPU machine [3.12]"
    )
    parser.add_argument("--sizes", default="2KiB,8MiB", help="parameters to carry if they fit")
    parser.add_argument(
        "--params-dir",
        type=Path,
        default=Path(
            os.environ.get("FIL_PROOFS_PARAMETER_CACHE")
            or Path.home() / ".cache" / "prover" / "test-proof-parameters"
        ),
    )
    parser.add_argument("--limit-mib", type=float, default=64.0, help="all that travels")
    wheels = parser.add_mutually_exclusive_group()
    wheels.add_argument("--wheels-from", type=Path, help="take the wheels from here (offline)")
    wheels.add_argument("--no-wheels", action="store_true", help="the GPU machine has them")
    args = parser.parse_args(argv)

    cpu_ext = args.cpu_ext or default_cpu_ext()
    if cpu_ext is None:
        parser.error("no CPU build here (prover/_native*.so): build it or give --cpu-ext")
    gpu_builds: dict[str, Path] = {}
    for name in ("cuda", "supraseal"):
        given = getattr(args, name)
        if given is None:
            continue
        found = find_build(given, name)
        if found is None:
            parser.error(f"--{name} {given}: no module or wheel there")
        gpu_builds[name] = found
    if not gpu_builds:
        parser.error("give --cuda (and --supraseal where there is one): a GPU build to carry")
    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    (out / "ext").mkdir(parents=True)
    (out / "wheels").mkdir()
    (out / "params").mkdir()
    versions = [v.strip() for v in args.python.split(",") if v.strip()]

    manifest: dict = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "python": versions,
        # each build's module, by name (bench/gpu_post.py takes those there are)
        "builds": {"cpu": "ext/cpu_native.so.xz"},
        "cpu_ext": "ext/cpu_native.so.xz",
        "build_facts": {},
        "bytes": {},
    }
    for name, path in gpu_builds.items():
        data = extension_bytes(path)
        rel = f"ext/{name}_native.so.xz"
        facts = {
            "source": str(path),
            "bytes": len(data),
            "links_libcuda": b"libcuda.so" in data,
            "kernels": fig.fatbin_kernels(data),
        }
        facts["on_sm_90"] = fig.kernels_note(facts["kernels"], "sm_90")
        manifest["builds"][name] = rel
        manifest["build_facts"][name] = facts
        manifest["bytes"][name] = xz(data, out / rel)
    if "cuda" in gpu_builds:  # as a pack of schema 1 named it
        manifest["ext"] = manifest["builds"]["cuda"]
        manifest["ext_facts"] = manifest["build_facts"]["cuda"]
    manifest["bytes"]["cpu_ext"] = xz(extension_bytes(cpu_ext), out / manifest["cpu_ext"])
    manifest["cpu_ext_source"] = str(cpu_ext)

    if args.wheels_from:
        copy_wheels(args.wheels_from, out / "wheels", versions)
    elif not args.no_wheels:
        download_wheels(out / "wheels", versions)
    manifest["wheels"] = sorted(p.name for p in (out / "wheels").glob("*.whl"))
    manifest["bytes"]["wheels"] = sum(p.stat().st_size for p in (out / "wheels").glob("*.whl"))

    tree = travelling_bytes()
    limit = int(args.limit_mib * MIB)
    margin = 1 * MIB
    used = tree + sum(manifest["bytes"].values()) + 4096  # the manifest itself
    manifest["params"], manifest["params_generated_there"] = {}, []
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        files = parameter_files(size, args.params_dir)
        need = sum(f.stat().st_size for f in files)
        if files and used + need <= limit - margin:
            for f in files:
                shutil.copy2(f, out / "params" / f.name)
            manifest["params"][size] = [f.name for f in files]
            used += need
        else:
            manifest["params_generated_there"].append(size)
    manifest["bytes"]["params"] = sum(p.stat().st_size for p in (out / "params").iterdir())
    manifest["bytes"]["checkout"] = tree
    manifest["total_bytes"] = tree + sum(v for k, v in manifest["bytes"].items() if k != "checkout")
    manifest["limit_bytes"] = limit
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))

    b = {k: v / MIB for k, v in manifest["bytes"].items()}
    carried = ", ".join(manifest["params"]) or "none"
    print(f"pack: {out}")
    for name, facts in manifest["build_facts"].items():
        label = fig.LABELS[name] + " build"
        print(
            f"  {label:14}{b[name]:6.1f} MiB  (from {facts['source']}, "
            f"{facts['bytes'] / MIB:.1f} MiB)"
        )
        print(f"                {facts['on_sm_90']}")
        if not facts["links_libcuda"]:
            print("                !! not a GPU build (no libcuda link): it will prove on the CPU")
    print(f"  CPU build     {b['cpu_ext']:6.1f} MiB  (from {cpu_ext})")
    n = len(manifest["wheels"])
    print(f"  wheels        {b['wheels']:6.1f} MiB  ({n}, CPython {args.python})")
    print(f"  parameters    {b['params']:6.1f} MiB  ({carried})")
    if manifest["params_generated_there"]:
        print(f"                generated there: {', '.join(manifest['params_generated_there'])}")
    print(f"  the checkout  {tree / MIB:6.1f} MiB")
    print(f"  travels       {manifest['total_bytes'] / MIB:6.1f} MiB of {args.limit_mib:g} MiB")
    rel = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"\ncarry: {rel}\nrun:   python3 bench/gpu_post.py --pack {rel} --out gpu_post.json")
    return 0 if manifest["total_bytes"] <= limit else 1


if __name__ == "__main__":
    sys.exit(main())
