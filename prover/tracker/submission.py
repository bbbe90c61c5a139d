"""Submission: verified partition proofs become ``SubmitWindowedPoSt``
messages.

Two rules decide what goes and how, both pure functions tested on their own:

- ``ready``: partitions are grouped by index into messages of
  ``max_partitions_per_message``; a group goes as soon as its own jobs have
  all finished (never waiting for other groups), so a deadline costs the
  fewest messages without holding one group for another. Near Close
  (``SUBMIT_MARGIN_EPOCHS``), whatever is proven goes.
- ``batches``: the chain's verifier checks a message's partitions as one
  sorted sector list re-chunked by the partition size (docs/DOMAIN.md §6).
  So a partition with skipped or faulty sectors goes alone, one that is not
  full ends its message, and the sectors must ascend across partitions.

``Submitter`` reads the jobs and the ledger, applies the rules, pushes and
records each message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from prover.chain.deadlines import DeadlineInfo
from prover.chain.encoding import METHOD_SUBMIT_WINDOWED_POST, encode_submit_windowed_post
from prover.chain.lotus import TAG_POST_CHAIN_COMMIT, LotusClient, LotusError
from prover.config import ChainConfig
from prover.logs import get_logger
from prover.proofs import PoStProofType, merge_partition_proofs
from prover.store import (
    COVERING_STATES,
    UNFINISHED_STATES,
    JobState,
    JobStore,
    Ledger,
    MessageKind,
)
from prover.store.models import JobRow, MessageRow
from prover.tracker.planning import ProofTypes

log = get_logger("prover.tracker.submission")

# Epochs before Close from which proven partitions are submitted without
# waiting for the rest of their message's group.
SUBMIT_MARGIN_EPOCHS = 4


def may_submit(d: DeadlineInfo, confidence: int) -> bool:
    """Proofs may go: the deadline is open and ``confidence`` epochs old (a
    message sent at Open could land before a reorg moves Open)."""
    return d.is_open() and d.current_epoch >= d.open + max(1, confidence)


def covered(messages: Iterable[MessageRow]) -> set[int]:
    """Partitions carried by a post message still pending or landed: not to
    be sent again."""
    return {
        p
        for m in messages
        if m.kind == MessageKind.POST and m.state in COVERING_STATES
        for p in m.partitions
    }


def ready(
    d: DeadlineInfo, latest: Mapping[int, JobRow], done: set[int], per_message: int
) -> list[JobRow]:
    """The proven partitions of ``d`` whose message may go now (see the module
    docstring); ``done`` are the partitions already covered by a message."""
    hurry = d.current_epoch >= d.close - SUBMIT_MARGIN_EPOCHS
    order = sorted(latest)
    out: list[JobRow] = []
    for k in range(0, len(order), per_message):
        group = [latest[p] for p in order[k : k + per_message] if p not in done]
        if not hurry and any(j.state in UNFINISHED_STATES for j in group):
            continue
        out += [j for j in group if j.state == JobState.SUCCEEDED]
    return out


def batches(jobs: Sequence[JobRow], per_message: int) -> list[list[JobRow]]:
    """Messages for proven partitions, in the chain verifier's terms (see the
    module docstring): partitions with left-out sectors alone first, then the
    clean ones in partition order, a message ending after a partition that
    is not full, before one whose sectors do not follow, or at the cap."""
    clean, alone = [], []
    for j in sorted(jobs, key=lambda j: j.partition):
        (alone if j.skipped or j.faulty else clean).append(j)
    out: list[list[JobRow]] = [[j] for j in alone]
    batch: list[JobRow] = []
    for j in clean:
        if batch:
            prev = batch[-1]
            # from the counts the store keeps: submitting never reads sectors
            full = (
                prev.sector_count == PoStProofType.from_chain_id(prev.proof_type).partition_sectors
            )
            ascending = j.min_sector > prev.max_sector
            if len(batch) == per_message or not full or not ascending:
                out.append(batch)
                batch = []
        batch.append(j)
    if batch:
        out.append(batch)
    return out


class Submitter:
    def __init__(
        self,
        jobs: JobStore,
        ledger: Ledger,
        client: LotusClient,
        config: ChainConfig,
        proof_types: ProofTypes,
    ) -> None:
        self.jobs = jobs
        self.ledger = ledger
        self.client = client
        self.config = config
        self.proof_types = proof_types
        # (miner, period start, deadline) -> why the last push failed, kept
        # for the miss record should the deadline close on it
        self.push_errors: dict[tuple[int, int, int], str] = {}

    def push(self, miner: int, method: int, params: bytes) -> str:
        """A message to the miner actor from the configured sender; its CID."""
        return self.client.mpool_push_message(
            self.client.address(miner),
            self.config.sender,
            method,
            params,
            max_fee=self.config.max_fee or None,
        )

    def submit(self, miner: int, d: DeadlineInfo, epoch: int) -> None:
        """Pushes every message of ``d`` that may go now."""
        latest = self.jobs.latest_deadline_jobs(miner, d.period_start, d.index, proofs=True)
        done = covered(self.ledger.deadline_messages(miner, d.period_start, d.index))
        proven = ready(d, latest, done, self.config.max_partitions_per_message)
        if not proven:
            return
        proof_type = self.proof_types.of(miner, d)
        pt = PoStProofType.from_chain_id(proof_type)
        commit_epoch = d.challenge  # docs/DOMAIN.md §6: Challenge <= commit epoch < now
        commit_rand = self.client.randomness_from_tickets(TAG_POST_CHAIN_COMMIT, commit_epoch)
        for batch in batches(proven, self.config.max_partitions_per_message):
            params = encode_submit_windowed_post(
                d.index,
                [(j.partition, set(j.skipped) | set(j.faulty)) for j in batch],
                proof_type,
                merge_partition_proofs(pt, [j.proof for j in batch]),
                commit_epoch,
                commit_rand,
            )
            try:
                cid = self.push(miner, METHOD_SUBMIT_WINDOWED_POST, params)
            except LotusError as exc:
                self.push_errors[(miner, d.period_start, d.index)] = str(exc)
                raise  # the next tick tries again
            self.ledger.record_push(
                kind=MessageKind.POST,
                miner=miner,
                period_start=d.period_start,
                deadline=d.index,
                partitions=[j.partition for j in batch],
                job_ids=[j.id for j in batch],
                cid=cid,
                pushed_epoch=epoch,
            )
            log.info(
                "post_submitted",
                miner=miner,
                deadline=d.index,
                cid=cid,
                partitions=[j.partition for j in batch],
            )
