"""A Filecoin message and a signed one, as Lotus' JSON API writes them
(``documentation/en/api-methods-v1-stable.md``: ``GasEstimateMessageGas``,
``WalletSignMessage``, ``MpoolPush``). Token amounts are attoFIL, integers
here and decimal strings on the wire; params are base64.

Sending a message ourselves (estimate, sign, push) rather than through the
node's ``MpoolPushMessage`` is what lets the tracker choose the sender, cap
the fee and replace a stuck message by fee with the same nonce.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from typing import Any

ATTO_PER_FIL = 10**18


def fil(atto: int) -> str:
    """attoFIL as FIL for people ("0.25 FIL")."""
    whole, frac = divmod(atto, ATTO_PER_FIL)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".") + " FIL"


def _amount(value: Any, name: str) -> int:
    """A token amount from Lotus JSON (a decimal string; "0" for none)."""
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a token amount: {value!r}") from None
    if out < 0:
        raise ValueError(f"{name} is negative: {value!r}")
    return out


@dataclass(frozen=True)
class Message:
    to: str
    sender: str  # "From" on the wire
    method: int
    params: bytes = b""
    nonce: int = 0
    value: int = 0
    gas_limit: int = 0
    gas_fee_cap: int = 0
    gas_premium: int = 0
    version: int = 0

    @property
    def max_fee(self) -> int:
        """The most this message can cost its sender in gas: limit x fee cap."""
        return self.gas_limit * self.gas_fee_cap

    def with_gas(self, *, limit: int, fee_cap: int, premium: int) -> Message:
        return replace(self, gas_limit=limit, gas_fee_cap=fee_cap, gas_premium=premium)

    def to_json(self) -> dict[str, Any]:
        return {
            "Version": self.version,
            "To": self.to,
            "From": self.sender,
            "Nonce": self.nonce,
            "Value": str(self.value),
            "GasLimit": self.gas_limit,
            "GasFeeCap": str(self.gas_fee_cap),
            "GasPremium": str(self.gas_premium),
            "Method": self.method,
            "Params": base64.b64encode(self.params).decode() if self.params else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Message:
        try:
            return cls(
                to=str(d["To"]),
                sender=str(d["From"]),
                method=int(d["Method"]),
                params=base64.b64decode(d.get("Params") or ""),
                nonce=int(d.get("Nonce", 0)),
                value=_amount(d.get("Value", "0"), "Value"),
                gas_limit=int(d.get("GasLimit", 0)),
                gas_fee_cap=_amount(d.get("GasFeeCap", "0"), "GasFeeCap"),
                gas_premium=_amount(d.get("GasPremium", "0"), "GasPremium"),
                version=int(d.get("Version", 0)),
            )
        except KeyError as exc:
            raise ValueError(f"message without {exc.args[0]}") from None


@dataclass(frozen=True)
class SignedMessage:
    message: Message
    signature_type: int  # 1 secp256k1, 2 BLS (Lotus' crypto.SigType)
    signature: bytes
    cid: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Message": self.message.to_json(),
            "Signature": {
                "Type": self.signature_type,
                "Data": base64.b64encode(self.signature).decode(),
            },
        }
        if self.cid:
            out["CID"] = {"/": self.cid}
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SignedMessage:
        try:
            sig = d["Signature"]
            return cls(
                message=Message.from_json(d["Message"]),
                signature_type=int(sig["Type"]),
                signature=base64.b64decode(sig.get("Data") or ""),
                cid=(d.get("CID") or {}).get("/", ""),
            )
        except KeyError as exc:
            raise ValueError(f"signed message without {exc.args[0]}") from None


@dataclass(frozen=True)
class GasCharges:
    """What executing a message cost its sender, split as the chain splits it
    (the FVM's gas outputs): ``base_fee_burn`` is gas used x the base fee
    (no more than the fee cap), ``over_estimation_burn`` the base fee on part
    of a gas limit set well above the gas used, ``miner_tip`` the premium
    (within what the fee cap leaves above the base fee) on the whole gas
    limit. The rest of gas limit x fee cap is refunded."""

    base_fee_burn: int
    over_estimation_burn: int
    miner_tip: int

    @property
    def total(self) -> int:
        """The fee paid: what left the sender's balance besides the value."""
        return self.base_fee_burn + self.over_estimation_burn + self.miner_tip


# A gas limit up to 1.1 x the gas used is burnt nothing for over-estimating.
GAS_OVERUSE_RATIO = (11, 10)


def gas_charges(
    gas_used: int, gas_limit: int, base_fee: int, fee_cap: int, premium: int
) -> GasCharges:
    """The charges of a message executed under ``base_fee`` (the tipset's
    ParentBaseFee), by the rules the chain applies (filecoin-project/lotus
    chain/vm/burn.go, FIP-0001's gas fee split)."""
    base = min(base_fee, fee_cap)
    tip = max(0, min(premium, fee_cap - base))
    over_burnt = _over_estimation_burnt_gas(gas_used, gas_limit)
    return GasCharges(base * gas_used, base * over_burnt, tip * gas_limit)


def _over_estimation_burnt_gas(gas_used: int, gas_limit: int) -> int:
    """Gas of the limit burnt for over-estimating: none up to 1.1 x the gas
    used, then a share growing with the excess, all of the excess from
    2.1 x on (the whole limit when nothing was used)."""
    if gas_used == 0:
        return gas_limit
    num, denom = GAS_OVERUSE_RATIO
    over = gas_limit - (num * gas_used) // denom
    if over < 0:
        return 0
    over = min(over, gas_used)
    return (gas_limit - gas_used) * over // gas_used
