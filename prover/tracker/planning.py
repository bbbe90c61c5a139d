"""Planning: a deadline on chain becomes one job per partition.

A partition's job proves what the chain expects of it: live minus faulty
plus recovering sectors (docs/DOMAIN.md §4), with the deadline's challenge
randomness and the storages holding each sector's files. A sector found on
no storage is skipped up front (the proof leaves it out, the message lists
it); a partition none of whose sectors is found cannot be proven at all and
is recorded as a miss when it is planned.

``plan_partitions`` is the rule, free of I/O; ``Planner`` reads the chain,
applies it, and writes the jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from prover import metrics
from prover.chain.deadlines import DeadlineInfo, deadline_info
from prover.chain.encoding import id_address_cbor
from prover.chain.lotus import (
    TAG_WINDOWED_POST_CHALLENGE_SEED,
    LotusClient,
    Partition,
    SectorOnChain,
)
from prover.logs import get_logger
from prover.proofs.layout import SectorRef
from prover.storage.access import SectorAccess
from prover.store import JobStore, Ledger, Miss, NewJobSpec

log = get_logger("prover.tracker.planning")

# (miner, sector, upgraded) -> (replica storage, cache storage), or None
Locate = Callable[[int, int, bool], tuple[str, str] | None]


class TrackerRefused(ValueError):
    """A request the tracker cannot serve (unknown miner, deadline out of
    range, no challenge yet); the message says which."""


@dataclass
class DeadlinePlan:
    """A deadline's jobs as the chain asks for them, and the partitions that
    cannot be proven at all (no sector found on any storage)."""

    specs: list[NewJobSpec] = field(default_factory=list)
    unprovable: list[Miss] = field(default_factory=list)


def plan_partitions(
    miner: int,
    d: DeadlineInfo,
    partitions: Sequence[Partition],
    on_chain: Mapping[int, SectorOnChain],
    seed: bytes,
    proof_type: int,
    where: Locate,
) -> DeadlinePlan:
    """The jobs of deadline ``d``: one per partition with something to prove,
    in the chain's partition order (the index is the partition number)."""
    out = DeadlinePlan()
    for index, part in enumerate(partitions):
        if not part.to_prove:
            continue
        refs, missing = [], []
        for n in sorted(part.to_prove):
            sector = on_chain.get(n)
            found = where(miner, n, sector.upgraded) if sector else None
            if sector is None or found is None:
                missing.append(n)
                if sector is not None:
                    refs.append(SectorRef(n, sector.comm_r, upgraded=sector.upgraded))
                continue
            refs.append(SectorRef(n, sector.comm_r, found[0], found[1], sector.upgraded))
        if missing:
            metrics.sectors_skipped(miner, "not_found", len(missing))
            log.warning(
                "sectors_not_found", miner=miner, deadline=d.index, partition=index, sectors=missing
            )
        if len(missing) == len(part.to_prove):
            reason = f"no sector of the partition was found on any storage ({missing})"
            out.unprovable.append(
                Miss(miner, d.period_start, d.index, index, d.close, missing, reason)
            )
            continue
        out.specs.append(
            NewJobSpec(
                miner=miner,
                proof_type=proof_type,
                deadline=d.index,
                partition=index,
                randomness=seed,
                sectors=refs,
                period_start=d.period_start,
                challenge_epoch=d.challenge,
                open_epoch=d.open,
                close_epoch=d.close,
                skipped=missing,
            )
        )
    return out


class ProofTypes:
    """Each miner's WindowPoSt proof type, read again for each deadline (a
    network upgrade changes it)."""

    def __init__(self, client: LotusClient) -> None:
        self.client = client
        self._cache: dict[tuple[int, int, int], int] = {}

    def of(self, miner: int, d: DeadlineInfo) -> int:
        key = (miner, d.period_start, d.index)
        if key not in self._cache:
            older = d.period_start - d.policy.proving_period
            self._cache = {k: v for k, v in self._cache.items() if k[1] >= older}
            self._cache[key] = self.client.state_miner_info(miner).window_post_proof_type
        return self._cache[key]

    def latest(self) -> dict[int, int]:
        """Each miner's proof type as last read (for the alerts on workers)."""
        out: dict[int, tuple[tuple[int, int], int]] = {}
        for (miner, start, index), proof_type in list(self._cache.items()):
            if miner not in out or (start, index) > out[miner][0]:
                out[miner] = ((start, index), proof_type)
        return {m: t for m, (_, t) in out.items()}


def access_of(storages: Mapping[str, Path] | SectorAccess) -> SectorAccess:
    """The tracker's way to the sector files: as given, or over plain mounts."""
    return storages if isinstance(storages, SectorAccess) else SectorAccess(storages)


class Planner:
    def __init__(
        self,
        jobs: JobStore,
        ledger: Ledger,
        client: LotusClient,
        storages: Mapping[str, Path] | SectorAccess,
        proof_types: ProofTypes,
        kick: Callable[[], None],
    ) -> None:
        self.jobs = jobs
        self.ledger = ledger
        self.client = client
        self.access = access_of(storages)
        self.proof_types = proof_types
        self.kick = kick

    def plan(self, miner: int, d: DeadlineInfo) -> DeadlinePlan:
        """Reads the deadline's partitions, sectors and challenge from the
        chain and plans its jobs."""
        partitions = self.client.state_miner_partitions(miner, d.index)
        wanted = set().union(*(p.to_prove for p in partitions)) if partitions else set()
        if not wanted:
            return DeadlinePlan()
        on_chain = {s.number: s for s in self.client.state_miner_sectors(miner, wanted)}
        seed = self.client.randomness_from_beacon(
            TAG_WINDOWED_POST_CHALLENGE_SEED, d.challenge, id_address_cbor(miner)
        )
        proof_type = self.proof_types.of(miner, d)
        where = self.access.index(miner)  # one listing per storage, not a stat per sector
        return plan_partitions(miner, d, partitions, on_chain, seed, proof_type, where.locate)

    def create_jobs(self, miner: int, d: DeadlineInfo) -> None:
        """The deadline's jobs, once (a deadline with jobs is not planned again)."""
        if self.jobs.has_deadline_jobs(miner, d.period_start, d.index):
            return
        plan = self.plan(miner, d)
        for miss in plan.unprovable:
            log.error("partition_unprovable", **asdict(miss))
            self.ledger.record_miss(miss)
        if plan.specs:
            added = self.jobs.add_jobs(plan.specs)
            log.info(
                "deadline_jobs_created",
                miner=miner,
                deadline=d.index,
                period_start=d.period_start,
                jobs=[i for i, _ in added],
            )
            self.kick()

    def replan(self, miner: int, d: DeadlineInfo) -> list[int]:
        """Plans ``d`` again over the chain's challenge now, as a new
        generation of its jobs (the newest generation is the one that
        counts): after a reorg moved the challenge, proofs over the old one
        would be refused."""
        plan = self.plan(miner, d)
        generation = self.jobs.next_generation(miner, d.period_start, d.index)
        specs = [replace(spec, generation=generation) for spec in plan.specs]
        ids = [i for i, _ in self.jobs.add_jobs(specs)] if specs else []
        log.warning(
            "deadline_replanned", miner=miner, deadline=d.index, generation=generation, jobs=ids
        )
        self.kick()
        return ids

    def dry_run(
        self, miner: int, index: int, miners: Sequence[int]
    ) -> tuple[DeadlineInfo, list[int], DeadlinePlan]:
        """Jobs that prove deadline ``index`` of ``miner`` now, over its
        latest challenge on chain, and are never submitted (like Lotus'
        ``proving compute window-post``). They queue behind real deadlines:
        their close is a proving period away."""
        if miner not in miners:
            raise TrackerRefused(f"miner {miner} is not one of the configured miners {miners}")
        head = self.client.state_miner_proving_deadline(miner)
        cur, policy = head.info, head.policy
        if not 0 <= index < policy.period_deadlines:
            raise TrackerRefused(f"deadline {index} out of range 0..{policy.period_deadlines - 1}")
        d = deadline_info(cur.period_start, index, cur.current_epoch, policy)
        if not d.challenge_reached():
            d = deadline_info(
                cur.period_start - policy.proving_period, index, cur.current_epoch, policy
            )
        if d.challenge < 0:
            raise TrackerRefused(f"deadline {index} has no challenge on chain yet")
        plan = self.plan(miner, d)
        if not plan.specs and not plan.unprovable:
            raise TrackerRefused(f"deadline {index} of miner {miner} has no sectors to prove")
        generation = self.jobs.next_generation(miner, d.period_start, d.index)
        close = max(d.close, cur.current_epoch + policy.proving_period)
        specs = [
            replace(spec, generation=generation, dry_run=True, close_epoch=close)
            for spec in plan.specs
        ]
        ids = [i for i, _ in self.jobs.add_jobs(specs)] if specs else []
        log.info(
            "dry_run_created", miner=miner, deadline=index, period_start=d.period_start, jobs=ids
        )
        self.kick()
        return d, ids, plan
