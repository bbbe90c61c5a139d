"""Following pushed messages until the chain has executed them, or until it
is clear it never will (a reorg, or the mpool, dropped them): then their
partitions may be sent again while the deadline is open."""

from __future__ import annotations

from collections.abc import Callable

from prover.chain.lotus import LotusClient
from prover.logs import get_logger
from prover.store import Ledger, MessageKind, MessageState, TransitionRefused
from prover.store.models import MessageRow

log = get_logger("prover.tracker.follow")


def follow(
    ledger: Ledger,
    client: LotusClient,
    epoch: int | None,
    resubmit_after: int,
    on_dropped: Callable[[MessageKind, int, int, int], None],
    *,
    replace_after: int | None = None,
    replace: Callable[[MessageRow, int], bool] | None = None,
) -> None:
    """One pass over the pending messages. A message not on chain
    ``replace_after`` epochs after its last push is offered to ``replace``
    (which answers whether it replaced it by fee); one not on chain
    ``resubmit_after`` epochs after its last push is given up on, and
    ``on_dropped(kind, miner, period start, deadline)`` told."""
    for m in ledger.pending_messages():
        prefix = "post_" if m.kind == MessageKind.POST else "recovery_"
        # allowReplaced: a replacement by fee of this message counts as it
        found = client.state_search_msg(m.cid)
        if found is not None:
            try:
                state = ledger.executed(
                    m.id, exit_code=found.exit_code, epoch=found.height, gas_used=found.gas_used
                )
            except TransitionRefused:
                continue  # another manager on the same database settled it first
            event = log.info if state == MessageState.LANDED else log.error
            event(
                prefix + state,
                miner=m.miner,
                deadline=m.deadline,
                cid=found.message,
                exit_code=found.exit_code,
                epoch=found.height,
                gas_used=found.gas_used,
                replaced=m.replaced_cids,
            )
            continue
        if epoch is None:
            continue
        age = epoch - m.pushed_epoch
        replaceable = replace is not None and replace_after is not None and age > replace_after
        if replaceable and replace(m, epoch):
            continue  # replaced: its age starts again
        if age > resubmit_after:
            try:
                ledger.dropped(m.id, f"not on chain {resubmit_after} epochs after it was pushed")
            except TransitionRefused:
                continue
            log.warning(prefix + "dropped", miner=m.miner, deadline=m.deadline, cid=m.cid)
            on_dropped(MessageKind(m.kind), m.miner, m.period_start, m.deadline)
