"""Sending a miner's messages: which address pays, what it may cost, and
replacing one that is stuck (docs/DOMAIN.md §5).

``candidates`` is the rule, free of I/O: the configured senders, or the
miner's control addresses, then its worker, then its owner. ``Sender``
asks the node about each in turn (is its key in the wallet, does its
balance cover the message's maximum fee), prices the message with
``GasEstimateMessageGas`` within the kind's maximum fee, signs it with
``WalletSignMessage`` and pushes it with ``MpoolPush``. ``replacement``
prices a replacement by fee: the same nonce, the premium raised by at least
the mpool's 1.25 ratio, the fee cap raised to the most the maximum fee
allows, so that a base-fee spike cannot strand it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from prover.chain.lotus import LotusClient, LotusError, MinerInfo
from prover.chain.message import Message, fil
from prover.config import ChainConfig
from prover.logs import get_logger
from prover.store import MessageKind, Sent

log = get_logger("prover.tracker.senders")

# Lotus' mpool: a replacement's premium must be at least 1.25x the old one's
REPLACE_BY_FEE_RATIO = Fraction(5, 4)


class NoSender(LotusError):
    """No configured or miner address can send this message now; the
    message says why for each."""

    def __init__(self, miner: int, reasons: Sequence[str]) -> None:
        super().__init__("MpoolPush", f"no usable sender for miner {miner}: " + "; ".join(reasons))
        self.reasons = list(reasons)


class CannotReplace(Exception):
    """A stuck message cannot be replaced within its maximum fee."""


def candidates(config: ChainConfig, info: MinerInfo) -> list[str]:
    """The addresses to try for a miner's messages, in order, each once."""
    if config.senders:
        out = list(config.senders)
    else:
        out = []
        if config.use_control_addresses:
            out += info.control_addresses
        if config.use_worker:
            out.append(info.worker)
        if config.use_owner:
            out.append(info.owner)
    return list(dict.fromkeys(out))


def replacement(old: Sent, estimate: Message, max_fee: int) -> Sent:
    """The gas of a replacement by fee for ``old``: premium at least 1.25x
    (and at least the node's estimate now), fee cap the most ``max_fee``
    allows over the estimated gas limit (never below the old one's).
    ``CannotReplace`` when the raised premium does not fit under it."""
    limit = max(old.gas_limit, estimate.gas_limit)
    raised = math.ceil(old.gas_premium * REPLACE_BY_FEE_RATIO)  # exact: a Fraction
    premium = max(raised, estimate.gas_premium, old.gas_premium + 1)
    fee_cap = max(max_fee // limit, old.gas_fee_cap)
    if premium > fee_cap:
        raise CannotReplace(
            f"a premium of {premium} attoFIL/gas does not fit under the maximum fee "
            f"of {fil(max_fee)} over {limit} gas"
        )
    return replace(old, gas_limit=limit, gas_fee_cap=fee_cap, gas_premium=premium)


@dataclass(frozen=True)
class Pushed:
    cid: str
    sent: Sent


# Called with a signed message's CID and gas before it is pushed: the
# tracker records it there, in a transaction fenced by the chain lease, so
# that a manager that lost the lease never sends and a new leader follows
# the message instead of sending its partitions again. Raising stops the push.
BeforePush = Callable[[str, Sent], object]


class Sender:
    def __init__(self, client: LotusClient, config: ChainConfig) -> None:
        self.client = client
        self.config = config

    def max_fee(self, kind: MessageKind) -> int:
        if kind == MessageKind.POST:
            return self.config.max_window_post_gas_fee
        return self.config.max_recovery_gas_fee

    def _key(self, address: str) -> str:
        """The key address the wallet would hold for ``address``."""
        if address[1:2] == "0":  # an ID address: the account's key
            return self.client.state_account_key(address)
        return address

    def send(
        self,
        miner: int,
        kind: MessageKind,
        method: int,
        params: bytes,
        before: BeforePush | None = None,
    ) -> Pushed:
        """Prices, signs and pushes a message to ``miner`` from the first
        usable sender; ``NoSender`` with every address's reason if none is.
        ``before`` sees the signed message before it leaves."""
        info = self.client.state_miner_info(miner)
        max_fee = self.max_fee(kind)
        maximize = kind == MessageKind.POST and self.config.maximize_window_post_fee_cap
        reasons = []
        for address in candidates(self.config, info):
            try:
                key = self._key(address)
                if not self.client.wallet_has(key):
                    reasons.append(f"{address}: key not in the node's wallet")
                    continue
                msg = Message(
                    to=self.client.address(miner), sender=key, method=method, params=params
                )
                est = self.client.gas_estimate_message_gas(msg, max_fee or None)
                if maximize and max_fee:
                    est = est.with_gas(
                        limit=est.gas_limit,
                        fee_cap=max_fee // est.gas_limit,
                        premium=est.gas_premium,
                    )
                balance = self.client.wallet_balance(key)
            except LotusError as exc:
                reasons.append(f"{address}: {exc}")
                continue
            if balance < est.max_fee + est.value:
                reasons.append(
                    f"{address}: balance {fil(balance)} below the message's maximum fee "
                    f"{fil(est.max_fee)}"
                )
                continue
            return self._push(replace(est, nonce=self.client.mpool_get_nonce(key)), before)
        raise NoSender(miner, reasons or ["no address to try"])

    def replace(
        self,
        miner: int,
        kind: MessageKind,
        method: int,
        old: Sent,
        before: BeforePush | None = None,
    ) -> Pushed:
        """A replacement by fee of the message ``old`` describes."""
        msg = Message(
            to=self.client.address(miner), sender=old.sender, method=method, params=old.params
        )
        max_fee = self.max_fee(kind)
        estimate = self.client.gas_estimate_message_gas(msg, max_fee or None)
        gas = replacement(old, estimate, max_fee)
        return self._push(
            replace(
                msg,
                nonce=old.nonce,
                gas_limit=gas.gas_limit,
                gas_fee_cap=gas.gas_fee_cap,
                gas_premium=gas.gas_premium,
            ),
            before,
        )

    def _push(self, msg: Message, before: BeforePush | None) -> Pushed:
        signed = self.client.wallet_sign_message(msg.sender, msg)
        sent = Sent(
            msg.sender, msg.nonce, msg.params, msg.gas_limit, msg.gas_fee_cap, msg.gas_premium
        )
        if before is not None and signed.cid:
            before(signed.cid, sent)
        cid = self.client.mpool_push(signed)
        if before is not None and not signed.cid:
            # a node whose WalletSignMessage names no CID: recorded after
            # the push, so the fence guards the record, not the send
            before(cid, sent)
        elif signed.cid and cid != signed.cid:
            log.warning("message_cid_changed", signed=signed.cid, pushed=cid)
        return Pushed(cid, sent)
