"""The CUDA build (``--features cuda``) on a machine with no GPU and no driver.

``.ci/cuda-build`` builds the package with the ``cuda`` feature and names its
directory in ``PROVER_TEST_CUDA_BUILD``: ``wheel/prover_cuda-*.whl`` (the
distribution GPU hosts install, tagged manylinux_2_28) and
``cuda/lib64/``, the ``libcuda.so.1`` it was linked against (Debian's
``libcuda1``, the driver's user-space library, unpacked, not installed). The
wheel is unpacked into a folder of its own and loaded in a subprocess with that
folder first on ``sys.path``, so the project's CPU extension is never replaced.

What the build does there, each tested:

- no ``libcuda.so.1`` at all (no driver installed): the module cannot be
  loaded (it links the driver's library), and the proof core refuses with
  :class:`prover.proofs.native.NativeUnavailable` naming the missing driver;
  the process exits cleanly, no crash;
- the driver's library present but no GPU usable (no kernel module, no
  device): the module loads, bellperson finds no CUDA device and proves on
  the CPU, and the proof is accepted by the CPU build's verifier.

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
from pathlib import Path

import pytest

from conftest import KIB2, MINER
from prover.proofs import verify_window_post
from prover.proofs.native import CUDA_DRIVER_MISSING

ENV = "PROVER_TEST_CUDA_BUILD"
FATBIN_MAGIC = (0xBA55ED50).to_bytes(4, "little")


@pytest.fixture(scope="module")
def cuda_build(tmp_path_factory) -> tuple[Path, Path]:
    """(folder the CUDA wheel is unpacked in, its cuda/lib64 folder)."""
    build = os.environ.get(ENV)
    if not build:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{ENV} is not set: CI must build and test the CUDA build (.ci/cuda-build)")
        pytest.skip(f"{ENV} is not set (.ci/cuda-build makes the CUDA build; CI runs this test)")
    wheels = sorted(Path(build, "wheel").glob("prover_cuda-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {build}/wheel, found {wheels}"
    site = tmp_path_factory.mktemp("cuda-build")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(site)
    (native,) = (site / "prover").glob("_native*.so")
    native.chmod(0o755)
    return site, Path(build, "cuda", "lib64")


def run_cuda_build(site: Path, code: str, *, env: dict[str, str], cwd: Path):
    """``code`` in a fresh interpreter whose ``prover`` is the CUDA build's
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


def test_the_cuda_build_is_the_cuda_build(cuda_build):
    site, lib64 = cuda_build
    (native,) = (site / "prover").glob("_native*.so")
    needed = subprocess.run(
        ["readelf", "-d", str(native)], capture_output=True, text=True, check=True
    ).stdout
    assert "[libcuda.so.1]" in needed, "the CUDA build does not link the driver's libcuda.so.1"
    # ec-gpu-gen embeds nvcc's fatbins (bellperson's and neptune's kernels)
    assert native.read_bytes().count(FATBIN_MAGIC) >= 2
    assert (lib64 / "libcuda.so.1").exists()


def test_the_cuda_wheel_is_its_own_distribution_tagged_manylinux_2_28():
    build = os.environ.get(ENV)
    if not build:
        pytest.skip(f"{ENV} is not set")
    (wheel,) = Path(build, "wheel").glob("prover_cuda-*.whl")
    assert wheel.name.endswith("-cp311-abi3-manylinux_2_28_x86_64.whl"), wheel.name
    with zipfile.ZipFile(wheel) as zf:
        record = json.loads(zf.read("prover/_build.json"))
        (metadata,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        assert "\nName: prover-cuda\n" in zf.read(metadata).decode()
        # the driver's library is never carried: auditwheel left it out
        assert not [n for n in zf.namelist() if "libcuda" in n]
    assert record["build"] == "cuda" and record["cuda"] == "13.0", record


def test_without_a_driver_the_version_still_says_cuda_and_which_driver(cuda_build, tmp_path):
    """``prover --version`` must answer where the module cannot load: from
    the wheel's record, never by loading the module."""
    if driver_installed():
        pytest.skip("libcuda.so.1 is installed here: this machine has the driver")
    site, _ = cuda_build
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    done = run_cuda_build(
        site,
        """
        from prover.cli.main import cli
        cli(["--version"])
        """,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert ", cuda, CUDA 13.0: driver >= 580.65.06)" in done.stdout, done.stdout


def test_no_driver_refuses_naming_the_driver(cuda_build, tmp_path):
    if driver_installed():
        pytest.skip("libcuda.so.1 is installed here: this machine has the driver")
    site, _ = cuda_build
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    done = run_cuda_build(
        site,
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
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr[-3000:])
    kind, message = done.stdout.split("\n", 1)
    assert kind == "prover.proofs.native NativeUnavailable"
    assert CUDA_DRIVER_MISSING in message
    assert "libcuda.so.1" in message


def test_no_gpu_proves_on_the_cpu(cuda_build, tmp_path, make_sectors, randomness, pid):
    site, lib64 = cuda_build
    replicas = make_sectors([1, 2])
    env = dict(os.environ)
    if not driver_installed():
        # the driver's user-space library, without its kernel module or a GPU
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (str(lib64), env.get("LD_LIBRARY_PATH", "")) if p
        )
    env["TMPDIR"] = str(tmp_path)  # bellperson's GPU lock files go there
    env["CUDA_VISIBLE_DEVICES"] = ""  # and where a GPU is present, it is hidden
    done = run_cuda_build(
        site,
        f"""
        import json
        from prover import _native
        from prover.proofs import PoStProofType, load_test_sectors, prove_partition
        pt = PoStProofType.WINDOW_2KIB
        replicas = load_test_sectors({str(make_sectors.root)!r}, {MINER}, pt)
        result = prove_partition(pt, bytes.fromhex({randomness.hex()!r}),
                                 bytes.fromhex({pid.hex()!r}), replicas, 0)
        print(json.dumps({{"native": _native.__file__, "proof": result.proof.hex(),
                          "skipped": result.skipped}}))
        """,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-3000:])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["native"].startswith(str(site)), out["native"]
    assert out["skipped"] == []
    # bellperson took its GPU lock: the GPU path was tried, found no device, fell back
    assert (tmp_path / "bellman.gpu.lock").exists()
    proof = bytes.fromhex(out["proof"])
    assert verify_window_post(KIB2, randomness, pid, [r.public for r in replicas], proof)
