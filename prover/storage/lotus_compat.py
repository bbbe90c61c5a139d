"""``POST /remote/vanilla/single`` in Lotus' shape, so that an existing
Lotus or Curio installation can read vanilla proofs through our storage
hosts during a migration (Lotus' ``storage/paths`` HTTP handler: a
``SingleVanillaParams`` JSON body, the proof's bytes back as
``application/octet-stream``; 404 when this host does not hold the sector,
which Lotus takes as "ask the next URL"; 500 with the reason when the
sector cannot be proven).

Lotus sends its own ``Authorization`` header, so the host takes, on this
route only, the token configured as ``lotus_token`` (the value Lotus
sends, without "Bearer "), and with ``[lotus_index]`` any token the
lotus-miner's ``AuthVerify`` says is admin (``prover.storage.lotus_index``);
with neither the route is off.
"""

from __future__ import annotations

import hmac
import json
import queue
from collections.abc import Callable, Mapping
from pathlib import Path

from prover.chain.encoding import comm_r_from_cid
from prover.logs import get_logger
from prover.metrics.http import Request, Response, Route, method_not_allowed
from prover.proofs import InvalidInput, PoStProofType, SectorReplica, vanilla_proof
from prover.proofs.errors import SectorFault
from prover.proofs.layout import sector_paths
from prover.storage.pool import CheckPool

log = get_logger("prover.storage.lotus")

PATH = "/remote/vanilla/single"


class BadParams(ValueError):
    pass


def parse_params(body: bytes) -> tuple[int, PoStProofType, int, bytes, list[int], bool]:
    """(miner, proof type, sector, comm_r, challenges, update) of a
    ``SingleVanillaParams`` body; ``BadParams`` naming what is wrong."""
    try:
        p = json.loads(body)
        sector = p["Sector"]
        miner, number = int(p["Miner"]), int(sector["SectorNumber"])
        challenges = [int(c) for c in sector["Challenge"]]
        update = bool(sector.get("Update", False))
        sealed = sector["SealedCID"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadParams(f"not a SingleVanillaParams body: {type(exc).__name__}: {exc}") from None
    try:
        pt = PoStProofType.from_chain_id(int(p["ProofType"]))
    except (InvalidInput, KeyError, TypeError, ValueError) as exc:
        raise BadParams(f"ProofType: {exc}") from None
    try:
        comm_r = comm_r_from_cid(sealed)
    except Exception as exc:
        raise BadParams(f"SealedCID: {exc}") from None
    if not challenges:
        raise BadParams("Sector.Challenge: none given")
    return miner, pt, number, comm_r, challenges, update


def authorizer(
    token: str, verify: Callable[[str], bool] | None = None
) -> Callable[[Request], Response | None]:
    """None when a request's bearer token is ``token`` (when set) or one
    ``verify`` admits, else the 401 to answer."""
    taken = "the configured lotus_token" if token else ""
    if verify is not None:
        taken = " or ".join(filter(None, [taken, "a token the lotus-miner verifies as admin"]))

    def check(request: Request) -> Response | None:
        given = request.headers.get("Authorization", "").strip()
        if given.lower().startswith("bearer "):
            given = given[7:].strip()
        if given and token and hmac.compare_digest(given.encode(), token.encode()):
            return None
        if given and verify is not None and verify(given):
            return None
        return Response(401, f"invalid token: this route takes {taken}\n".encode())

    return check


def vanilla_single_route(
    storages: Mapping[str, Path],
    pool: CheckPool,
    token: str,
    verify: Callable[[str], bool] | None = None,
) -> Route:
    authorized = authorizer(token, verify)

    def serve(request: Request) -> Response:
        if request.method != "POST":
            return method_not_allowed("POST")
        refusal = authorized(request)
        if refusal is not None:
            return refusal
        try:
            miner, pt, number, comm_r, challenges, update = parse_params(request.body)
        except BadParams as exc:
            return Response(400, f"{exc}\n".encode())
        held = [
            (name, *sector_paths(root, miner, number, update)) for name, root in storages.items()
        ]
        held = [(n, s, c) for n, s, c in held if s.is_file() and c.is_dir()]
        if not held:
            return Response(404, f"sector {number} of f0{miner} is not on this host\n".encode())
        name, sealed, cache = held[0]
        replica = SectorReplica(number, comm_r, sealed, cache)
        answer: queue.Queue = queue.Queue()
        key = ("lotus", id(answer))

        def prove(_: int) -> object:
            try:
                return vanilla_proof(pt, replica, challenges)
            except SectorFault as fault:
                return fault.reason
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"

        pool.start(key, [number], prove, lambda _n, result: answer.put(result))
        result = answer.get()
        pool.cancel(key)
        if not isinstance(result, bytes):
            log.warning("lotus_vanilla_failed", sector=number, storage=name, reason=result)
            return Response(500, f"sector {number}: {result}\n".encode())
        log.info("lotus_vanilla_served", miner=miner, sector=number, storage=name)
        return Response(200, result, "application/octet-stream")

    return serve
