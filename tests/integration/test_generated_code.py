"""Generated gRPC stubs are committed and never hand-edited: this fails
when they differ from what the .proto files generate."""

from __future__ import annotations

import subprocess
import sys


def test_grpc_stubs_are_fresh():
    proc = subprocess.run(
        [sys.executable, "-m", "prover.protogen", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
