"""A Lotus full-node JSON-RPC client with typed results for the methods a
WindowPoSt pipeline uses (docs/DOMAIN.md §5).

Endpoint and token come from ``FULLNODE_API_INFO`` (``<token>:<multiaddr>``
or ``<token>:<url>``). Calls carry ``Authorization: Bearer``, time out, and
are retried with backoff on transport errors and 5xx answers; a JSON-RPC
error is raised as ``LotusError`` with the node's code and message. httpx
does the HTTP (connection reuse, timeouts) so this module only speaks the
protocol.
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from prover.backoff import Backoff
from prover.chain.deadlines import DeadlineInfo, Policy, deadline_info
from prover.chain.encoding import bitfield_from_json, bitfield_to_json, comm_r_from_cid
from prover.chain.message import Message, SignedMessage

ENV_API_INFO = "FULLNODE_API_INFO"

# Domain separation tags of the randomness (go-state-types crypto).
TAG_WINDOWED_POST_CHALLENGE_SEED = 4
TAG_POST_CHAIN_COMMIT = 9


class LotusError(Exception):
    """The node answered with a JSON-RPC error (or could not be reached)."""

    def __init__(self, method: str, message: str, code: int | None = None) -> None:
        super().__init__(f"{method}: {message}" + (f" (code {code})" if code is not None else ""))
        self.method = method
        self.code = code


def parse_api_info(value: str) -> tuple[str | None, str]:
    """``TOKEN:/ip4/HOST/tcp/PORT/http`` or ``TOKEN:http://HOST:PORT[/rpc/v1]``
    (the token may be absent) -> (token, URL of /rpc/v1)."""
    token, sep, rest = value.partition(":")
    if rest.startswith("//") or not sep:  # "http://..." with no token
        token, rest = None, value
    if rest.startswith("/"):
        parts = rest.strip("/").split("/")
        if (
            len(parts) < 4
            or parts[0] not in ("ip4", "ip6", "dns", "dns4", "dns6")
            or parts[2] != "tcp"
        ):
            raise ValueError(f"cannot read multiaddr {rest!r}")
        host = f"[{parts[1]}]" if parts[0] == "ip6" else parts[1]
        scheme = "https" if "https" in parts[4:] or "wss" in parts[4:] else "http"
        return token or None, f"{scheme}://{host}:{parts[3]}/rpc/v1"
    if rest.startswith(("http://", "https://", "ws://", "wss://")):
        url = rest.replace("ws://", "http://", 1).replace("wss://", "https://", 1).rstrip("/")
        refuse_v0(url)
        if not url.endswith("/rpc/v1"):
            url = url + "/rpc/v1"
        return token or None, url
    raise ValueError(f"cannot read Lotus API info {value!r}")


def refuse_v0(url: str) -> None:
    """Lotus' ``/rpc/v0`` takes other parameters than v1 for methods we call
    (``StateSearchMsg`` takes ``[cid]`` there, ``StateWaitMsg`` two), and
    refuses ours with "wrong param count": say so before the first call."""
    if url.rstrip("/").endswith("/rpc/v0"):
        v1 = url.rstrip("/")[: -len("/rpc/v0")] + "/rpc/v1"
        raise ValueError(
            f"{url} is Lotus' deprecated v0 API, whose methods take other parameters; "
            f"use the v1 API at {v1}"
        )


@dataclass(frozen=True)
class TipSet:
    """A tipset by its key and height; ``parents`` and ``parent_base_fee``
    (from its first block, when the answer carries blocks) are what fees
    are computed from: messages included in a tipset are charged its
    ParentBaseFee. A tipset is the same tipset whatever was read of it."""

    height: int
    cids: tuple[str, ...]
    parents: tuple[str, ...] = field(default=(), compare=False)
    parent_base_fee: int | None = field(default=None, compare=False)

    @property
    def key(self) -> list[dict]:
        return [{"/": c} for c in self.cids]


@dataclass(frozen=True)
class ProvingDeadline:
    """StateMinerProvingDeadline, with the network's policy it reports."""

    info: DeadlineInfo
    policy: Policy


@dataclass(frozen=True)
class Partition:
    all: frozenset[int]
    faulty: frozenset[int]
    recovering: frozenset[int]
    live: frozenset[int]
    active: frozenset[int]

    @property
    def to_prove(self) -> frozenset[int]:
        """Live minus faulty plus recovering: what a WindowPoSt must cover."""
        return (self.live - self.faulty) | self.recovering


@dataclass(frozen=True)
class SectorOnChain:
    number: int
    seal_proof: int
    comm_r: bytes
    upgraded: bool


@dataclass(frozen=True)
class MinerInfo:
    owner: str
    worker: str
    sector_size: int
    window_post_proof_type: int
    window_post_partition_sectors: int
    # addresses the owner allowed to send the miner's messages (PoSt, recoveries)
    control_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class MsgLookup:
    message: str
    exit_code: int
    height: int
    tipset: tuple[str, ...]
    gas_used: int = 0


def tipset_from_json(obj: dict) -> TipSet:
    blocks = obj.get("Blocks") or [{}]
    first = blocks[0] or {}
    fee = first.get("ParentBaseFee")
    return TipSet(
        int(obj["Height"]),
        tuple(c["/"] for c in obj["Cids"]),
        tuple(c["/"] for c in first.get("Parents") or []),
        None if fee in (None, "") else int(fee),
    )


def _lookup(obj: dict | None) -> MsgLookup | None:
    if obj is None:
        return None
    return MsgLookup(
        message=obj["Message"]["/"],
        exit_code=int(obj["Receipt"]["ExitCode"]),
        height=int(obj["Height"]),
        tipset=tuple(c["/"] for c in obj.get("TipSet") or []),
        gas_used=int(obj["Receipt"].get("GasUsed") or 0),
    )


# The calls that sign, estimate or push a message: a read-only client (a
# manager in shadow mode) refuses them before anything reaches the node.
SENDING_PREFIXES = ("WalletSign", "MpoolPush", "GasEstimate")


class ReadOnlyRefused(LotusError):
    """A sending call made through a read-only client: a bug to fix, never
    something to retry."""


@dataclass(frozen=True)
class ChainMessage:
    """ChainGetMessage: who sent what to whom."""

    cid: str
    sender: str
    to: str
    nonce: int
    method: int
    params: bytes


class LotusClient:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        network: str = "f",
        epoch_seconds: float = 30.0,
        read_only: bool = False,
    ) -> None:
        if network not in ("f", "t"):
            raise ValueError("network address prefix is 'f' (mainnet) or 't' (test networks)")
        refuse_v0(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self.token = token
        self.retries = retries
        self.network = network
        self.epoch_seconds = epoch_seconds
        self._http = httpx.Client(headers=headers, timeout=timeout)
        self._ids = itertools.count(1)
        self.read_only = read_only

    @classmethod
    def from_env(cls, value: str | None = None, **kwargs: Any) -> LotusClient:
        info = value or os.environ.get(ENV_API_INFO)
        if not info:
            raise ValueError(f"no Lotus node: set {ENV_API_INFO}=<token>:<multiaddr or URL>")
        token, url = parse_api_info(info)
        return cls(url, token, **kwargs)

    def close(self) -> None:
        self._http.close()

    def address(self, actor_id: int) -> str:
        return f"{self.network}0{actor_id}"

    def call(self, method: str, *params: Any) -> Any:
        if self.read_only and method.startswith(SENDING_PREFIXES):
            raise ReadOnlyRefused(method, "this client is read-only (shadow mode): nothing is sent")
        name = f"Filecoin.{method}"
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": name, "params": list(params)}
        backoff = Backoff(0.2, 5)
        for attempt in range(self.retries + 1):
            try:
                resp = self._http.post(self.url, json=body)
                if resp.status_code in (401, 403):
                    raise LotusError(
                        method, f"unauthorized (HTTP {resp.status_code}): check the token"
                    )
                if resp.status_code >= 500 and attempt < self.retries:
                    raise httpx.TransportError(f"HTTP {resp.status_code}")
                resp.raise_for_status()
                answer = resp.json()
            except (httpx.TransportError, httpx.HTTPStatusError, ValueError) as exc:
                if attempt == self.retries:
                    raise LotusError(method, f"node unreachable at {self.url}: {exc}") from exc
                time.sleep(backoff.next())
                continue
            if answer.get("error"):
                err = answer["error"]
                raise LotusError(method, err.get("message", str(err)), err.get("code"))
            return answer.get("result")
        raise AssertionError("unreachable")

    # ---- chain -------------------------------------------------------------

    def chain_head(self) -> TipSet:
        return tipset_from_json(self.call("ChainHead"))

    def chain_get_tipset(self, cids: tuple[str, ...] | list[str]) -> TipSet:
        """The tipset of this key, with its parents and base fee."""
        return tipset_from_json(self.call("ChainGetTipSet", [{"/": c} for c in cids]))

    def state_network_version(self, tsk: TipSet | None = None) -> int:
        return int(self.call("StateNetworkVersion", tsk.key if tsk else []))

    # ---- miner state -----------------------------------------------------------

    def state_miner_info(self, miner: int, tsk: TipSet | None = None) -> MinerInfo:
        r = self.call("StateMinerInfo", self.address(miner), tsk.key if tsk else [])
        return MinerInfo(
            owner=r["Owner"],
            worker=r["Worker"],
            sector_size=int(r["SectorSize"]),
            window_post_proof_type=int(r["WindowPoStProofType"]),
            window_post_partition_sectors=int(r["WindowPoStPartitionSectors"]),
            control_addresses=tuple(r.get("ControlAddresses") or ()),
        )

    def state_miner_proving_deadline(
        self, miner: int, tsk: TipSet | None = None
    ) -> ProvingDeadline:
        r = self.call("StateMinerProvingDeadline", self.address(miner), tsk.key if tsk else [])
        window = int(r["WPoStChallengeWindow"])
        policy = Policy(
            epoch_seconds=self.epoch_seconds,
            challenge_window=window,
            period_deadlines=int(r["WPoStPeriodDeadlines"]),
            challenge_lookback=int(r["WPoStChallengeLookback"]),
            fault_declaration_cutoff=int(r["FaultDeclarationCutoff"]),
        )
        info = deadline_info(int(r["PeriodStart"]), int(r["Index"]), int(r["CurrentEpoch"]), policy)
        for ours, theirs in (
            (info.open, "Open"),
            (info.close, "Close"),
            (info.challenge, "Challenge"),
            (info.fault_cutoff, "FaultCutoff"),
        ):
            if ours != int(r[theirs]):
                raise LotusError(
                    "StateMinerProvingDeadline",
                    f"{theirs} is {r[theirs]} but the deadline math gives {ours}",
                )
        return ProvingDeadline(info, policy)

    def state_miner_partitions(
        self, miner: int, deadline: int, tsk: TipSet | None = None
    ) -> list[Partition]:
        rows = self.call(
            "StateMinerPartitions", self.address(miner), deadline, tsk.key if tsk else []
        )
        return [
            Partition(
                all=frozenset(bitfield_from_json(p["AllSectors"])),
                faulty=frozenset(bitfield_from_json(p["FaultySectors"])),
                recovering=frozenset(bitfield_from_json(p["RecoveringSectors"])),
                live=frozenset(bitfield_from_json(p["LiveSectors"])),
                active=frozenset(bitfield_from_json(p["ActiveSectors"])),
            )
            for p in rows or []
        ]

    def state_miner_sectors(
        self, miner: int, sectors: set[int] | None = None, tsk: TipSet | None = None
    ) -> list[SectorOnChain]:
        selection = None if sectors is None else bitfield_to_json(sectors)
        rows = self.call(
            "StateMinerSectors", self.address(miner), selection, tsk.key if tsk else []
        )
        return [
            SectorOnChain(
                number=int(s["SectorNumber"]),
                seal_proof=int(s["SealProof"]),
                comm_r=comm_r_from_cid(s["SealedCID"]),
                upgraded=s.get("SectorKeyCID") is not None,
            )
            for s in rows or []
        ]

    # ---- randomness ----------------------------------------------------------------

    def _randomness(
        self, method: str, tag: int, epoch: int, entropy: bytes, tsk: TipSet | None
    ) -> bytes:
        r = self.call(
            method,
            tag,
            epoch,
            base64.b64encode(entropy).decode() if entropy else None,
            tsk.key if tsk else [],
        )
        out = base64.b64decode(r)
        if len(out) != 32:
            raise LotusError(method, f"randomness is {len(out)} bytes, expected 32")
        return out

    def randomness_from_beacon(
        self, tag: int, epoch: int, entropy: bytes, tsk: TipSet | None = None
    ) -> bytes:
        return self._randomness("StateGetRandomnessFromBeacon", tag, epoch, entropy, tsk)

    def randomness_from_tickets(
        self, tag: int, epoch: int, entropy: bytes = b"", tsk: TipSet | None = None
    ) -> bytes:
        return self._randomness("StateGetRandomnessFromTickets", tag, epoch, entropy, tsk)

    # ---- messages --------------------------------------------------------------------

    def mpool_push_message(
        self, to: str, sender: str, method: int, params: bytes, *, max_fee: int | None = None
    ) -> str:
        """Signs and pushes through the node's wallet; returns the message CID."""
        msg = {
            "Version": 0,
            "To": to,
            "From": sender,
            "Nonce": 0,
            "Value": "0",
            "GasLimit": 0,
            "GasFeeCap": "0",
            "GasPremium": "0",
            "Method": method,
            "Params": base64.b64encode(params).decode(),
        }
        spec = {"MaxFee": str(max_fee)} if max_fee is not None else None
        signed = self.call("MpoolPushMessage", msg, spec)
        return signed["CID"]["/"]

    def gas_estimate_message_gas(
        self, msg: Message, max_fee: int | None = None, tsk: TipSet | None = None
    ) -> Message:
        """``msg`` with the node's gas limit, fee cap and premium filled in
        (``MaxFee`` caps limit x fee cap, as Lotus' MessageSendSpec does)."""
        spec = {"MaxFee": str(max_fee)} if max_fee is not None else None
        r = self.call("GasEstimateMessageGas", msg.to_json(), spec, tsk.key if tsk else [])
        return Message.from_json(r)

    def mpool_get_nonce(self, address: str) -> int:
        """The next nonce for ``address``, counting its messages in the mpool."""
        return int(self.call("MpoolGetNonce", address))

    def wallet_has(self, address: str) -> bool:
        """Whether the node's wallet holds the key of ``address`` (a key
        address: an ID address is never "held"; see ``state_account_key``)."""
        return bool(self.call("WalletHas", address))

    def wallet_balance(self, address: str) -> int:
        """The balance of ``address`` in attoFIL."""
        return int(self.call("WalletBalance", address))

    def wallet_sign_message(self, address: str, msg: Message) -> SignedMessage:
        return SignedMessage.from_json(self.call("WalletSignMessage", address, msg.to_json()))

    def mpool_push(self, signed: SignedMessage) -> str:
        """Pushes a signed message; its CID. The mpool refuses a nonce too
        low, a replacement without enough premium, a sender that cannot pay."""
        return self.call("MpoolPush", signed.to_json())["/"]

    def state_lookup_id(self, address: str, tsk: TipSet | None = None) -> str:
        """The ID address (``f0...``) of any address."""
        return str(self.call("StateLookupID", address, tsk.key if tsk else []))

    def state_account_key(self, address: str, tsk: TipSet | None = None) -> str:
        """The key address (``f1``/``f3``) behind an account's ID address."""
        return str(self.call("StateAccountKey", address, tsk.key if tsk else []))

    def state_search_msg(
        self, cid: str, tsk: TipSet | None = None, *, limit: int = -1, allow_replaced: bool = True
    ) -> MsgLookup | None:
        return _lookup(
            self.call("StateSearchMsg", tsk.key if tsk else [], {"/": cid}, limit, allow_replaced)
        )

    def state_list_messages(
        self,
        *,
        to: str | None = None,
        sender: str | None = None,
        from_height: int,
        tsk: TipSet | None = None,
    ) -> list[str]:
        """CIDs of the messages on chain from ``tsk`` (the head when None)
        back to ``from_height`` sent to ``to`` and/or by ``sender``
        (StateListMessages with a MessageMatch). The node walks every
        tipset in between: a tipset near ``from_height`` keeps an old
        range cheap."""
        match = {"To": to, "From": sender}
        key = tsk.key if tsk else []
        return [c["/"] for c in self.call("StateListMessages", match, key, from_height) or []]

    def chain_get_tipset_by_height(self, height: int) -> TipSet:
        """The tipset at ``height`` on the head's chain (ChainGetTipSetByHeight;
        at a null round, the one below it)."""
        return tipset_from_json(self.call("ChainGetTipSetByHeight", height, []))

    def chain_get_message(self, cid: str) -> ChainMessage:
        r = self.call("ChainGetMessage", {"/": cid})
        return ChainMessage(
            cid=cid,
            sender=r["From"],
            to=r["To"],
            nonce=int(r["Nonce"]),
            method=int(r["Method"]),
            params=base64.b64decode(r.get("Params") or ""),
        )


@dataclass(frozen=True)
class HeadChange:
    kind: str  # "apply" or "revert"
    tipset: TipSet


class HeadPoller:
    """Head changes by polling ChainHead (works on every node; ChainNotify
    needs a websocket). A head that goes back, or changes at the same height,
    is reported as a revert of the old head then an apply of the new one."""

    def __init__(self, client: LotusClient) -> None:
        self.client = client
        self.current: TipSet | None = None

    def poll(self) -> list[HeadChange]:
        return self.observe(self.client.chain_head())

    def observe(self, head: TipSet) -> list[HeadChange]:
        """The changes that lead from the last head seen to ``head``."""
        prev, self.current = self.current, head
        if prev is None:
            return [HeadChange("apply", head)]
        if head == prev:
            return []
        if head.height > prev.height:
            return [HeadChange("apply", head)]
        return [HeadChange("revert", prev), HeadChange("apply", head)]
