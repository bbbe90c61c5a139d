"""One tiny Groth16 proof in a fresh process, for ``prover doctor``'s GPU
proof check (``prover.doctor.gpu.gpu_proof_check`` judges what it says).

A process of its own: it must see the GPUs the worker would (its
``CUDA_VISIBLE_DEVICES``, read by the CUDA libraries once per process), and
a driver that crashes or hangs must cost the doctor a check, not its run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

# One tiny proof, as a fresh process of this installation runs it: the JSON
# of _native.gpu_probe() on its last line, or {"error": ...} where the module
# cannot be loaded (the native build check says why).
_PROBE = """
import json
try:
    from prover.proofs.native import load
    native = load()
except ImportError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps(dict(native.gpu_probe())))
"""
PROBE_TIMEOUT_S = 300.0  # a first proof may compile the kernels' PTX (minutes)


def run_gpu_probe(spec: str | None, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """One tiny Groth16 proof in a fresh process of this installation (the
    same ``sys.path``), seeing the GPUs ``spec`` leaves visible as the worker
    would (``CUDA_VISIBLE_DEVICES``), with a TMPDIR of its own so that a
    running worker's GPU lock is not waited for; forwarding of the native
    log is off (the counters are read all the same)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env["PROVER_NATIVE_LOG"] = "off"
    if spec is not None:
        env["CUDA_VISIBLE_DEVICES"] = spec
    with tempfile.TemporaryDirectory(prefix="prover-doctor-gpu-") as tmp:
        env["TMPDIR"] = tmp
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the probe exited with {done.returncode}: {last}")
    return json.loads(lines[-1])
