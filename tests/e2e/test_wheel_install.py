"""The CPU wheel installs and runs with no compiler (issue 26): into a fresh
virtual environment, with no ``cargo``, ``rustc`` or C compiler on PATH,
``--only-binary :all:`` so that nothing is built from source, and the
README's demo run from it in a fresh home proves and lands a deadline.

``bash .ci/wheels`` makes the wheels; ``.ci/run`` names their folder in
PROVER_TEST_WHEELS. With CI=true a missing wheel fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from prover import __version__

ENV = "PROVER_TEST_WHEELS"
# what a build host has and a fleet host need not: compilers, linkers, Rust
COMPILERS = re.compile(
    r"^(cc|c\+\+|cpp|gcc|g\+\+|clang|clang\+\+|ld|ld\..*|as|cargo|rustc|rustup|rustdoc|zig"
    r"|maturin|nvcc|tcc|x86_64-linux-gnu-.*)(-\d+(\.\d+)*)?$"
)
PLATFORM_TAG = "manylinux_2_28_x86_64"


def wheel(name: str) -> Path:
    folder = os.environ.get(ENV)
    if not folder:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{ENV} is not set: CI must build the wheels (bash .ci/wheels)")
        pytest.skip(f"{ENV} is not set (bash .ci/wheels builds the wheels; CI runs this test)")
    found = sorted(Path(folder).glob(f"{name}-{__version__}-*.whl"))
    assert len(found) == 1, f"expected one {name} wheel of {__version__} in {folder}: {found}"
    return found[0]


def no_compiler_path(tmp: Path, venv: Path) -> str:
    """PATH for the install: the venv, then every other command of this
    machine except compilers, linkers and Rust (linked into a folder of
    their own, since /usr/bin holds both)."""
    shadow = tmp / "bin"
    shadow.mkdir()
    checkout_venv = Path(sys.prefix).resolve()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(d)
        if not path.is_dir() or path.resolve() in (checkout_venv / "bin", Path.home() / ".cargo"):
            continue
        for entry in path.iterdir():
            target = shadow / entry.name
            if COMPILERS.match(entry.name) or target.exists() or not os.access(entry, os.X_OK):
                continue
            target.symlink_to(entry)
    value = os.pathsep.join([str(venv / "bin"), str(shadow)])
    for tool in ("cargo", "rustc", "cc", "gcc", "c++", "g++", "clang", "ld", "maturin", "zig"):
        assert shutil.which(tool, path=value) is None, f"{tool} is still on PATH"
    return value


def test_the_cpu_wheel_is_tagged_manylinux_2_28_and_carries_its_build_record():
    cpu = wheel("prover")
    assert cpu.name.endswith(f"-cp311-abi3-{PLATFORM_TAG}.whl"), cpu.name
    with zipfile.ZipFile(cpu) as zf:
        names = zf.namelist()
        assert "prover/_build.json" in names
        assert any(re.match(r"prover/_native.*\.so$", n) for n in names)
        assert b'"build": "cpu"' in zf.read("prover/_build.json")


def test_the_cpu_wheel_installs_without_a_compiler_and_runs_the_demo(tmp_path):
    cpu = wheel("prover")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CARGO", "RUSTUP", "PYTHON", "VIRTUAL_ENV", "CC", "CXX"))
    }
    env["PATH"] = no_compiler_path(tmp_path, venv)
    env["PROVER_HOME"] = str(tmp_path / "home")
    run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True}
    install = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            str(cpu),
        ],
        timeout=600,
        **run,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    where = subprocess.run(
        ["python", "-c", "import prover; print(prover.__file__)"], timeout=60, **run
    )
    assert str(venv) in where.stdout, where.stdout + where.stderr  # not the checkout
    version = subprocess.run(["prover", "--version"], timeout=60, **run)
    assert version.returncode == 0, version.stderr
    assert re.match(rf"prover {re.escape(__version__)} \(\w{{7}}(-dirty)?, cpu\)", version.stdout)

    demo = subprocess.run(["prover", "demo", "--minutes", "2"], timeout=400, **run)
    out = demo.stdout
    assert demo.returncode == 0, out + demo.stderr
    assert re.search(r"miner t01000 deadline \d+ partition \d+ proven", out), out
    assert "accepted" in out and "refused:" not in out, out
    assert re.search(r"summary \(epochs 0-\d+\): [1-9]\d* deadlines proven", out), out
