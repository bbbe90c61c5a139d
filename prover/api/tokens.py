"""API tokens, as the manager issues them and clients present them.

A token is ``<perm>.<hmac>``: the HMAC-SHA256 of the permission under the
manager's secret, so tokens need no storage and a leaked worker token can be
told apart from an admin one. Admin tokens may call worker methods too (like
Lotus' permission levels); worker tokens cannot call admin methods. The
manager's interceptor (``prover.manager.auth``) checks them on every call.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

PERMS = ("worker", "admin")


def new_secret(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")


def read_secret(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{path}: no token secret; run `prover-manager daemon init`"
        ) from exc


def make_token(secret: bytes, perm: str) -> str:
    if perm not in PERMS:
        raise ValueError(f"unknown permission {perm!r}: expected one of {', '.join(PERMS)}")
    return f"{perm}.{hmac.new(secret, perm.encode(), hashlib.sha256).hexdigest()}"


def token_perm(secret: bytes, token: str) -> str | None:
    """The permission a token carries, or None if it is not one of ours."""
    perm, _, _ = token.partition(".")
    if perm not in PERMS:
        return None
    return perm if hmac.compare_digest(token, make_token(secret, perm)) else None
