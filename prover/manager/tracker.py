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

Sectors faulty on chain whose files prove again (a vanilla proof over
fresh random challenges, run here) are declared with
``DeclareFaultsRecovered`` for the deadline after next, before its fault
cutoff, as Lotus does. Once a deadline has closed, each partition without a
landed proof is recorded as a miss, with the reason read from its job and
messages.

Batches follow the chain's verifier: it checks a message's partitions as
one sorted sector list re-chunked by partition size, so a partition with
skipped sectors goes in a message of its own, and one that is not full (or
whose sectors interleave with the next one's) ends its message.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from prover.chain.deadlines import DeadlineInfo, deadline_info
from prover.chain.encoding import (
    encode_declare_faults_recovered,
    encode_submit_windowed_post,
    id_address_cbor,
)
from prover.chain.lotus import (
    TAG_POST_CHAIN_COMMIT,
    TAG_WINDOWED_POST_CHALLENGE_SEED,
    LotusClient,
    LotusError,
    ProvingDeadline,
    SectorOnChain,
)
from prover.chain.notify import HeadFollower
from prover.config import ChainConfig
from prover.logs import get_logger
from prover.proofs import (
    PoStProofType,
    SectorReplica,
    generate_challenges,
    mask_randomness,
    merge_partition_proofs,
    prover_id,
    vanilla_proof,
)
from prover.proofs.errors import ProofError
from prover.store import JobState, JobStore, NewJobSpec, SectorSpec, StoreUnavailable
from prover.store.gateway import expiry_reason
from prover.store.models import JobRow, MessageRow
from prover.worker.storage import sector_paths

log = get_logger("prover.manager.tracker")

METHOD_SUBMIT_WINDOWED_POST = 5
METHOD_DECLARE_FAULTS_RECOVERED = 11
# Epochs before Close from which proven partitions are submitted without
# waiting for the rest of their message's group.
SUBMIT_MARGIN_EPOCHS = 4


class TrackerRefused(ValueError):
    """A request the tracker cannot serve (unknown miner, deadline out of
    range, no challenge yet); the message says which."""


@dataclass(frozen=True)
class Miss:
    """A partition that closed (or will close) without a proof, and why: the
    fields of a ``misses`` row and of the API's ``Miss``."""

    miner: int
    period_start: int
    deadline: int
    partition: int
    close_epoch: int
    sectors: list[int]
    reason: str


@dataclass
class DeadlinePlan:
    """A deadline's jobs as the chain asks for them, and the partitions that
    cannot be proven at all (no sector found on any storage)."""

    specs: list[NewJobSpec] = field(default_factory=list)
    unprovable: list[Miss] = field(default_factory=list)


def latest_jobs(store: JobStore, miner: int, period_start: int, deadline: int) -> dict[int, JobRow]:
    """The newest generation's job of each partition of a deadline."""
    latest: dict[int, JobRow] = {}
    for j in store.deadline_jobs(miner, period_start, deadline):
        latest[j.partition] = j  # ordered by generation: the newest wins
    return latest


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
        self._wake = threading.Event()
        self.heads_in = HeadFollower(client, notify=config.notify, on_change=self._wake.set)
        self.epoch: int | None = None
        self._proof_types: dict[int, tuple[int | None, int]] = {}
        # the last StateMinerProvingDeadline per miner (for `prover deadlines`)
        self.heads: dict[int, ProvingDeadline] = {}
        # (miner, period start, deadline) already checked for recoveries
        self._recovery_checked: set[tuple[int, int, int]] = set()
        # (miner, period start, deadline) -> why the last push failed
        self._push_errors: dict[tuple[int, int, int], str] = {}
        self._settled_through: int | None = None
        self._finished = threading.Event()
        self._full_pass = True

    def current_epoch(self) -> int | None:
        return self.epoch

    def run(self, stop: threading.Event) -> None:
        """The tracker's thread: a tick per ``poll_interval_s``, or at once
        when a job finishes (its proof may complete a message)."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # a bug must not stop deadline tracking
                log.exception("tracker_tick_crashed")
                self._full_pass = True
            self._wake.wait(self.config.poll_interval_s)
            self._wake.clear()

    def job_finished(self) -> None:
        """Called by the servicer after an accepted proof."""
        self._finished.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self.heads_in.close()

    def tick(self) -> None:
        """A full pass (jobs, submissions, recoveries, messages, misses) on
        each new head; between heads, only the submissions a finished job
        may have made ready. A failed pass is redone on the next tick."""
        finished = self._finished.is_set()
        self._finished.clear()
        try:
            changes = self.heads_in.poll()
            for change in changes:
                if change.kind == "revert":
                    log.warning("chain_reorg", reverted=change.tipset.height)
            self.epoch = self.heads_in.current.height
            if changes or self._full_pass:
                self._full_pass = False
                for miner in self.config.miners:
                    try:  # one miner's trouble must not hold up the others
                        self._miner(miner)
                    except (LotusError, StoreUnavailable) as exc:
                        self._full_pass = True
                        log.warning("tracker_miner_failed", miner=miner, error=str(exc))
                self._follow()
                self._settle()
            elif finished:
                for miner, head in self.heads.items():
                    if self._may_submit(head.info):
                        self._submit(miner, head.info)
        except (LotusError, StoreUnavailable) as exc:
            self._full_pass = True
            log.warning("tracker_tick_failed", error=str(exc))

    def _may_submit(self, d: DeadlineInfo) -> bool:
        return d.is_open() and d.current_epoch >= d.open + max(1, self.config.confidence)

    # ---- jobs --------------------------------------------------------------------

    def _proof_type(self, miner: int) -> int:
        """The miner's WindowPoSt proof type, read again for each deadline
        (a network upgrade changes it)."""
        head = self.heads.get(miner)
        key = head.info.open if head else None
        cached = self._proof_types.get(miner)
        if cached is None or cached[0] != key:
            pt = self.client.state_miner_info(miner).window_post_proof_type
            self._proof_types[miner] = cached = (key, pt)
        return cached[1]

    def _miner(self, miner: int) -> None:
        head = self.client.state_miner_proving_deadline(miner)
        self.heads[miner] = head
        current = head.info
        for d in (current, current.next()):
            if d.challenge_reached(self.config.confidence) and not d.has_elapsed():
                self._create_jobs(miner, d)
        if self._may_submit(current):
            self._submit(miner, current)
        self._declare_recoveries(miner, current.next().next())

    def _locate(self, miner: int, sector: int, upgraded: bool) -> tuple[str, str] | None:
        sealed_on = cache_on = None
        for name, root in self.storages.items():
            sealed, cache = sector_paths(root, miner, sector, upgraded)
            if sealed_on is None and sealed.is_file():
                sealed_on = name
            if cache_on is None and cache.is_dir():
                cache_on = name
        return (sealed_on, cache_on) if sealed_on and cache_on else None

    def plan(self, miner: int, d: DeadlineInfo) -> DeadlinePlan:
        """One job per partition with something to prove (live minus faulty
        plus recovering), with the challenge randomness and where each
        sector's files are; sectors found nowhere are skipped up front."""
        out = DeadlinePlan()
        partitions = self.client.state_miner_partitions(miner, d.index)
        wanted = set().union(*(p.to_prove for p in partitions)) if partitions else set()
        if not wanted:
            return out
        on_chain = {s.number: s for s in self.client.state_miner_sectors(miner, wanted)}
        seed = self.client.randomness_from_beacon(
            TAG_WINDOWED_POST_CHALLENGE_SEED, d.challenge, id_address_cbor(miner)
        )
        proof_type = self._proof_type(miner)
        for index, part in enumerate(partitions):
            if not part.to_prove:
                continue
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

    def _create_jobs(self, miner: int, d: DeadlineInfo) -> None:
        if self.store.deadline_jobs(miner, d.period_start, d.index):
            return
        plan = self.plan(miner, d)
        for miss in plan.unprovable:
            log.error("partition_unprovable", **asdict(miss))
            self.store.record_miss(**asdict(miss))
        if plan.specs:
            added = self.store.add_jobs(plan.specs)
            log.info(
                "deadline_jobs_created",
                miner=miner,
                deadline=d.index,
                period_start=d.period_start,
                jobs=[i for i, _ in added],
            )
            self.kick()

    def prove_dry_run(self, miner: int, index: int) -> tuple[DeadlineInfo, list[int], DeadlinePlan]:
        """Jobs that prove deadline ``index`` of ``miner`` now, over its
        latest challenge on chain, and are never submitted (like Lotus'
        ``proving compute window-post``). They queue behind real deadlines:
        their close is a proving period away."""
        if miner not in self.config.miners:
            raise TrackerRefused(
                f"miner {miner} is not one of the configured miners {self.config.miners}"
            )
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
        generation = self.store.next_generation(miner, d.period_start, d.index)
        close = max(d.close, cur.current_epoch + policy.proving_period)
        specs = [
            replace(spec, generation=generation, dry_run=True, close_epoch=close)
            for spec in plan.specs
        ]
        ids = [i for i, _ in self.store.add_jobs(specs)] if specs else []
        log.info(
            "dry_run_created", miner=miner, deadline=index, period_start=d.period_start, jobs=ids
        )
        self.kick()
        return d, ids, plan

    # ---- submission ----------------------------------------------------------------

    def _batches(self, jobs: list[JobRow]) -> list[list[JobRow]]:
        """Messages for proven partitions, in the chain verifier's terms: it
        re-chunks a message's sorted sectors by the partition size, so only
        a full partition may be followed by another in the same message, the
        sectors must ascend across them, and a partition with skipped or
        faulty sectors goes alone."""
        clean, alone = [], []
        for j in sorted(jobs, key=lambda j: j.partition):
            (alone if j.skipped or j.faulty else clean).append(j)
        batches: list[list[JobRow]] = [[j] for j in alone]
        size = self.config.max_partitions_per_message
        batch: list[JobRow] = []
        for j in clean:
            if batch:
                prev = batch[-1]
                full = (
                    len(prev.sectors)
                    == PoStProofType.from_chain_id(prev.proof_type).partition_sectors
                )
                ascending = min(s["id"] for s in j.sectors) > max(s["id"] for s in prev.sectors)
                if len(batch) == size or not full or not ascending:
                    batches.append(batch)
                    batch = []
            batch.append(j)
        if batch:
            batches.append(batch)
        return batches

    def _ready_to_submit(self, d: DeadlineInfo, latest: dict[int, JobRow], covered: set[int]):
        """Proven partitions whose message may go now. Partitions are grouped
        by index into messages of ``max_partitions_per_message``; a group goes
        as soon as its own jobs have all finished (never waiting for other
        groups), so a deadline costs the fewest messages without holding one
        group for another. Near Close, whatever is proven goes."""
        hurry = d.current_epoch >= d.close - SUBMIT_MARGIN_EPOCHS
        size = self.config.max_partitions_per_message
        order = sorted(latest)
        ready: list[JobRow] = []
        for k in range(0, len(order), size):
            group = [latest[p] for p in order[k : k + size] if p not in covered]
            if not hurry and any(j.state in (JobState.READY, JobState.RUNNING) for j in group):
                continue
            ready += [j for j in group if j.state == JobState.SUCCEEDED]
        return ready

    def _push(self, miner: int, method: int, params: bytes) -> str:
        """A message to the miner actor from the configured sender; its CID."""
        return self.client.mpool_push_message(
            self.client.address(miner),
            self.config.sender,
            method,
            params,
            max_fee=self.config.max_fee or None,
        )

    def _submit(self, miner: int, d: DeadlineInfo) -> None:
        latest = latest_jobs(self.store, miner, d.period_start, d.index)
        covered = {
            p
            for m in self.store.deadline_messages(miner, d.period_start, d.index)
            if m.kind == "post" and m.state in ("pending", "landed")
            for p in m.partitions
        }
        done = self._ready_to_submit(d, latest, covered)
        if not done:
            return
        proof_type = self._proof_type(miner)
        commit_epoch = d.challenge  # DOMAIN.md §6; the actor wants Challenge <= it < now
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
            try:
                cid = self._push(miner, METHOD_SUBMIT_WINDOWED_POST, params)
            except LotusError as exc:
                # Kept for the miss record should the deadline close on it;
                # the next tick tries again.
                self._push_errors[(miner, d.period_start, d.index)] = str(exc)
                raise
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
                    ("post_" if m.kind == "post" else "recovery_") + state,
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
                log.warning(
                    ("post_" if m.kind == "post" else "recovery_") + "dropped",
                    miner=m.miner,
                    deadline=m.deadline,
                    cid=m.cid,
                )
                if m.kind == "recovery":  # check (and declare) again
                    self._recovery_checked.discard((m.miner, m.period_start, m.deadline))

    # ---- recoveries ------------------------------------------------------------------

    def _sector_problem(self, miner: int, sector: SectorOnChain, proof_type: int) -> str | None:
        """Why a sector would not prove now, or None: its files are found and
        a vanilla proof over fresh random challenges verifies against its
        comm_r (what Lotus checks before declaring a recovery)."""
        where = self._locate(miner, sector.number, sector.upgraded)
        if where is None:
            return "files not found on any storage"
        sealed, _ = sector_paths(self.storages[where[0]], miner, sector.number, sector.upgraded)
        _, cache = sector_paths(self.storages[where[1]], miner, sector.number, sector.upgraded)
        pt = PoStProofType.from_chain_id(proof_type)
        randomness = mask_randomness(os.urandom(32))
        try:
            challenges = generate_challenges(pt, randomness, prover_id(miner), [sector.number])
            vanilla_proof(
                pt,
                SectorReplica(sector.number, sector.comm_r, sealed, cache),
                challenges[sector.number],
            )
        except ProofError as exc:
            return str(exc)
        return None

    def _declare_recoveries(self, miner: int, d: DeadlineInfo) -> None:
        """Declares the faulty sectors of deadline ``d`` (the one after next)
        that prove again, once per deadline and period, before its fault
        cutoff; they are then proven with the deadline and healed."""
        key = (miner, d.period_start, d.index)
        if key in self._recovery_checked or d.fault_cutoff_passed():
            return
        older = d.period_start - d.policy.proving_period
        self._recovery_checked = {k for k in self._recovery_checked if k[1] >= older}
        try:
            partitions = self.client.state_miner_partitions(miner, d.index)
            faulty = {n for p in partitions for n in p.faulty - p.recovering}
            on_chain = {}
            if faulty:
                on_chain = {s.number: s for s in self.client.state_miner_sectors(miner, faulty)}
        except LotusError:
            return  # not checked: the next pass tries again
        self._recovery_checked.add(key)
        if not faulty:
            return
        proof_type = self._proof_type(miner)
        recoveries, still = [], {}
        for index, part in enumerate(partitions):
            good = set()
            for n in sorted(part.faulty - part.recovering):
                sector = on_chain.get(n)
                problem = "not in the miner's sectors" if sector is None else None
                problem = problem or self._sector_problem(miner, sector, proof_type)
                if problem is None:
                    good.add(n)
                else:
                    still[n] = problem
            if good:
                recoveries.append((d.index, index, good))
        if still:
            log.info("sectors_still_faulty", miner=miner, deadline=d.index, sectors=still)
        if not recoveries:
            return
        try:
            cid = self._push(
                miner, METHOD_DECLARE_FAULTS_RECOVERED, encode_declare_faults_recovered(recoveries)
            )
        except LotusError:
            self._recovery_checked.discard(key)  # try again next tick
            raise
        self.store.add_message(
            miner=miner,
            period_start=d.period_start,
            deadline=d.index,
            partitions=[p for _, p, _ in recoveries],
            job_ids=[],
            cid=cid,
            pushed_epoch=self.epoch or d.current_epoch,
            kind="recovery",
        )
        log.info(
            "recovery_declared",
            miner=miner,
            deadline=d.index,
            cid=cid,
            sectors=sorted(n for _, _, good in recoveries for n in good),
        )

    # ---- misses ----------------------------------------------------------------------

    def _settle(self) -> None:
        """Records, once a deadline has closed (and ``confidence`` epochs more
        for its last message to show), each partition without a landed
        proof as a miss with its reason."""
        if self.epoch is None:
            return
        through = self.epoch - max(1, self.config.confidence)
        if self._settled_through is None:
            # After a start, look one proving period back (idempotent).
            longest = max((h.policy.proving_period for h in self.heads.values()), default=0)
            self._settled_through = through - longest
        if through <= self._settled_through:
            return
        for miner, period_start, index, close in self.store.closed_deadlines(
            self._settled_through, through
        ):
            self._settle_deadline(miner, period_start, index, close)
        self._settled_through = through

    def _settle_deadline(self, miner: int, period_start: int, index: int, close: int) -> None:
        latest = latest_jobs(self.store, miner, period_start, index)
        posts = [
            m for m in self.store.deadline_messages(miner, period_start, index) if m.kind == "post"
        ]
        landed = {p for m in posts if m.state == "landed" for p in m.partitions}
        missed = []
        for partition, job in sorted(latest.items()):
            if partition in landed:
                continue
            reason = self._miss_reason(job, [m for m in posts if partition in m.partitions])
            sectors = sorted({s["id"] for s in job.sectors} - set(job.skipped))
            miss = Miss(miner, period_start, index, partition, close, sectors, reason)
            if self.store.record_miss(**asdict(miss)):
                missed.append(partition)
                log.error("deadline_missed", **asdict(miss))
        if not missed and latest:
            log.info(
                "deadline_proven",
                miner=miner,
                deadline=index,
                period_start=period_start,
                partitions=sorted(latest),
            )
        self._push_errors.pop((miner, period_start, index), None)

    def _miss_reason(self, job: JobRow, messages: list[MessageRow]) -> str:
        if messages:
            m = messages[-1]
            if m.state == "failed":
                return f"message {m.cid} failed on chain with exit code {m.exit_code}"
            if m.state == "pending":
                return f"message {m.cid} pushed at epoch {m.pushed_epoch} was not on chain by Close"
            return f"message {m.cid} was dropped and not pushed again before Close"
        if job.state == JobState.SUCCEEDED:
            why = self._push_errors.get((job.miner, job.period_start, job.deadline))
            return "proof ready but not submitted: " + (why or "no submission before Close")
        if job.state in (JobState.READY, JobState.RUNNING):
            return expiry_reason(job)  # the expiry sweep has not run yet
        return job.error or f"job {job.id} {job.state}"
