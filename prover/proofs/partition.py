"""Proving one partition end to end, surviving faulty sectors.

Faulty sectors never cost the partition. Lotus and damocles fill a skipped
sector's slot with a good sector of the same partition and list it in the
message's ``Skipped`` bitfield. The proofs library keys sectors by number (a
sorted map, on the prover and in the chain's verifier alike), so that
substitute collapses into the good sector it repeats: what is proven, and
what the chain checks, is the partition's good sectors in sector order,
padded inside the circuit by repeating the last one. This module builds
exactly that list, so the proof verifies over ``PartitionProof.public_sectors``.

Sectors need not be on this machine: ``remote`` sectors' vanilla proofs are
fetched (by ``fetch_remote``, from the storage hosts that hold them) while
the local ones are read, and the SNARK starts once both are in.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

from prover.logs import get_logger
from prover.proofs import gpuuse
from prover.proofs.errors import InvalidInput, PartitionUnprovable, SectorFault
from prover.proofs.steps import generate_challenges, partition_snark, vanilla_proof
from prover.proofs.types import PartitionProof, PoStProofType, SectorReplica, StepTimings

log = get_logger(__name__)

# Vanilla proofs of sectors read elsewhere: given each sector's challenges,
# its proof or its fault (it must answer every sector, within its own timeouts).
RemoteFetch = Callable[[Mapping[int, Sequence[int]]], Mapping[int, "bytes | SectorFault"]]


def default_parallelism(sector_count: int) -> int:
    """Vanilla proofs are disk-bound random reads: more threads than cores
    helps on slow storage, but never more than there are sectors."""
    return max(1, min(sector_count, 2 * (os.cpu_count() or 1), 64))


def prove_partition(
    proof_type: PoStProofType | str | int,
    randomness: bytes,
    prover_id: bytes,
    replicas: Sequence[SectorReplica],
    partition_index: int,
    *,
    parallelism: int | None = None,
    sector_timeout: float | None = None,
    snark_guard: contextlib.AbstractContextManager | None = None,
    remote: Sequence[tuple[int, bytes]] = (),
    fetch_remote: RemoteFetch | None = None,
) -> PartitionProof:
    """Challenges, vanilla proofs on a bounded thread pool, then the SNARK.

    A sector whose files fail is skipped (``skipped``, with the reason in
    ``faults``); so is one whose vanilla proof takes longer than
    ``sector_timeout`` seconds (slow storage must not eat the deadline; its
    thread is abandoned). If every sector fails, ``PartitionUnprovable`` is
    raised. ``snark_guard`` is held around the SNARK only: a worker's GPU
    lock, so another job's vanilla proofs can run meanwhile. ``remote``
    sectors, (number, comm_r), are proven by ``fetch_remote`` (see
    ``RemoteFetch``) at the same time as the local ones.
    """
    pt = PoStProofType.parse(proof_type)
    remote = sorted((int(n), bytes(c)) for n, c in remote)
    ordered = sorted(replicas, key=lambda r: r.sector_id)
    ids = _sector_ids(pt, ordered, remote, partition_index, parallelism, fetch_remote)

    start = time.perf_counter()
    challenges = generate_challenges(pt, randomness, prover_id, ids)
    t_challenges = time.perf_counter()
    fetcher = _RemoteFetcher(fetch_remote, remote, challenges, partition_index)
    results = _local_vanilla(
        pt,
        ordered,
        challenges,
        workers=parallelism or default_parallelism(max(1, len(ordered))),
        sector_timeout=sector_timeout,
    )
    results |= fetcher.results()
    t_vanilla = time.perf_counter()

    faults, good = _sort_out(results, partition_index)
    comm_r = {r.sector_id: r.comm_r for r in ordered} | dict(remote)
    with snark_guard or contextlib.nullcontext():
        # inside the guard: another slot's SNARK must not count as this one's
        before = gpuuse.snapshot()
        t_snark = time.perf_counter()
        proof = partition_snark(pt, randomness, prover_id, [v for _, v in good], partition_index)
        end = time.perf_counter()
        gpu = gpuuse.judge(before, gpuuse.snapshot(), gpuuse.build_flavor())

    return PartitionProof(
        proof_type=pt,
        partition_index=partition_index,
        proof=proof,
        skipped=sorted(faults),
        faults=faults,
        public_sectors=[(n, comm_r[n]) for n, _ in good],
        timings=StepTimings(
            challenges=t_challenges - start,
            vanilla=t_vanilla - t_challenges,
            snark=end - t_snark,
            total=end - start,
        ),
        gpu=gpu,
    )


def _sector_ids(
    pt: PoStProofType,
    ordered: Sequence[SectorReplica],
    remote: Sequence[tuple[int, bytes]],
    partition_index: int,
    parallelism: int | None,
    fetch_remote: RemoteFetch | None,
) -> list[int]:
    """The partition's sector numbers in order, once the request is known to
    be one partition's: ``InvalidInput`` before any work otherwise."""
    if remote and fetch_remote is None:
        raise InvalidInput("remote sectors need fetch_remote")
    count = len(ordered) + len(remote)
    if not count:
        raise InvalidInput("a partition needs at least one sector")
    if count > pt.partition_sectors:
        raise InvalidInput(
            f"{count} sectors do not fit one {pt.size_name} partition "
            f"(at most {pt.partition_sectors})"
        )
    ids = sorted([r.sector_id for r in ordered] + [n for n, _ in remote])
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"duplicate sector ids in partition {partition_index}: {ids}")
    if parallelism is not None and parallelism < 1:
        raise InvalidInput(f"parallelism must be at least 1, got {parallelism}")
    return ids


class _RemoteFetcher:
    """The remote sectors' vanilla proofs, fetched on a thread of their own
    from the moment it is made, while the local sectors are read. A fetch
    that raises skips every remote sector (each a fault), never loses one."""

    def __init__(
        self,
        fetch_remote: RemoteFetch | None,
        remote: Sequence[tuple[int, bytes]],
        challenges: Mapping[int, Sequence[int]],
        partition_index: int,
    ) -> None:
        self._remote = remote
        self._fetched: dict[int, bytes | SectorFault] = {}
        self._thread: threading.Thread | None = None
        if remote and fetch_remote is not None:
            wanted = {n: challenges[n] for n, _ in remote}
            self._thread = threading.Thread(
                target=self._fetch,
                args=(fetch_remote, wanted, partition_index),
                name="vanilla-remote",
                daemon=True,
            )
            self._thread.start()

    def _fetch(
        self,
        fetch_remote: RemoteFetch,
        wanted: dict[int, Sequence[int]],
        partition_index: int,
    ) -> None:
        try:
            self._fetched.update(fetch_remote(wanted))
        except Exception as exc:  # every remote sector is then skipped, never lost
            log.exception("remote_vanilla_failed", partition=partition_index)
            self._fetched.update(
                {n: SectorFault(n, f"remote vanilla failed: {exc}") for n in wanted}
            )

    def results(self) -> dict[int, bytes | SectorFault]:
        """Waits for the fetch: each remote sector's proof or fault."""
        if self._thread is None:
            return {}
        self._thread.join()
        out: dict[int, bytes | SectorFault] = {}
        for n, _ in self._remote:
            got = self._fetched.get(n)
            out[n] = got if got is not None else SectorFault(n, "no vanilla proof came back")
        return out


def _local_vanilla(
    pt: PoStProofType,
    ordered: Sequence[SectorReplica],
    challenges: Mapping[int, Sequence[int]],
    *,
    workers: int,
    sector_timeout: float | None,
) -> dict[int, bytes | SectorFault]:
    """Each local sector's vanilla proof or fault, on ``workers`` threads; a
    sector not done within ``sector_timeout`` is a fault and its thread is
    abandoned (the pool is not waited for)."""

    def one(replica: SectorReplica) -> bytes | SectorFault:
        try:
            return vanilla_proof(pt, replica, challenges[replica.sector_id])
        except SectorFault as fault:
            return fault

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vanilla")
    try:
        futures = [pool.submit(one, r) for r in ordered]
        done, _ = wait(futures, timeout=sector_timeout)
        return {
            r.sector_id: f.result()
            if f in done
            else SectorFault(r.sector_id, f"vanilla proof took longer than {sector_timeout:g} s")
            for r, f in zip(ordered, futures, strict=True)
        }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _sort_out(
    results: Mapping[int, bytes | SectorFault], partition_index: int
) -> tuple[dict[int, str], list[tuple[int, bytes]]]:
    """(faults by sector, the good proofs in sector order), each fault
    logged; ``PartitionUnprovable`` when no sector is good."""
    faults = {n: v.reason for n, v in results.items() if isinstance(v, SectorFault)}
    good = [(n, v) for n, v in sorted(results.items()) if isinstance(v, bytes)]
    for sector_id, reason in sorted(faults.items()):
        log.warning("sector_skipped", sector=sector_id, partition=partition_index, reason=reason)
    if not good:
        raise PartitionUnprovable(partition_index, faults)
    return faults, good
