"""The tracker: deadlines from the chain become jobs, proofs go back to it.

On every head, for each configured miner: the current deadline, and the
next one once its challenge epoch is ``confidence`` epochs deep, get one job
per partition (live minus faulty plus recovering sectors), with the
challenge randomness and the storages holding each sector's files; a sector
found on no storage is skipped up front. From Open + confidence, verified
partition proofs are submitted in batches of up to
``max_partitions_per_message`` as soon as a batch's own partitions are
done. Messages are followed; one that has not landed after
``resubmit_after`` epochs (a reorg dropped it) is pushed again while the
deadline is open.

Batches follow the chain's verifier: it checks a message's partitions as
one sorted sector list re-chunked by partition size, so a partition with
skipped sectors (or one whose sectors interleave with another's) goes in a
message of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prover.chain.deadlines import DeadlineInfo
from prover.chain.encoding import encode_submit_windowed_post, id_address_cbor
from prover.chain.lotus import (
    TAG_POST_CHAIN_COMMIT,
    TAG_WINDOWED_POST_CHALLENGE_SEED,
    HeadPoller,
    LotusClient,
    LotusError,
)
from prover.config import ChainConfig
from prover.logs import get_logger
from prover.proofs import PoStProofType, merge_partition_proofs
from prover.store import JobState, JobStore, NewJobSpec, SectorSpec, StoreUnavailable
from prover.store.models import JobRow
from prover.worker.storage import sector_paths

log = get_logger("prover.manager.tracker")

METHOD_SUBMIT_WINDOWED_POST = 5


class Tracker:
    def __init__(
        self,
        store: JobStore,
        client: LotusClient,
        config: ChainConfig,
        storages: dict[str, Path],
        kick: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.client = client
        self.config = config
        self.storages = storages
        self.kick = kick
        self.poller = HeadPoller(client)
        self.epoch: int | None = None
        self._proof_types: dict[int, int] = {}

    def current_epoch(self) -> int | None:
        return self.epoch

    def tick(self) -> None:
        try:
            for change in self.poller.poll():
                if change.kind == "revert":
                    log.warning("chain_reorg", reverted=change.tipset.height)
            self.epoch = self.poller.current.height
            for miner in self.config.miners:
                self._miner(miner)
            self._follow()
        except (LotusError, StoreUnavailable) as exc:
            log.warning("tracker_tick_failed", error=str(exc))

    # ---- jobs --------------------------------------------------------------------

    def _proof_type(self, miner: int) -> int:
        if miner not in self._proof_types:
            self._proof_types[miner] = self.client.state_miner_info(miner).window_post_proof_type
        return self._proof_types[miner]

    def _miner(self, miner: int) -> None:
        current = self.client.state_miner_proving_deadline(miner).info
        for d in (current, current.next()):
            if d.challenge_reached(self.config.confidence) and not d.has_elapsed():
                self._create_jobs(miner, d)
        if current.is_open() and current.current_epoch >= current.open + max(
            1, self.config.confidence
        ):
            self._submit(miner, current)

    def _locate(self, miner: int, sector: int, upgraded: bool) -> tuple[str, str] | None:
        sealed_on = cache_on = None
        for name, root in self.storages.items():
            sealed, cache = sector_paths(root, miner, sector, upgraded)
            if sealed_on is None and sealed.is_file():
                sealed_on = name
            if cache_on is None and cache.is_dir():
                cache_on = name
        return (sealed_on, cache_on) if sealed_on and cache_on else None

    def _create_jobs(self, miner: int, d: DeadlineInfo) -> None:
        if self.store.deadline_jobs(miner, d.period_start, d.index):
            return
        partitions = self.client.state_miner_partitions(miner, d.index)
        wanted = set().union(*(p.to_prove for p in partitions)) if partitions else set()
        if not wanted:
            return
        on_chain = {s.number: s for s in self.client.state_miner_sectors(miner, wanted)}
        seed = self.client.randomness_from_beacon(
            TAG_WINDOWED_POST_CHALLENGE_SEED, d.challenge, id_address_cbor(miner)
        )
        proof_type = self._proof_type(miner)
        specs = []
        for index, part in enumerate(partitions):
            refs, missing = [], []
            for n in sorted(part.to_prove):
                sector = on_chain.get(n)
                where = self._locate(miner, n, sector.upgraded) if sector else None
                if sector is None or where is None:
                    missing.append(n)
                    if sector is not None:
                        refs.append(SectorSpec(n, sector.comm_r, "", "", sector.upgraded))
                    continue
                refs.append(SectorSpec(n, sector.comm_r, where[0], where[1], sector.upgraded))
            if missing:
                log.warning(
                    "sectors_not_found",
                    miner=miner,
                    deadline=d.index,
                    partition=index,
                    sectors=missing,
                )
            if len(missing) == len(part.to_prove):
                log.error(
                    "partition_unprovable",
                    miner=miner,
                    deadline=d.index,
                    partition=index,
                    reason="no sector of the partition was found",
                )
                continue
            specs.append(
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
        if specs:
            added = self.store.add_jobs(specs)
            log.info(
                "deadline_jobs_created",
                miner=miner,
                deadline=d.index,
                period_start=d.period_start,
                jobs=[i for i, _ in added],
            )
            self.kick()

    # ---- submission ----------------------------------------------------------------

    def _batches(self, jobs: list[JobRow]) -> list[list[JobRow]]:
        clean, alone = [], []
        for j in sorted(jobs, key=lambda j: j.partition):
            (alone if j.skipped or j.faulty else clean).append(j)
        batches: list[list[JobRow]] = [[j] for j in alone]
        size = self.config.max_partitions_per_message
        batch: list[JobRow] = []
        for j in clean:
            low = min(s["id"] for s in j.sectors)
            if batch and (len(batch) == size or low <= max(s["id"] for s in batch[-1].sectors)):
                batches.append(batch)
                batch = []
            batch.append(j)
        if batch:
            batches.append(batch)
        return batches

    def _submit(self, miner: int, d: DeadlineInfo) -> None:
        jobs = self.store.deadline_jobs(miner, d.period_start, d.index)
        latest: dict[int, JobRow] = {}
        for j in jobs:
            latest[j.partition] = j  # ordered by generation: the newest wins
        covered = {
            p
            for m in self.store.deadline_messages(miner, d.period_start, d.index)
            if m.state in ("pending", "landed")
            for p in m.partitions
        }
        done = [j for p, j in latest.items() if j.state == JobState.SUCCEEDED and p not in covered]
        if not done:
            return
        proof_type = self._proof_type(miner)
        commit_epoch = d.open
        commit_rand = self.client.randomness_from_tickets(TAG_POST_CHAIN_COMMIT, commit_epoch)
        for batch in self._batches(done):
            params = encode_submit_windowed_post(
                d.index,
                [(j.partition, set(j.skipped) | set(j.faulty)) for j in batch],
                proof_type,
                merge_partition_proofs(
                    PoStProofType.from_chain_id(proof_type), [j.proof for j in batch]
                ),
                commit_epoch,
                commit_rand,
            )
            cid = self.client.mpool_push_message(
                self.client.address(miner),
                self.config.sender,
                METHOD_SUBMIT_WINDOWED_POST,
                params,
                max_fee=self.config.max_fee or None,
            )
            self.store.add_message(
                miner=miner,
                period_start=d.period_start,
                deadline=d.index,
                partitions=[j.partition for j in batch],
                job_ids=[j.id for j in batch],
                cid=cid,
                pushed_epoch=self.epoch or d.current_epoch,
            )
            log.info(
                "post_submitted",
                miner=miner,
                deadline=d.index,
                cid=cid,
                partitions=[j.partition for j in batch],
            )

    def _follow(self) -> None:
        for m in self.store.pending_messages():
            found = self.client.state_search_msg(m.cid)
            if found is not None:
                state = "landed" if found.exit_code == 0 else "failed"
                self.store.settle_message(
                    m.id, state=state, exit_code=found.exit_code, landed_epoch=found.height
                )
                event = log.info if state == "landed" else log.error
                event(
                    "post_" + state,
                    miner=m.miner,
                    deadline=m.deadline,
                    cid=m.cid,
                    exit_code=found.exit_code,
                    epoch=found.height,
                )
            elif (
                self.epoch is not None and self.epoch - m.pushed_epoch > self.config.resubmit_after
            ):
                self.store.settle_message(
                    m.id,
                    state="dropped",
                    error=f"not on chain {self.config.resubmit_after} epochs after it was pushed",
                )
                log.warning("post_dropped", miner=m.miner, deadline=m.deadline, cid=m.cid)
