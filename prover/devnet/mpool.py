"""The devnet's wallet and message pool, behaving like Lotus' where sending
WindowPoSt and recovery messages depends on it.

- Accounts have an ID address (``t0100``) and a key address (``t3...``);
  the node's wallet holds some keys. ``WalletHas`` answers for key addresses
  only, as Lotus' keystore does; ``StateLookupID``/``StateAccountKey`` map
  between the two.
- Balances are attoFIL. A message is refused when its sender cannot pay its
  value plus gas limit x fee cap on top of its other pending messages
  ("not enough funds"), when its nonce is below the sender's next one, when
  its signature is not the sender's key's, and when it replaces a pending
  message (same sender and nonce) without raising the premium by at least
  ``REPLACE_BY_FEE_RATIO`` (Lotus' mpool default, 1.25).
- Gas: a base fee per gas (default 100 attoFIL, mainnet's minimum). A
  message whose fee cap is under the base fee waits in the pool (a base-fee
  spike) until the base fee falls or a replacement pays it. Included
  messages are charged as the chain charges them (``gas_charges``: base fee
  burn, over-estimation burn, miner tip), and each epoch's base fee is
  what its tipset reports as ParentBaseFee.
- Estimates follow Lotus' shape: gas limit = gas used x 1.25, fee cap = base
  fee x 1.125^20 + premium, capped by ``MaxFee`` (limit x fee cap at most
  MaxFee, the premium within the fee cap).

Signatures are a keyed hash, not BLS or secp256k1: the devnet checks that
the key that signed is the sender's, which is what the tracker relies on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from prover.chain.encoding import METHOD_DECLARE_FAULTS_RECOVERED, METHOD_SUBMIT_WINDOWED_POST
from prover.chain.message import ATTO_PER_FIL, Message, SignedMessage, gas_charges

REPLACE_BY_FEE_RATIO = 1.25
GAS_OVER_ESTIMATION = 1.25
MIN_BASE_FEE = 100
DEFAULT_PREMIUM = 100_000
SIG_BLS = 2


def gas_used(msg: Message) -> int:
    """What the devnet's actor charges: a WindowPoSt costs tens of millions
    of gas on mainnet, more with more partitions (the proof is verified
    per partition only when sectors recover)."""
    if msg.method == METHOD_SUBMIT_WINDOWED_POST:
        return 30_000_000 + len(msg.params) * 2_000
    if msg.method == METHOD_DECLARE_FAULTS_RECOVERED:
        return 20_000_000 + len(msg.params) * 1_000
    return 1_000_000


@dataclass
class Account:
    id_address: str  # "t0100"
    key_address: str  # "t3..."
    balance: int
    held: bool = True  # the node's wallet has its key
    nonce: int = 0  # the next nonce on chain


@dataclass
class Pending:
    signed: SignedMessage
    cid: str
    pushed_epoch: int


@dataclass
class Mpool:
    accounts: list[Account] = field(default_factory=list)
    base_fee: int = MIN_BASE_FEE
    # The base fee estimates price against when set: a node that has not yet
    # seen a spike (tests of stuck messages set it below ``base_fee``).
    estimate_base_fee: int | None = None
    pending: dict[tuple[str, int], Pending] = field(default_factory=dict)
    # a replaced message's CID -> the CID that replaced it
    replaced: dict[str, str] = field(default_factory=dict)

    @classmethod
    def default(cls, id_address: str) -> Mpool:
        """One funded account the wallet holds (1,000 FIL), as a devnet's
        genesis gives its miner's worker."""
        return cls([Account(id_address, key_address_for(id_address), 1000 * ATTO_PER_FIL)])

    # ---- addresses ------------------------------------------------------------

    def account(self, address: str) -> Account:
        for a in self.accounts:
            if address in (a.id_address, a.key_address):
                return a
        raise KeyError(f"actor not found: {address}")

    def wallet_has(self, address: str) -> bool:
        return any(a.held and a.key_address == address for a in self.accounts)

    # ---- estimates and signatures -------------------------------------------------

    def next_nonce(self, address: str) -> int:
        a = self.account(address)
        mine = [n for (key, n) in self.pending if key == a.key_address]
        return max([a.nonce, *(n + 1 for n in mine)])

    def estimate(self, msg: Message, max_fee: int | None, maximize_fee_cap: bool) -> Message:
        limit = int(gas_used(msg) * GAS_OVER_ESTIMATION)
        premium = msg.gas_premium or DEFAULT_PREMIUM
        base_fee = self.base_fee if self.estimate_base_fee is None else self.estimate_base_fee
        fee_cap = msg.gas_fee_cap or base_fee * 1125**20 // 1000**20 + premium
        if max_fee is not None and max_fee > 0:
            if maximize_fee_cap or limit * fee_cap > max_fee:
                fee_cap = max_fee // limit
            premium = min(premium, fee_cap)
        return msg.with_gas(limit=msg.gas_limit or limit, fee_cap=fee_cap, premium=premium)

    def sign(self, address: str, msg: Message) -> SignedMessage:
        if not self.wallet_has(address):
            raise ValueError(f"key not found for {address}")
        a = self.account(address)
        if self.account(msg.sender) is not a:
            raise ValueError(f"{address} cannot sign a message from {msg.sender}")
        return SignedMessage(msg, SIG_BLS, _signature(a.key_address, msg), message_cid(msg))

    # ---- the pool ---------------------------------------------------------------------

    def check(self, signed: SignedMessage, cid: str) -> Pending | None:
        """Refuses what Lotus' mpool refuses; returns the pending message
        this one replaces, if any."""
        msg = signed.message
        a = self.account(msg.sender)
        if signed.signature != _signature(a.key_address, msg):
            raise ValueError(f"signature verification failed: not signed by {a.key_address}")
        if msg.gas_limit <= 0:
            raise ValueError("message has no gas limit: estimate its gas first")
        if msg.gas_fee_cap < msg.gas_premium:
            raise ValueError("gas fee cap is below the gas premium")
        if msg.nonce < a.nonce:
            raise ValueError(f"minimum expected nonce is {a.nonce}, got {msg.nonce}")
        if msg.nonce > self.next_nonce(msg.sender):
            raise ValueError(f"nonce gap: next nonce is {self.next_nonce(msg.sender)}")
        old = self.pending.get((a.key_address, msg.nonce))
        if old is not None:
            wanted = int(old.signed.message.gas_premium * REPLACE_BY_FEE_RATIO)
            if msg.gas_premium < wanted:
                raise ValueError(
                    f"replace by fee has too low GasPremium: {msg.gas_premium} < {wanted}"
                )
        others = sum(
            p.signed.message.max_fee + p.signed.message.value
            for (key, n), p in self.pending.items()
            if key == a.key_address and n != msg.nonce
        )
        if a.balance < others + msg.max_fee + msg.value:
            raise ValueError(
                f"not enough funds including pending messages: {a.key_address} has "
                f"{a.balance} attoFIL, needs {others + msg.max_fee + msg.value}"
            )
        return old

    def add(self, signed: SignedMessage, cid: str, epoch: int) -> None:
        """A checked message into the pool (replacing its nonce's one)."""
        msg = signed.message
        key = (self.account(msg.sender).key_address, msg.nonce)
        old = self.pending.get(key)
        if old is not None:
            self.replaced[old.cid] = cid
        self.pending[key] = Pending(signed, cid, epoch)

    def includable(self, base_fee: int) -> list[Pending]:
        """Pending messages that go into a block of ``base_fee``, in nonce
        order per sender: fee cap at least the base fee, no earlier nonce
        waiting."""
        out = []
        for a in self.accounts:
            n = a.nonce
            while (p := self.pending.get((a.key_address, n))) is not None:
                if p.signed.message.gas_fee_cap < base_fee:
                    break
                out.append(p)
                n += 1
        return out

    def charge(self, p: Pending, base_fee: int) -> tuple[int, int]:
        """Takes the message out of the pool, advances its sender's nonce
        and charges its gas at ``base_fee``; returns the gas used and the
        fee paid (attoFIL)."""
        msg = p.signed.message
        a = self.account(msg.sender)
        del self.pending[(a.key_address, msg.nonce)]
        a.nonce = msg.nonce + 1
        used = min(gas_used(msg), msg.gas_limit)
        fee = gas_charges(used, msg.gas_limit, base_fee, msg.gas_fee_cap, msg.gas_premium)
        a.balance -= fee.total + msg.value
        return used, fee.total

    def resolve(self, cid: str) -> str:
        """The CID that finally replaced ``cid`` (itself if none did)."""
        while cid in self.replaced:
            cid = self.replaced[cid]
        return cid

    # ---- persistence ----------------------------------------------------------------

    def to_json(self) -> list[dict]:
        return [
            {"id": a.id_address, "key": a.key_address, "balance": str(a.balance), "held": a.held}
            for a in self.accounts
        ]

    @classmethod
    def from_json(cls, rows: list[dict]) -> Mpool:
        return cls(
            [Account(r["id"], r["key"], int(r["balance"]), bool(r.get("held", True))) for r in rows]
        )

    def state_json(self) -> dict:
        """The running state: balances, nonces, pending and replaced messages."""
        return {
            "base_fee": str(self.base_fee),
            "accounts": [
                {**row, "nonce": a.nonce}
                for row, a in zip(self.to_json(), self.accounts, strict=True)
            ],
            "pending": [
                {"signed": p.signed.to_json(), "cid": p.cid, "epoch": p.pushed_epoch}
                for p in self.pending.values()
            ],
            "replaced": self.replaced,
        }

    @classmethod
    def from_state(cls, data: dict) -> Mpool:
        pool = cls.from_json(data["accounts"])
        for a, row in zip(pool.accounts, data["accounts"], strict=True):
            a.nonce = int(row["nonce"])
        pool.base_fee = int(data["base_fee"])
        for row in data["pending"]:
            signed = SignedMessage.from_json(row["signed"])
            key = (pool.account(signed.message.sender).key_address, signed.message.nonce)
            pool.pending[key] = Pending(signed, row["cid"], int(row["epoch"]))
        pool.replaced = dict(data["replaced"])
        return pool


def key_address_for(id_address: str) -> str:
    """A stable stand-in BLS key address for an account of the devnet."""
    digest = hashlib.sha256(b"devnet key " + id_address.encode()).hexdigest()
    return id_address[0] + "3" + digest[:39]


def message_cid(msg: Message) -> str:
    """A message's CID, known once it is signed, as Lotus' is: a BLS-signed
    message is named by its unsigned message, so WalletSignMessage returns
    the CID that MpoolPush will (a tracker records it before pushing)."""
    digest = hashlib.sha256(json.dumps(msg.to_json(), sort_keys=True).encode())
    return "bafy2devnetmsg" + digest.hexdigest()[:40]


def _signature(key_address: str, msg: Message) -> bytes:
    body = json.dumps(msg.to_json(), sort_keys=True).encode()
    return hashlib.sha256(b"devnet signature " + key_address.encode() + body).digest()
