"""The storage host's StorageService: vanilla proofs of sectors on its own
disks, streamed one by one as they are read, and listings of which sectors
those disks hold.

Reads go through one ``CheckPool`` shared by every request: at most
``parallelism`` at once (requests take turns, so one partition of 2349
sectors does not starve another worker's), each answered as a fault after
``sector_timeout_s`` (its thread written off, as a read blocked on a dead
disk cannot be interrupted). A request for a storage this host does not
attach is refused whole, naming the storage: it is a caller's mistake (a
stale index), not a fault of the sector. A sector whose files are missing or
corrupt is answered with its fault, never the request failed.

Callers present the worker token the host was given (``api``): the host does
not hold the manager's secret, so it compares tokens rather than checking
their HMAC.
"""

from __future__ import annotations

import hmac
import itertools
import queue
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import grpc

from prover._proto import storage_pb2 as spb
from prover._proto import storage_pb2_grpc as spb_grpc
from prover.api.convert import sector_from_pb
from prover.logs import get_logger
from prover.proofs import InvalidInput, PoStProofType, SectorFault, vanilla_proof
from prover.proofs.layout import list_sectors
from prover.storage.metrics import StorageMetrics
from prover.storage.pool import CheckPool

log = get_logger("prover.storage")


class TokenCheck(grpc.ServerInterceptor):
    """Every call must carry ``Bearer <the host's worker token>``."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def intercept_service(self, continuation, handler_call_details):
        header = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            return _deny(grpc.StatusCode.UNAUTHENTICATED, "missing authorization: Bearer token")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self._token
        ):
            return _deny(
                grpc.StatusCode.UNAUTHENTICATED,
                "invalid token: this storage host takes the manager's worker token",
            )
        return continuation(handler_call_details)


def _deny(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    def abort(_request, context):
        context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


class StorageServicer(spb_grpc.StorageServiceServicer):
    def __init__(
        self, name: str, storages: Mapping[str, Path], parallelism: int, sector_timeout_s: float
    ) -> None:
        self.name = name
        self.storages = dict(storages)
        self.pool = CheckPool(parallelism, sector_timeout_s, name="vanilla")
        self.metrics = StorageMetrics(name, self.pool.hung)
        self._requests = itertools.count()

    def close(self) -> None:
        self.pool.close()

    def _refuse(self, context, message: str) -> None:
        log.warning("vanilla_request_refused", reason=message)
        self.metrics.request("refused")
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)

    def VanillaProofs(self, request, context) -> Iterator[spb.VanillaResult]:
        try:
            pt = PoStProofType.from_chain_id(request.proof_type)
        except InvalidInput as exc:
            self._refuse(context, f"proof_type: {exc}")
        if not request.sectors:
            self._refuse(context, "sectors: none asked for")
        replicas, challenges, storage_of = {}, {}, {}
        for c in request.sectors:
            ref = sector_from_pb(c.sector)
            if ref.id in replicas:
                self._refuse(context, f"sector {ref.id} is asked for twice")
            missing = sorted({ref.sealed_storage, ref.cache_storage} - set(self.storages))
            if missing:
                self._refuse(
                    context,
                    f"storage {', '.join(missing)} is not attached on storage host {self.name} "
                    f"(it attaches {', '.join(sorted(self.storages)) or 'none'})",
                )
            if not c.challenges:
                self._refuse(context, f"sector {ref.id}: no challenges")
            replicas[ref.id] = ref.replica(request.miner, self.storages)
            storage_of[ref.id] = ref.sealed_storage
            challenges[ref.id] = list(c.challenges)

        results: queue.Queue = queue.Queue()
        began: dict[int, float] = {}
        t0 = time.monotonic()

        def prove(sector: int) -> object:
            began[sector] = time.monotonic()
            try:
                return vanilla_proof(pt, replicas[sector], challenges[sector])
            except SectorFault as fault:
                return fault.reason
            except Exception as exc:  # the library's other errors: this sector's fault
                return f"{type(exc).__name__}: {exc}"

        def answered(sector: int, result: object) -> None:
            seconds = time.monotonic() - began.get(sector, t0)
            self.metrics.read(storage_of[sector], isinstance(result, bytes), seconds)
            results.put((sector, result, seconds))

        key = (self.name, next(self._requests))
        self.pool.start(key, sorted(replicas), prove, answered)
        left = len(replicas)
        good = 0
        try:
            while left:
                try:
                    sector, result, seconds = results.get(timeout=0.5)
                except queue.Empty:
                    if not context.is_active():  # the caller gave up or failed over
                        log.info("vanilla_request_cancelled", miner=request.miner, left=left)
                        self.metrics.request("cancelled")
                        return
                    continue
                left -= 1
                if not left:  # counted before the last answer: the caller may cancel on it
                    self.metrics.request("done")
                if isinstance(result, bytes):
                    good += 1
                    yield spb.VanillaResult(sector=sector, proof=result, seconds=seconds)
                else:
                    yield spb.VanillaResult(sector=sector, fault=str(result), seconds=seconds)
        finally:
            # also when the caller cancels once it has every answer
            self.pool.cancel(key)
            log.info(
                "vanilla_served",
                miner=request.miner,
                sectors=len(replicas),
                answered=len(replicas) - left,
                good=good,
                seconds=round(time.monotonic() - t0, 3),
            )

    def ListSectors(self, request, context) -> spb.ListSectorsResponse:
        out = spb.ListSectorsResponse()
        for name, root in sorted(self.storages.items()):
            held = list_sectors(root, request.miner)
            out.storages.append(
                spb.StorageListing(
                    storage=name,
                    sealed=sorted(held["sealed"]),
                    cache=sorted(held["cache"]),
                    update=sorted(held["update"]),
                    update_cache=sorted(held["update-cache"]),
                )
            )
        return out
