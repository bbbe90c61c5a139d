"""The dispute watch: our PoSts followed through their dispute window.

The miner actor accepts a ``SubmitWindowedPoSt`` that recovers no power
without verifying its SNARK (builtin-actors ``submit_windowed_post``,
"record the proof for optimistic verification") and keeps it with its
deadline; once the deadline has closed, anyone may send
``DisputeWindowedPoSt`` (method 24, ``[Deadline, PoStIndex]``) naming one
such PoSt of the deadline's last turn, for ``WPOST_DISPUTE_WINDOW`` (2 x
chain finality: 1800 epochs) after its Close and never once it opens again
(``deadline_available_for_optimistic_post_dispute``). The actor verifies it
then: a valid PoSt fails the dispute (exit 16, "failed to dispute valid
post"); an invalid one makes the partitions' sectors faulty, costs the
miner a penalty (20 FIL plus the expected reward of the disputed power,
4 FIL of it to the disputer) and lands with exit code 0.

We verify every proof before sending it, so a dispute that lands against us
means something is deeply wrong: a bug, a corrupt parameter file or
verifying key, a compromised worker. Lotus raises no event for it; the
honest way to learn of one is the chain's messages to the miner:

- on each full pass, per followed miner (one with a PoSt of ours that
  landed in a deadline turn still within its dispute window), one
  ``StateListMessages({To: miner})`` from the height the last pass reached
  (less ``confidence``; after a start, from the oldest followed turn's
  Close). Lotus' MessageMatch matches only To and From, not the method, so
  each message not read before is read once with ``ChainGetMessage`` and
  all but method 24 are skipped; ``StateSearchMsg`` is asked only of
  disputes (one not yet executed is read again on the next pass);
- a dispute that executed with exit code 0 for a turn in which we have a
  landed PoSt is recorded once (``DisputeBook``) with the partitions of the
  PoSt it named: the turn's successful ``SubmitWindowedPoSt`` messages in
  execution order (``disputed_post``; one more listing, only when a dispute
  lands), with our message and the workers that proved it. The alert watch
  raises ``ProverPoStDisputed`` from that record;
- a refused dispute (a valid PoSt, out of the window) changes nothing and
  is only logged; so is a dispute that landed in a turn we did not prove.

A turn stops being followed ``confidence`` epochs after its window ends
(``dispute_window_end``); a miner with no turn followed is not read at all.
Shadow mode sends nothing, so it has nothing to follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from prover import metrics
from prover.chain.deadlines import Policy, current_deadline, deadline_info
from prover.chain.encoding import (
    METHOD_DISPUTE_WINDOWED_POST,
    WPOST_DISPUTE_WINDOW,
    decode_dispute_windowed_post,
)
from prover.chain.lotus import ChainMessage, LotusClient, LotusError, MsgLookup, ProvingDeadline
from prover.config import ChainConfig
from prover.logs import get_logger
from prover.store import JobStore, Ledger, MessageKind, MessageState, StoreUnavailable
from prover.store.disputes import Dispute, DisputeBook, LandedTurn
from prover.store.shadow import ChainPost, DeadlineTurn
from prover.tracker.shadow import chain_posts

log = get_logger("prover.tracker.disputes")


# ---- the rules -------------------------------------------------------------------


def turn_close(period_start: int, deadline: int, policy: Policy) -> int:
    return period_start + (deadline + 1) * policy.challenge_window


def dispute_window_end(close: int, policy: Policy) -> int:
    """The first epoch at which the PoSts of a turn that closed at ``close``
    can no longer be disputed: ``WPOST_DISPUTE_WINDOW`` after Close, or the
    deadline's next Open if that comes first (a short devnet period)."""
    return min(
        close + WPOST_DISPUTE_WINDOW, close + policy.proving_period - policy.challenge_window
    )


def followed(
    turns: Iterable[LandedTurn],
    epoch: int,
    policy_of: Callable[[int], Policy | None],
    confidence: int,
) -> dict[int, list[LandedTurn]]:
    """Per miner, the turns still to follow at ``epoch``: their window has
    not ended ``confidence`` epochs ago (a dispute executed at its last
    epoch shows a little later). A miner whose policy is not known yet is
    left for a later pass."""
    out: dict[int, list[LandedTurn]] = {}
    for t in turns:
        policy = policy_of(t.miner)
        if policy is None:
            continue
        close = turn_close(t.period_start, t.deadline, policy)
        if epoch < dispute_window_end(close, policy) + max(1, confidence):
            out.setdefault(t.miner, []).append(t)
    return out


def disputed_period_start(head: ProvingDeadline, deadline: int, epoch: int) -> int:
    """The period start of the turn a dispute of ``deadline`` executed at
    ``epoch`` names, as the actor finds it: this period's when the deadline
    comes earlier in the period than the current one, else the last
    period's. ``head`` is any proving deadline of the miner (its period
    offset)."""
    policy = head.policy
    current = current_deadline(head.info.period_start, epoch, policy)
    if current.index < deadline:
        return current.period_start - policy.proving_period
    return current.period_start


def disputed_post(posts: Sequence[ChainPost], index: int) -> ChainPost | None:
    """The PoSt at ``index`` among a turn's successful PoSts in execution
    order. ``posts`` come as ``StateListMessages`` lists them: newest
    tipset first, a tipset's in execution order. The actor counts only
    those it accepted optimistically; a PoSt that recovered sectors was
    verified at once and is not among them, which the chain does not show:
    when one landed before, the index may name a later PoSt."""
    listed = [(p.epoch, i, p) for i, p in enumerate(posts) if p.exit_code == 0]
    ordered = [p for _, _, p in sorted(listed, key=lambda e: (e[0], e[1]))]
    return ordered[index] if 0 <= index < len(ordered) else None


# ---- the watch -------------------------------------------------------------------


class DisputeWatch:
    def __init__(
        self,
        book: DisputeBook,
        ledger: Ledger,
        jobs: JobStore,
        client: LotusClient,
        config: ChainConfig,
        heads: Mapping[int, ProvingDeadline],
    ) -> None:
        self.book = book
        self.ledger = ledger
        self.jobs = jobs
        self.client = client
        self.config = config
        self.heads = heads  # the tracker's, per miner (policy and period offset)
        self._from: dict[int, int] = {}  # miner -> the height to list from
        self._seen: dict[str, int] = {}  # CIDs read and done with -> the pass's epoch

    def _policy(self, miner: int) -> Policy | None:
        head = self.heads.get(miner)
        return head.policy if head is not None else None

    def watch(self, epoch: int) -> None:
        """One pass at head ``epoch``. A node or database error leaves a
        miner for the next pass (from where it was); a bug is logged, never
        raised into the tracker's pass."""
        try:
            windows = [
                dispute_window_end(0, h.policy) + h.policy.challenge_window
                for h in self.heads.values()
            ]
            since = epoch - max(windows, default=WPOST_DISPUTE_WINDOW) - self.config.confidence
            turns = followed(
                self.book.landed_turns(since), epoch, self._policy, self.config.confidence
            )
        except StoreUnavailable as exc:
            log.warning("dispute_watch_failed", error=str(exc))
            return
        for miner in self.config.miners:
            mine = turns.get(miner)
            if not mine:
                self._from.pop(miner, None)  # nothing to follow: no chain read
                continue
            try:
                self._scan(miner, mine, epoch)
            except (LotusError, StoreUnavailable) as exc:
                log.warning("dispute_watch_failed", miner=miner, error=str(exc))
            except Exception:
                log.exception("dispute_watch_crashed", miner=miner)
        oldest = min(self._from.values(), default=None)
        self._seen = {c: e for c, e in self._seen.items() if oldest is not None and e >= oldest}

    def _scan(self, miner: int, turns: list[LandedTurn], epoch: int) -> None:
        policy = self._policy(miner)
        assert policy is not None  # followed() kept only miners with a policy
        start = self._from.get(miner)
        if start is None:  # after a start: from the oldest followed turn's Close
            start = min(turn_close(t.period_start, t.deadline, policy) for t in turns)
        for cid in self.client.state_list_messages(
            to=self.client.address(miner), from_height=start
        ):
            if cid in self._seen:
                continue
            msg = self.client.chain_get_message(cid)
            if msg.method != METHOD_DISPUTE_WINDOWED_POST:
                self._seen[cid] = epoch
                continue
            found = self.client.state_search_msg(cid)
            if found is None:
                continue  # not executed yet: the next pass reads it again
            self._dispute(miner, msg, found, turns)
            self._seen[cid] = epoch
        self._from[miner] = max(start, epoch - max(1, self.config.confidence))

    def _dispute(
        self, miner: int, msg: ChainMessage, found: MsgLookup, turns: list[LandedTurn]
    ) -> None:
        head = self.heads[miner]
        try:
            params = decode_dispute_windowed_post(msg.params)
        except ValueError:
            return  # it failed on chain (21): it disputed nothing
        # StateSearchMsg's height is the tipset after the one it executed in
        period_start = disputed_period_start(head, params.deadline, found.height - 1)
        ours = any((t.period_start, t.deadline) == (period_start, params.deadline) for t in turns)
        where = {
            "miner": miner,
            "deadline": params.deadline,
            "period_start": period_start,
            "post_index": params.post_index,
            "cid": msg.cid,
            "disputer": msg.sender,
            "epoch": found.height,
        }
        if found.exit_code != 0:
            # a valid PoSt, or out of the window: nothing changed on chain
            log.info("post_dispute_refused", exit_code=found.exit_code, ours=ours, **where)
            return
        if not ours:
            log.error("post_disputed_not_ours", **where)
            return
        if self.book.recorded(msg.cid):
            return
        d = deadline_info(period_start, params.deadline, found.height, head.policy)
        turn = DeadlineTurn(miner, period_start, params.deadline, d.open, d.close)
        post = disputed_post(chain_posts(self.client, miner, turn), params.post_index)
        mine = None
        if post is not None:
            for m in self.ledger.deadline_messages(
                miner, period_start, params.deadline, MessageKind.POST
            ):
                if m.state == MessageState.LANDED and post.cid in (m.cid, *m.replaced_cids):
                    mine = m
        workers = set()
        for job_id in mine.job_ids if mine is not None else ():
            job = self.jobs.get(job_id)
            if job is not None and job.worker:
                workers.add(job.worker)
        dispute = Dispute(
            miner=miner,
            period_start=period_start,
            deadline=params.deadline,
            post_index=params.post_index,
            partitions=sorted(post.partitions) if post is not None else [],
            dispute_cid=msg.cid,
            disputer=msg.sender,
            epoch=found.height,
            post_cid=mine.cid if mine is not None else "",
            workers=sorted(workers),
        )
        if self.book.record(dispute):
            metrics.post_disputed(miner)
            log.error(
                "post_disputed",
                **where,
                partitions=list(dispute.partitions),
                post_cid=dispute.post_cid,
                workers=list(dispute.workers),
            )
