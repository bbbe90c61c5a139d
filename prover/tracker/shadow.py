"""Shadow mode (``[chain] shadow``, ``prover-manager daemon run --shadow``):
every deadline is planned, proven by the workers and verified as it would be
live, but nothing is signed or sent. ``ShadowProver`` stands in for the
Submitter and the Settler:

- ``submit`` records, per partition, the epoch its message would have been
  pushed (the Submitter's own grouping rule, ``ready``), and observes the
  margin before Close;
- ``settle``, once a deadline has closed, reads what the chain shows and
  records it beside ours (``ShadowBook.settle``).

What the chain shows is read in Lotus' documented JSON: the messages to the
miner actor between the deadline's Open and the tipset after its Close
(``ChainGetTipSetByHeight``, then ``StateListMessages`` from that tipset
with a MessageMatch on To), each one's method and parameters (``ChainGetMessage``:
a SubmitWindowedPoSt for this deadline, which partitions), where and how it
executed (``StateSearchMsg``: height, exit code), and the partitions'
faults after Close (``StateMinerPartitions``). Each message is judged for
each partition it names, so a deadline's partitions may come in one message
(lotus-miner batches them), one each (Curio) or any mix, landing at
different epochs. A PoSt counts for a partition when it executed with exit
code 0: the actor takes a PoSt for a deadline only while it is open, so
one listed in that range that it took executed in time. One it refused (too
late, at Close; bad randomness; a partition proven already) is kept to
show (``landed_post``). StateSearchMsg's height is not a test of time: it
is the tipset holding the receipt, the epoch after the message executed,
later still after null rounds.
"""

from __future__ import annotations

from collections.abc import Callable

from prover import metrics
from prover.chain.deadlines import DeadlineInfo, Policy, deadline_info
from prover.chain.encoding import METHOD_SUBMIT_WINDOWED_POST, decode_submit_windowed_post
from prover.chain.lotus import LotusClient
from prover.config import ChainConfig
from prover.logs import get_logger
from prover.store import JobState, JobStore
from prover.store.shadow import ChainPost, DeadlineTurn, ReadyPartition, ShadowBook
from prover.tracker.misses import ClosedSince
from prover.tracker.submission import ready

log = get_logger("prover.tracker.shadow")


def turn_of(miner: int, d: DeadlineInfo) -> DeadlineTurn:
    return DeadlineTurn(miner, d.period_start, d.index, d.open, d.close)


def chain_posts(client: LotusClient, miner: int, turn: DeadlineTurn) -> list[ChainPost]:
    """The SubmitWindowedPoSt messages for ``turn`` in the tipsets from its
    Open to the one after its Close, whoever sent them, taken or refused
    (see the module docstring: the exit code says which counted)."""
    out = []
    # from the tipset just after Close (its parent's messages executed by
    # then), not the head: a deadline settled late walks no further back
    head = client.chain_head().height
    top = client.chain_get_tipset_by_height(min(turn.close + 1, head))
    listed = client.state_list_messages(to=client.address(miner), from_height=turn.open, tsk=top)
    for cid in listed:
        msg = client.chain_get_message(cid)
        if msg.method != METHOD_SUBMIT_WINDOWED_POST:
            continue
        try:
            params = decode_submit_windowed_post(msg.params)
        except ValueError:  # refused on chain as it is here; not a PoSt of this turn
            continue
        if params.deadline != turn.deadline:
            continue
        found = client.state_search_msg(cid)
        if found is None:  # listed, its receipt not found (a reorg meanwhile)
            continue
        out.append(
            ChainPost(
                cid=cid,
                sender=msg.sender,
                epoch=found.height,
                exit_code=found.exit_code,
                partitions=frozenset(p for p, _ in params.partitions),
            )
        )
    return out


class ShadowProver:
    def __init__(
        self,
        jobs: JobStore,
        book: ShadowBook,
        client: LotusClient,
        config: ChainConfig,
        policy_of: Callable[[int], Policy | None],
    ) -> None:
        self.jobs = jobs
        self.book = book
        self.client = client
        self.config = config
        self.policy_of = policy_of
        self.closed = ClosedSince(jobs)

    def submit(self, miner: int, d: DeadlineInfo, epoch: int) -> None:
        """Records the partitions of ``d`` whose message would be pushed now."""
        turn = turn_of(miner, d)
        latest = self.jobs.latest_deadline_jobs(miner, d.period_start, d.index)
        done = self.book.ready_partitions(turn)
        proven = ready(d, latest, done, self.config.max_partitions_per_message)
        if not proven:
            return
        recorded = self.book.record_ready(
            turn,
            [
                ReadyPartition(j.partition, j.id, sorted({*j.skipped, *j.faulty}))
                for j in proven
                if j.state == JobState.SUCCEEDED
            ],
            epoch,
        )
        for _ in recorded:
            metrics.shadow_ready(miner, d.close - epoch)
        if recorded:
            log.info(
                "shadow_ready",
                miner=miner,
                deadline=d.index,
                partitions=recorded,
                epoch=epoch,
                epochs_before_close=d.close - epoch,
                note="shadow mode: not sent",
            )

    def settle(self, epoch: int, confidence: int, lookback: Callable[[], int]) -> None:
        """Compares every deadline that closed since the last call (see
        ``ClosedSince``; so the chain's last PoSt shows)."""
        through, closed = self.closed.take(epoch, confidence, lookback)
        for miner, period_start, index, _close in closed:
            policy = self.policy_of(miner)
            if policy is None:
                return  # the miner's head is not known yet: the next pass
            d = deadline_info(period_start, index, epoch, policy)
            self._deadline(turn_of(miner, d))
        self.closed.done(through)

    def _deadline(self, turn: DeadlineTurn) -> None:
        if self.book.settled_turns([turn]):
            return  # compared already (before a restart, or on another manager)
        latest = self.jobs.latest_deadline_jobs(turn.miner, turn.period_start, turn.deadline)
        posts = chain_posts(self.client, turn.miner, turn)
        parts = self.client.state_miner_partitions(turn.miner, turn.deadline)
        faulty = {i: p.faulty for i, p in enumerate(parts)}
        rows = self.book.settle(
            turn, latest, posts, faulty, jobs={p: j.id for p, j in latest.items()}
        )
        for row in rows:
            metrics.shadow_outcome(row.miner, row.outcome)
        if rows:
            log.info(
                "shadow_settled",
                miner=turn.miner,
                deadline=turn.deadline,
                period_start=turn.period_start,
                outcomes={r.partition: r.outcome for r in rows},
                chain_posts=[p.cid for p in posts],
            )
