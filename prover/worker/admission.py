"""Admission: whether a job just claimed is proven here, and where each of
its sectors is read from.

One step between the Claim and the compute slot, answering either a
``Placement`` (``placement.py``) or a ``GiveBack``: the worker is
stopping; the job's size is one whose parameter files are wrong here; a
storage of the job is neither mounted here nor served by any storage host;
the storage hosts could not be looked up; or the manager ordered the job
stopped while it was being placed. The caller gives the job back on the
one path every unfinished job takes (``proving.Proving.end``)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from prover._proto import manager_pb2 as pb
from prover.api.client import ManagerClient
from prover.api.convert import sector_from_pb
from prover.logs import get_logger
from prover.proofs import MissingStorage
from prover.worker.holdings import Running
from prover.worker.params import ParamRefusals
from prover.worker.placement import Placement, place

log = get_logger("prover.worker")

SHUTTING_DOWN = "worker shutting down"


@dataclass(frozen=True)
class GiveBack:
    """Why a job held here ends unproven, and what the manager is told.

    ``release``: the job goes back with ``reason`` (Release); without it
    the manager stopped the job already and nothing is sent. ``exclude``:
    this worker cannot prove it and asks no manager for it again."""

    reason: str
    release: bool = True
    exclude: bool = False


class Admission:
    def __init__(
        self,
        client: ManagerClient,
        params: ParamRefusals,
        storages: Mapping[str, Path],
        stopping: threading.Event,
    ) -> None:
        self.client = client
        self.params = params
        self.storages = storages
        self.stopping = stopping

    def _locate(self, storages: set[str]) -> list[pb.StorageHost]:
        req = pb.LocateStorageRequest(storages=sorted(storages))
        return list(self.client.call(self.client.worker.LocateStorage, req).hosts)

    def admit(self, rec: Running) -> Placement | GiveBack:
        job = rec.job
        if self.stopping.is_set():
            return GiveBack(SHUTTING_DOWN)
        log.info(
            "job_claimed",
            job_id=job.id,
            attempt=job.attempt,
            miner=job.miner,
            deadline=job.deadline,
            partition=job.partition,
        )
        if self.params.refuses(job.proof_type):
            # a manager that does not know the refusal handed it over
            return GiveBack(self.params.reason(job.proof_type), exclude=True)
        try:
            skipped = set(job.skipped)
            placement = place(
                (sector_from_pb(s) for s in job.sectors if s.id not in skipped),
                job.miner,
                self.storages,
                self._locate,
            )
        except MissingStorage as exc:
            return GiveBack(str(exc), exclude=True)
        except grpc.RpcError as exc:  # the index could not be read: try later
            log.warning("locate_storage_failed", job_id=job.id, error=exc.details())
            return GiveBack(f"storage hosts could not be looked up: {exc.details()}")
        if rec.stop_reason is not None:  # reset or removed while placing
            return GiveBack(rec.stop_reason, release=False)
        return placement
