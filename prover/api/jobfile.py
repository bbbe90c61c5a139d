"""Jobs put in by hand (`prover jobs add --from-json FILE`): one JSON object
or a list of them. A file with an error is refused whole, naming the entry
and the field."""

from __future__ import annotations

import json
from typing import Any

from prover.proofs import InvalidInput, PoStProofType, SectorRef
from prover.store import InvalidJob, NewJobSpec

REQUIRED = ("miner", "proof_type", "deadline", "partition", "randomness", "sectors")
OPTIONAL = ("period_start", "challenge_epoch", "open_epoch", "close_epoch", "skipped", "max_tries")
SECTOR_KEYS = {"id", "comm_r", "storage", "sealed_storage", "cache_storage", "upgraded"}


def _int(i: int, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJob(i, name, f"must be an integer, got {value!r}")
    return value


def _hex32(i: int, name: str, value: Any) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise InvalidJob(i, name, "must be 64 hex digits") from None
    if len(raw) != 32:
        raise InvalidJob(i, name, f"must be 64 hex digits, got {len(value)}")
    return raw


def parse_job(i: int, obj: Any) -> NewJobSpec:
    if not isinstance(obj, dict):
        raise InvalidJob(i, "(entry)", "must be a JSON object")
    for key in REQUIRED:
        if key not in obj:
            raise InvalidJob(i, key, "is required")
    unknown = set(obj) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise InvalidJob(i, sorted(unknown)[0], "unknown field")
    try:
        proof_type = PoStProofType.parse(obj["proof_type"]).chain_id
    except InvalidInput as exc:
        raise InvalidJob(i, "proof_type", str(exc)) from None
    if not isinstance(obj["sectors"], list) or not obj["sectors"]:
        raise InvalidJob(i, "sectors", "must be a non-empty list")
    sectors = []
    for n, s in enumerate(obj["sectors"]):
        field = f"sectors[{n}]"
        if not isinstance(s, dict):
            raise InvalidJob(i, field, "must be an object")
        if stray := set(s) - SECTOR_KEYS:
            raise InvalidJob(i, f"{field}.{sorted(stray)[0]}", "unknown field")
        for key in ("id", "comm_r"):
            if key not in s:
                raise InvalidJob(i, f"{field}.{key}", "is required")
        storage = s.get("storage", "")
        sectors.append(
            SectorRef(
                id=_int(i, f"{field}.id", s["id"]),
                comm_r=_hex32(i, f"{field}.comm_r", s["comm_r"]),
                sealed_storage=s.get("sealed_storage", storage),
                cache_storage=s.get("cache_storage", storage),
                upgraded=bool(s.get("upgraded", False)),
            )
        )
    skipped = obj.get("skipped", [])
    if not isinstance(skipped, list):
        raise InvalidJob(i, "skipped", "must be a list of sector ids")
    epochs = {k: obj.get(k) for k in ("challenge_epoch", "open_epoch", "close_epoch")}
    spec = NewJobSpec(
        miner=_int(i, "miner", obj["miner"]),
        proof_type=proof_type,
        deadline=_int(i, "deadline", obj["deadline"]),
        partition=_int(i, "partition", obj["partition"]),
        randomness=_hex32(i, "randomness", obj["randomness"]),
        sectors=sectors,
        period_start=_int(i, "period_start", obj.get("period_start", 0)),
        skipped=[_int(i, "skipped", s) for s in skipped],
        max_tries=None if obj.get("max_tries") is None else _int(i, "max_tries", obj["max_tries"]),
        **{k: None if v is None else _int(i, k, v) for k, v in epochs.items()},
    )
    spec.check(i)
    return spec


def parse_job_file(text: str) -> list[NewJobSpec]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJob(0, "(file)", f"not JSON: {exc}") from None
    entries = data if isinstance(data, list) else [data]
    if not entries:
        raise InvalidJob(0, "(file)", "no jobs in the file")
    return [parse_job(i, obj) for i, obj in enumerate(entries)]
