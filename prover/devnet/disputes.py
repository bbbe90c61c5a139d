"""``DisputeWindowedPoSt`` (builtin-actors ``dispute_windowed_post``): a
PoSt accepted optimistically may be disputed once its deadline has closed
and for ``WPOST_DISPUTE_WINDOW`` epochs after; a valid one is refused and
stays disputable, an invalid one is taken (its sectors faulty, the penalty
recorded, the disputer paid). A part of ``Devnet`` (``actor.py``)."""

from __future__ import annotations

import contextlib

from prover.chain.deadlines import Policy, deadline_info
from prover.chain.encoding import WPOST_DISPUTE_WINDOW, decode_dispute_windowed_post
from prover.chain.message import ATTO_PER_FIL
from prover.devnet.mpool import Mpool
from prover.devnet.state import EXIT_FORBIDDEN, EXIT_ILLEGAL_ARGUMENT, EXIT_OK, DevnetMiner

# builtin-actors ``monies.rs``: BASE_PENALTY_FOR_DISPUTED_WINDOW_POST (20 FIL)
# is added to the expected reward of the disputed power (none here) and
# BASE_REWARD_FOR_DISPUTED_WINDOW_POST (4 FIL, ``policy.rs``), which the
# disputer is paid out of it.
DISPUTE_BASE_PENALTY = 20 * ATTO_PER_FIL
DISPUTE_REWARD = 4 * ATTO_PER_FIL


def dispute_available(
    policy: Policy, period_start: int, deadline: int, epoch: int, window: int = WPOST_DISPUTE_WINDOW
) -> bool:
    """builtin-actors ``deadline_available_for_optimistic_post_dispute``:
    the PoSts of ``deadline``'s last turn may be disputed at ``epoch`` when
    it has closed, is not open again, and closed less than ``window`` epochs
    ago. ``period_start`` is the current proving period's start."""
    if period_start > epoch:
        return False
    info = deadline_info(period_start, deadline, epoch, policy)
    if info.has_elapsed():  # next_not_elapsed: its turn in the next period
        info = deadline_info(period_start + policy.proving_period, deadline, epoch, policy)
    return not info.is_open() and epoch < info.close - policy.proving_period + window


class Disputes:
    """Disputes of PoSts accepted optimistically."""

    policy: Policy
    mpool: Mpool

    def _dispute_post(
        self, m: DevnetMiner, raw: bytes, now: int, disputer: str, cid: str
    ) -> tuple[int, str]:
        """builtin-actors ``dispute_windowed_post``."""
        p = decode_dispute_windowed_post(raw)
        policy = self.policy
        if p.deadline >= policy.period_deadlines:
            return EXIT_ILLEGAL_ARGUMENT, (
                f"invalid deadline {p.deadline} of {policy.period_deadlines}"
            )
        current = self.deadline_of(m, now)
        if not dispute_available(policy, current.period_start, p.deadline, now):
            return EXIT_FORBIDDEN, (
                "can only dispute window posts during the dispute window "
                f"({WPOST_DISPUTE_WINDOW} epochs after the challenge window closes)"
            )
        # the turn disputed: this period's, or the last one's for a deadline
        # that comes later in the period
        period_start = current.period_start
        if current.index < p.deadline:
            period_start -= policy.proving_period
        target = deadline_info(period_start, p.deadline, now, policy)
        posts = m.optimistic.get((period_start, p.deadline), [])
        post = posts[p.post_index] if p.post_index < len(posts) else None
        if post is None:
            return EXIT_ILLEGAL_ARGUMENT, f"proof {p.post_index} not found"
        public = {n: m.comm_r[n] for n in post["sectors"]}
        if self._verifies(m, target.challenge, public, post["proof"]):
            # the actor's transaction rolls back: the PoSt stays disputable
            return EXIT_ILLEGAL_ARGUMENT, "failed to dispute valid post"
        posts[p.post_index] = None
        disputed = set(post["sectors"])
        m.faulty |= disputed
        m.recovering -= disputed
        m.faults_changed(now)
        penalty = DISPUTE_BASE_PENALTY + DISPUTE_REWARD
        # paid to the disputer (an account the devnet does not keep: burnt)
        with contextlib.suppress(KeyError):
            self.mpool.account(disputer).balance += DISPUTE_REWARD
        m.disputes.append(
            {
                "period_start": period_start,
                "deadline": p.deadline,
                "post_index": p.post_index,
                "partitions": post["partitions"],
                "sectors": sorted(disputed),
                "post_cid": post["cid"],
                "cid": cid,
                "disputer": disputer,
                "epoch": now,
                "penalty": str(penalty),
                "reward": str(DISPUTE_REWARD),
            }
        )
        return EXIT_OK, (
            f"disputed post {p.post_index} of deadline {p.deadline} was invalid: "
            f"partitions {post['partitions']} faulty"
        )
