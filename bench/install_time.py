"""Installing a host: from the wheel against from source, in one run.

Baseline (measured first): what every host had to do before the wheels,
``pip install <checkout>`` into a fresh virtual environment, compiling the
Rust core cold (a fresh cargo target directory, as on a new host; crates
already downloaded). Then the same fresh environment from the CPU wheel
``bash .ci/wheels`` made, ``--only-binary :all:``. Both take their Python
dependencies from pip's cache, so the difference is the compile. Prints
seconds, the ratio, and the wheels' sizes.

    python bench/install_time.py [--dist dist] [--skip-source]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_install(target: str, *, only_binary: bool, env: dict[str, str]) -> float:
    """Seconds to create a fresh venv and pip-install ``target`` into it."""
    with tempfile.TemporaryDirectory(prefix="prover-install-") as tmp:
        venv = Path(tmp, "venv")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        cmd += ["--disable-pip-version-check"]
        if only_binary:
            cmd.append("--only-binary=:all:")
        subprocess.run([*cmd, target], check=True, env={**env, "CARGO_TARGET_DIR": tmp + "/t"})
        took = time.perf_counter() - t0
        subprocess.run([str(venv / "bin" / "prover"), "--version"], check=True, env=env, cwd=tmp)
        return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dist", type=Path, default=ROOT / "dist")
    ap.add_argument("--skip-source", action="store_true", help="only the wheel")
    args = ap.parse_args()
    wheels = sorted(args.dist.glob("prover*.whl"))
    cpu = [w for w in wheels if w.name.startswith("prover-")]
    if not cpu:
        sys.exit(f"no CPU wheel in {args.dist}: run bash .ci/wheels first")
    for w in wheels:
        print(f"wheel {w.name}: {w.stat().st_size / 1e6:.1f} MB")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    # warm pip's cache with the dependencies, so that neither run pays for them
    timed_install(str(cpu[0]), only_binary=True, env=env)
    source = None
    if not args.skip_source:
        source = timed_install(str(ROOT), only_binary=False, env=env)
        print(f"from source (cold Rust build): {source:7.1f} s  (baseline)")
    wheel = timed_install(str(cpu[0]), only_binary=True, env=env)
    print(f"from the CPU wheel:            {wheel:7.1f} s")
    if source:
        print(f"ratio source / wheel: {source / wheel:.0f}x")


if __name__ == "__main__":
    main()
