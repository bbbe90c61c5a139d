"""Shared fixtures. Every proof in the suite is real: 2KiB sectors, random
test parameters for the real circuit, the chain's verifier.

The proofs library reads FIL_PROOFS_PARAMETER_CACHE once per process, so it
is set here, before anything loads the native module: test parameters go to
a cache of their own (kept between runs), never into a production directory.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

if "FIL_PROOFS_PARAMETER_CACHE" not in os.environ:
    _cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    os.environ["FIL_PROOFS_PARAMETER_CACHE"] = str(_cache / "prover" / "test-proof-parameters")

from prover.proofs import (
    PoStProofType,
    create_test_sectors,
    ensure_test_params,
    mask_randomness,
    prover_id,
)

KIB2 = PoStProofType.WINDOW_2KIB
MINER = 1000


@pytest.fixture(scope="session")
def params_2kib():
    return ensure_test_params(KIB2)


@pytest.fixture
def randomness() -> bytes:
    return mask_randomness(secrets.token_bytes(32))


@pytest.fixture
def pid() -> bytes:
    return prover_id(MINER)


@pytest.fixture
def make_sectors(tmp_path, params_2kib):
    """make_sectors(ids, seal=False) -> replicas under a fresh storage root."""

    def make(ids, *, seal: bool = False, root: Path | None = None):
        return create_test_sectors(root or make.root, MINER, ids, KIB2, seal=seal)

    make.root = tmp_path / "store"
    return make
