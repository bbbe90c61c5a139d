"""The GPU builds on a machine with no GPU and no driver: ``cuda``
(``--features cuda``, bellperson's kernels) and ``supraseal``
(``--features supraseal``, SupraSeal's C2 kernels for every Groth16 proof).

``.ci/cuda-build [cuda|supraseal]`` builds the package with that feature and
names its directory in ``PROVER_TEST_CUDA_BUILD`` / ``PROVER_TEST_SUPRASEAL_BUILD``:
``wheel/prover_<build>-*.whl`` (the distribution GPU hosts install, tagged
manylinux_2_28) and ``cuda/lib64/``, the ``libcuda.so.1`` it was linked
against (Debian's ``libcuda1``, the driver's user-space library, unpacked, not
installed). The wheel is unpacked into a folder of its own and loaded in a
subprocess with that folder first on ``sys.path``, so the project's CPU
extension is never replaced.

What each build does there, each tested:

- no ``libcuda.so.1`` at all (no driver installed): the module cannot be
  loaded (it links the driver's library), and the proof core refuses with
  :class:`prover.proofs.native.NativeUnavailable` naming the missing driver;
  the process exits cleanly, no crash; ``prover --version`` still says which
  build it is, from the wheel's record;
- the driver's library present but no GPU usable (no kernel module, no
  device): the module loads; the cuda build's bellperson finds no CUDA device
  and proves on the CPU, and the proof is accepted by the CPU build's
  verifier; the supraseal build has no CPU prover, and the proof fails with
  SupraSeal's own "No CUDA devices available".

With CI=true a missing build fails the test instead of skipping it.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import KIB2, MINER
from prover.proofs import verify_window_post
from prover.proofs.native import CUDA_DRIVER_MISSING

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import gpu_figures  # bench/: its reader of nvcc's fatbins

FATBIN_MAGIC = (0xBA55ED50).to_bytes(4, "little")
BUILDS = {"cuda": "PROVER_TEST_CUDA_BUILD", "supraseal": "PROVER_TEST_SUPRASEAL_BUILD"}
# SupraSeal's message when it finds no device (supraseal-c2's groth16_srs.cuh)
NO_DEVICE = "No CUDA devices available"


@dataclass(frozen=True)
class GpuBuild:
    name: str  # cuda or supraseal: the cargo feature and the record's build
    dir: Path  # what .ci/cuda-build printed
    site: Path  # the wheel, unpacked
    lib64: Path  # the libcuda.so.1 it was linked against

    @property
    def native(self) -> Path:
        (native,) = (self.site / "prover").glob("_native*.so")
        return native


def build_dir(name: str) -> Path:
    env = BUILDS[name]
    build = os.environ.get(env)
    if not build:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{env} is not set: CI must build and test the {name} build (.ci/wheels)")
        pytest.skip(f"{env} is not set (.ci/cuda-build {name} makes it; CI runs this test)")
    return Path(build)


def wheel_of(name: str) -> Path:
    build = build_dir(name)
    wheels = sorted(Path(build, "wheel").glob(f"prover_{name}-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {build}/wheel, found {wheels}"
    return wheels[0]


_unpacked: dict[str, GpuBuild] = {}


def unpacked(name: str, tmp_path_factory) -> GpuBuild:
    if name not in _unpacked:
        wheel = wheel_of(name)
        site = tmp_path_factory.mktemp(f"{name}-build")
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
        build = GpuBuild(name, build_dir(name), site, build_dir(name) / "cuda" / "lib64")
        build.native.chmod(0o755)
        _unpacked[name] = build
    return _unpacked[name]


@pytest.fixture(scope="module", params=sorted(BUILDS))
def gpu_build(request, tmp_path_factory) -> GpuBuild:
    return unpacked(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def cuda_build(tmp_path_factory) -> GpuBuild:
    return unpacked("cuda", tmp_path_factory)


@pytest.fixture(scope="module")
def supraseal_build(tmp_path_factory) -> GpuBuild:
    return unpacked("supraseal", tmp_path_factory)


def run_build(site: Path, code: str, *, env: dict[str, str], cwd: Path):
    """``code`` in a fresh interpreter whose ``prover`` is the GPU build's
    (``-I``: no PYTHONPATH, the working directory not on the path)."""
    script = f"import sys\nsys.path.insert(0, {str(site)!r})\n" + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def driver_installed() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def without_the_driver() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}


def with_the_drivers_library(build: GpuBuild, tmp_path: Path) -> dict[str, str]:
    """The driver's user-space library, without its kernel module or a GPU;
    where a GPU is present, it is hidden."""
    env = dict(os.environ)
    if not driver_installed():
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (str(build.lib64), env.get("LD_LIBRARY_PATH", "")) if p
        )
    env["TMPDIR"] = str(tmp_path)  # bellperson's GPU lock files go there
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


# machine code (sm_NN) and PTX (compute_NN) each build must carry
KERNELS = {
    # ec-gpu-gen's default targets, for bellperson's and neptune's kernels
    "cuda": {"sass": {"sm_75", "sm_80", "sm_86"}, "ptx": set()},
    # sppark's (sm_75, sm_80, sm_120; PTX compute_80, compute_100) and those
    # .ci/cuda-build adds (sm_86, sm_89, sm_90)
    "supraseal": {
        "sass": {"sm_80", "sm_86", "sm_89", "sm_90", "sm_120"},
        "ptx": {"compute_80", "compute_100"},
    },
}


def test_the_build_is_its_gpu_build(gpu_build):
    needed = subprocess.run(
        ["readelf", "-d", str(gpu_build.native)], capture_output=True, text=True, check=True
    ).stdout
    assert "[libcuda.so.1]" in needed, "the GPU build does not link the driver's libcuda.so.1"
    data = gpu_build.native.read_bytes()
    # ec-gpu-gen embeds nvcc's fatbins (bellperson's and neptune's kernels);
    # the supraseal build also carries SupraSeal's and sppark's
    assert data.count(FATBIN_MAGIC) >= (2 if gpu_build.name == "cuda" else 3)
    kernels = gpu_figures.fatbin_kernels(data)
    sass = {k["arch"] for k in kernels if k["kind"] == "sass"}
    ptx = {k["arch"] for k in kernels if k["kind"] == "ptx"}
    want = KERNELS[gpu_build.name]
    assert want["sass"] <= sass and want["ptx"] <= ptx, (sass, ptx)
    assert (gpu_build.lib64 / "libcuda.so.1").exists()
    if gpu_build.name == "supraseal":
        # SupraSeal's C2 prover is in, and libstdc++ is linked in, not asked of the host
        assert b"generate_groth16_proofs_c" in data
        assert "libstdc++" not in needed


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_the_wheel_is_its_own_distribution_tagged_manylinux_2_28(name):
    wheel = wheel_of(name)
    assert wheel.name.endswith("-cp311-abi3-manylinux_2_28_x86_64.whl"), wheel.name
    with zipfile.ZipFile(wheel) as zf:
        record = json.loads(zf.read("prover/_build.json"))
        (metadata,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        assert f"\nName: prover-{name}\n" in zf.read(metadata).decode()
        # the driver's library is never carried: auditwheel left it out
        assert not [n for n in zf.namelist() if "libcuda" in n]
    assert record["build"] == name and record["cuda"] == "13.0", record


def test_without_a_driver_the_version_still_says_which_build_and_driver(gpu_build, tmp_path):
    """``prover --version`` must answer where the module cannot load: from
    the wheel's record, never by loading the module."""
    if driver_installed():
        pytest.skip("libcuda.so.1 is installed here: this machine has the driver")
    done = run_build(
        gpu_build.site,
        """
        from prover.cli.main import cli
        cli(["--version"])
        """,
        env=without_the_driver(),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f", {gpu_build.name}, CUDA 13.0: driver >= 580.65.06)" in done.stdout, done.stdout


def test_no_driver_refuses_naming_the_driver(gpu_build, tmp_path):
    if driver_installed():
        pytest.skip("libcuda.so.1 is installed here: this machine has the driver")
    done = run_build(
        gpu_build.site,
        """
        try:
            from prover.proofs.native import load
            load()  # the first use of the proof core
        except ImportError as exc:
            print(type(exc).__module__, type(exc).__name__)
            print(exc)
            sys.exit(3)
        print("loaded")
        """,
        env=without_the_driver(),
        cwd=tmp_path,
    )
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr[-3000:])
    kind, message = done.stdout.split("\n", 1)
    assert kind == "prover.proofs.native NativeUnavailable"
    assert CUDA_DRIVER_MISSING in message
    assert "libcuda.so.1" in message


def prove_in(build: GpuBuild, make_sectors, randomness, pid, tmp_path):
    """One 2KiB partition proven by ``build`` with the driver's library but
    no GPU; prints the proof, or the exception it raised (exit 3)."""
    return run_build(
        build.site,
        f"""
        import json
        from prover import _native
        from prover.proofs import PoStProofType, load_test_sectors, prove_partition
        pt = PoStProofType.WINDOW_2KIB
        replicas = load_test_sectors({str(make_sectors.root)!r}, {MINER}, pt)
        try:
            result = prove_partition(pt, bytes.fromhex({randomness.hex()!r}),
                                     bytes.fromhex({pid.hex()!r}), replicas, 0)
        except Exception as exc:
            print(json.dumps({{"native": _native.__file__, "error": type(exc).__name__,
                              "message": str(exc)}}))
            sys.exit(3)
        print(json.dumps({{"native": _native.__file__, "build": _native.BUILD_FLAVOR,
                          "proof": result.proof.hex(), "skipped": result.skipped}}))
        """,
        env=with_the_drivers_library(build, tmp_path),
        cwd=tmp_path,
    )


def test_no_gpu_proves_on_the_cpu(cuda_build, tmp_path, make_sectors, randomness, pid):
    replicas = make_sectors([1, 2])
    done = prove_in(cuda_build, make_sectors, randomness, pid, tmp_path)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-3000:])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["native"].startswith(str(cuda_build.site)), out["native"]
    assert out["build"] == "cuda" and out["skipped"] == []
    # bellperson took its GPU lock: the GPU path was tried, found no device, fell back
    assert (tmp_path / "bellman.gpu.lock").exists()
    proof = bytes.fromhex(out["proof"])
    assert verify_window_post(KIB2, randomness, pid, [r.public for r in replicas], proof)


def test_no_gpu_the_supraseal_build_refuses_naming_the_device(
    supraseal_build, tmp_path, make_sectors, randomness, pid
):
    """SupraSeal has no CPU prover: without a device the partition fails, at
    once (the parameters are loaded onto the GPU first), with SupraSeal's
    own words, and the process lives on to say so."""
    make_sectors([1, 2])
    done = prove_in(supraseal_build, make_sectors, randomness, pid, tmp_path)
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr[-3000:])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["native"].startswith(str(supraseal_build.site)), out["native"]
    assert out["error"] == "ProofError" and NO_DEVICE in out["message"], out
