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
  With ``single_recovering_partition_per_post_message`` (Lotus'
  SingleRecoveringPartitionPerPostMessage), so does a partition with
  recovering sectors: the actor verifies such a proof at once, which costs
  far more gas, and several of them have exceeded a block's gas limit.
  Which partitions those are is read from the chain when submitting, as
  Lotus does (``StateMinerPartitions``), only when the option is on.

``Submitter`` reads the jobs and the ledger, applies the rules, pushes and
records each message.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from prover import metrics
from prover.chain.deadlines import DeadlineInfo, deadline_info
from prover.chain.encoding import (
    METHOD_DECLARE_FAULTS_RECOVERED,
    METHOD_SUBMIT_WINDOWED_POST,
    encode_submit_windowed_post,
    id_address_cbor,
)
from prover.chain.lotus import (
    TAG_POST_CHAIN_COMMIT,
    TAG_WINDOWED_POST_CHALLENGE_SEED,
    LotusClient,
    LotusError,
    ProvingDeadline,
)
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
    Sent,
    TransitionRefused,
)
from prover.store.ledger import sent_of
from prover.store.models import JobRow, MessageRow
from prover.tracker.planning import ProofTypes
from prover.tracker.senders import CannotReplace, Pushed, Sender

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


def batches(
    jobs: Sequence[JobRow], per_message: int, recovering: Collection[int] = ()
) -> list[list[JobRow]]:
    """Messages for proven partitions, in the chain verifier's terms (see the
    module docstring): partitions with left-out sectors, and the
    ``recovering`` partitions (to send alone), alone first, then the clean
    ones in partition order, a message ending after a partition that is not
    full, before one whose sectors do not follow, or at the cap."""
    clean, alone = [], []
    for j in sorted(jobs, key=lambda j: j.partition):
        (alone if j.skipped or j.faulty or j.partition in recovering else clean).append(j)
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
        self.sender = Sender(client, config)
        # plans a deadline again (``Planner.replan``); set by the tracker
        self.replan: Callable[[int, DeadlineInfo], object] | None = None
        # (miner, period start, deadline) -> why the last push failed, kept
        # for the miss record should the deadline close on it
        self.push_errors: dict[tuple[int, int, int], str] = {}

    def push(
        self,
        miner: int,
        kind: MessageKind,
        method: int,
        params: bytes,
        record: Callable[[str, Sent], MessageRow],
    ) -> Pushed:
        """A message to the miner actor from the first usable sender,
        ``record``-ed in the ledger (fenced by the chain lease) once signed
        and before it is pushed; if the node then refuses it, the record is
        settled as dropped, so its partitions may go again."""
        recorded: list[MessageRow] = []
        try:
            return self.sender.send(
                miner, kind, method, params, lambda cid, sent: recorded.append(record(cid, sent))
            )
        except LotusError as exc:
            for row in recorded:
                self.ledger.dropped(row.id, f"MpoolPush refused it: {exc}")
            raise

    def replace_stuck(self, m: MessageRow, epoch: int, head: ProvingDeadline | None) -> bool:
        """Replaces a pending message by fee while it can still count (a PoSt
        before its deadline's Close, a recovery before the declared
        deadline's fault cutoff); whether it did. Messages the node signed
        itself, and ones that cannot be raised within the maximum fee, are
        left to the drop rule."""
        sent = sent_of(m)
        if sent is None or head is None:
            return False
        kind = MessageKind(m.kind)
        d = deadline_info(m.period_start, m.deadline, epoch, head.policy)
        if (kind == MessageKind.POST and epoch >= d.close - 1) or (
            kind == MessageKind.RECOVERY and d.fault_cutoff_passed()
        ):
            return False
        method = (
            METHOD_SUBMIT_WINDOWED_POST
            if kind == MessageKind.POST
            else METHOD_DECLARE_FAULTS_RECOVERED
        )

        def record(cid: str, new: Sent) -> None:
            self.ledger.record_replacement(m.id, cid=cid, sent=new, pushed_epoch=epoch)

        try:
            pushed = self.sender.replace(m.miner, kind, method, sent, record)
        except TransitionRefused:
            return True  # settled meanwhile by another manager on the database
        except CannotReplace as exc:
            log.error(
                "message_stuck", miner=m.miner, deadline=m.deadline, cid=m.cid, error=str(exc)
            )
            return False
        except LotusError as exc:
            log.warning(
                "message_replace_failed",
                miner=m.miner,
                deadline=m.deadline,
                cid=m.cid,
                error=str(exc),
            )
            return False
        metrics.message("replaced", kind, m.miner, m.deadline)
        log.warning(
            "message_replaced",
            kind=kind,
            miner=m.miner,
            deadline=m.deadline,
            old_cid=m.cid,
            cid=pushed.cid,
            nonce=pushed.sent.nonce,
            fee_cap=str(pushed.sent.gas_fee_cap),
            premium=str(pushed.sent.gas_premium),
        )
        return True

    def submit(self, miner: int, d: DeadlineInfo, epoch: int) -> None:
        """Pushes every message of ``d`` that may go now."""
        latest = self.jobs.latest_deadline_jobs(miner, d.period_start, d.index, proofs=True)
        done = covered(self.ledger.deadline_messages(miner, d.period_start, d.index))
        proven = ready(d, latest, done, self.config.max_partitions_per_message)
        if not proven:
            return
        # The challenge as the chain has it now: a reorg since planning may
        # have moved it, and proofs over the old one would be refused (Curio
        # checks this too). Then the deadline is planned again instead.
        seed = self.client.randomness_from_beacon(
            TAG_WINDOWED_POST_CHALLENGE_SEED, d.challenge, id_address_cbor(miner)
        )
        if stale := [j for j in proven if bytes(j.randomness) != seed]:
            log.warning(
                "challenge_changed",
                miner=miner,
                deadline=d.index,
                jobs=[j.id for j in stale],
            )
            if self.replan is not None:
                self.replan(miner, d)
            return
        proof_type = self.proof_types.of(miner, d)
        pt = PoStProofType.from_chain_id(proof_type)
        commit_epoch = d.challenge  # docs/DOMAIN.md §6: Challenge <= commit epoch < now
        commit_rand = self.client.randomness_from_tickets(TAG_POST_CHAIN_COMMIT, commit_epoch)
        alone: set[int] = set()
        if self.config.single_recovering_partition_per_post_message:
            parts = self.client.state_miner_partitions(miner, d.index)
            alone = {i for i, p in enumerate(parts) if p.recovering}
        for batch in batches(proven, self.config.max_partitions_per_message, alone):
            params = encode_submit_windowed_post(
                d.index,
                [(j.partition, set(j.skipped) | set(j.faulty)) for j in batch],
                proof_type,
                merge_partition_proofs(pt, [j.proof for j in batch]),
                commit_epoch,
                commit_rand,
            )

            def record(cid: str, sent: Sent, batch=batch) -> MessageRow:
                return self.ledger.record_push(
                    kind=MessageKind.POST,
                    miner=miner,
                    period_start=d.period_start,
                    deadline=d.index,
                    partitions=[j.partition for j in batch],
                    job_ids=[j.id for j in batch],
                    cid=cid,
                    pushed_epoch=epoch,
                    sent=sent,
                )

            try:
                pushed = self.push(
                    miner, MessageKind.POST, METHOD_SUBMIT_WINDOWED_POST, params, record
                )
            except LotusError as exc:
                self.push_errors[(miner, d.period_start, d.index)] = str(exc)
                log.error("post_push_failed", miner=miner, deadline=d.index, error=str(exc))
                raise  # the next tick tries again
            cid = pushed.cid
            metrics.message("pushed", MessageKind.POST, miner, d.index)
            log.info(
                "post_submitted",
                miner=miner,
                deadline=d.index,
                cid=cid,
                partitions=[j.partition for j in batch],
                sender=pushed.sent.sender,
                nonce=pushed.sent.nonce,
                gas_limit=pushed.sent.gas_limit,
                fee_cap=str(pushed.sent.gas_fee_cap),
                premium=str(pushed.sent.gas_premium),
            )
