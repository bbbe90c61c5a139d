"""Following pushed messages until the chain has executed them, or until it
is clear it never will (a reorg, or the mpool, dropped them): then their
partitions may be sent again while the deadline is open.

An executed message's fee is worked out as the chain charged it: gas used,
the gas limit, fee cap and premium it was sent with, and the base fee of
the tipset that included it (the ParentBaseFee of the parent of the tipset
``StateSearchMsg`` names, which is the one that executed it). Two
``ChainGetTipSet`` reads per message, once; a node that cannot answer them
leaves the fee unknown, never the message unrecorded."""

from __future__ import annotations

from collections.abc import Callable

from prover import metrics
from prover.chain.lotus import LotusClient, LotusError, MsgLookup
from prover.chain.message import GasCharges, gas_charges
from prover.logs import get_logger
from prover.store import Ledger, MessageKind, MessageState, TransitionRefused
from prover.store.ledger import sent_of
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
        for earlier in reversed(m.replaced_cids if found is None else ()):
            # a replacement is recorded (fenced) before it is pushed: if the
            # node refused it, the message it was to replace may still land
            found = client.state_search_msg(earlier)
            if found is not None:
                break
        if found is not None:
            base_fee, charges = fee_of(client, m, found)
            fee_paid = None if charges is None else charges.total
            try:
                state = ledger.executed(
                    m.id,
                    exit_code=found.exit_code,
                    epoch=found.height,
                    gas_used=found.gas_used,
                    base_fee=base_fee,
                    fee_paid=fee_paid,
                )
            except TransitionRefused:
                continue  # another manager on the same database settled it first
            metrics.message_executed(
                m.kind,
                m.miner,
                m.deadline,
                landed=state == MessageState.LANDED,
                partitions=len(m.partitions),
                gas_used=found.gas_used,
                fee_paid=fee_paid,
            )
            event = log.info if state == MessageState.LANDED else log.error
            event(
                prefix + state,
                miner=m.miner,
                deadline=m.deadline,
                cid=found.message,
                exit_code=found.exit_code,
                epoch=found.height,
                gas_used=found.gas_used,
                base_fee=None if base_fee is None else str(base_fee),
                fee_paid=None if fee_paid is None else str(fee_paid),
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
            metrics.message("dropped", m.kind, m.miner, m.deadline)
            log.warning(prefix + "dropped", miner=m.miner, deadline=m.deadline, cid=m.cid)
            on_dropped(MessageKind(m.kind), m.miner, m.period_start, m.deadline)


def fee_of(
    client: LotusClient, m: MessageRow, found: MsgLookup
) -> tuple[int | None, GasCharges | None]:
    """(base fee, charges) of an executed message, or None for what cannot
    be known: a message the node priced itself, one replaced by a message
    we did not send, or a node that cannot say its tipsets."""
    sent = sent_of(m)
    if sent is None or found.message != m.cid or not found.tipset:
        return None, None
    try:
        executed = client.chain_get_tipset(found.tipset)
        included = client.chain_get_tipset(executed.parents)
    except LotusError as exc:
        log.warning("message_fee_unknown", cid=m.cid, error=str(exc))
        return None, None
    base_fee = included.parent_base_fee
    if base_fee is None:
        return None, None
    fee = gas_charges(found.gas_used, sent.gas_limit, base_fee, sent.gas_fee_cap, sent.gas_premium)
    return base_fee, fee
