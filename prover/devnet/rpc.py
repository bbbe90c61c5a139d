"""The Lotus JSON-RPC methods the devnet serves, in Lotus' documented JSON
shapes (``documentation/en/api-methods-v1-stable.md``): the chain head,
randomness, the miner's info, deadlines, partitions and sectors, pushing
and finding messages, listing the messages on chain to or from an address
(``StateListMessages``) and reading one (``ChainGetMessage``).

``RpcCalls`` counts the calls that arrive over the devnet's HTTP and
websocket transport, per method (``DevnetStatus`` shows them as
``rpc_calls``): what a test of a manager that must never send reads."""

from __future__ import annotations

import base64
import functools
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from prover.chain.encoding import bitfield_from_json, bitfield_to_json, sealed_cid
from prover.chain.message import Message, SignedMessage
from prover.devnet.actor import Devnet
from prover.devnet.state import DevnetMiner
from prover.proofs import PoStProofType

# A node answers StateMinerSectors from its state; the devnet would spend
# most of a 117,000-sector answer encoding the same CIDs again each time.
_sealed_cid = functools.lru_cache(maxsize=1 << 20)(sealed_cid)


class RpcCalls:
    """Calls answered over the devnet's RPC transport, per method as the
    caller named it (``Filecoin.MpoolPush``), since the server started (not
    persisted). In-process calls (the incumbent's pushes) are not RPC calls
    and are not counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, method: Any) -> None:
        with self._lock:
            self._counts[str(method)] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))


def handle(
    net: Devnet,
    method: str,
    params: list[Any],
    status_extras: Mapping[str, Callable[[], Any]] | None = None,
) -> Any:
    """The answer to one JSON-RPC call; ``KeyError`` for an unknown method or
    actor, ``ValueError`` for a call the node would refuse.

    Calls are answered one at a time under the chain's lock, as a node
    answers from one tipset's state: several managers (and each one's
    threads) call at once, and a message landing mid-answer would otherwise
    change the dicts and sets an answer is read from. ``StateMinerSectors``
    reads only the sectors' set-up, which never changes, and a mainnet-size
    answer takes long enough that it must not hold up the others.

    ``status_extras`` are more keys of ``DevnetStatus``'s answer (the
    server's ``rpc_calls``, the incumbent's pushes), each read at the call."""
    name = method.removeprefix("Filecoin.")
    if name == "StateMinerSectors":
        return _answer(net, method, name, params)
    with net.state_lock:
        if name == "DevnetStatus":
            status = net.status()
            for key, read in (status_extras or {}).items():
                status[key] = read()
            return status
        return _answer(net, method, name, params)


def _answer(net: Devnet, method: str, name: str, params: list[Any]) -> Any:
    """One method by its handler: the chain's and the pool's by name, a miner
    actor's once ``params[0]`` names one (an unknown method's first
    parameter is read as a miner too, as it always was: an unknown actor is
    the error then)."""
    net.settle()
    now = net.epoch()
    chain = _CHAIN_METHODS.get(name)
    if chain is not None:
        return chain(net, now, params)
    m = net.miner(params[0])
    miner = _MINER_METHODS.get(name)
    if miner is not None:
        return miner(net, m, now, params)
    raise KeyError(f"method {method} not supported by the devnet")


# ---- the chain: tipsets, randomness ---------------------------------------------


def _chain_head(net: Devnet, now: int, params: list[Any]) -> Any:
    return net.tipset(now)


def _chain_get_tipset(net: Devnet, now: int, params: list[Any]) -> Any:
    return net.tipset_by_key(params[0])


def _chain_get_tipset_by_height(net: Devnet, now: int, params: list[Any]) -> Any:
    height = int(params[0])
    top = net.tipset_by_key(params[1])["Height"] if len(params) > 1 and params[1] else now
    if height > top:
        # Lotus: "looking for tipset with height greater than start point"
        raise ValueError(f"looking for tipset with height greater than start point ({top})")
    return net.tipset(max(0, height))


def _network_version(net: Devnet, now: int, params: list[Any]) -> Any:
    return 21


def _randomness(net: Devnet, now: int, params: list[Any]) -> Any:
    tag, epoch, entropy = int(params[0]), int(params[1]), params[2]
    if epoch > now:
        raise ValueError(f"cannot draw randomness from the future ({epoch} > {now})")
    raw = base64.b64decode(entropy) if entropy else b""
    return base64.b64encode(net.randomness(tag, epoch, raw)).decode()


# ---- the pool and the wallet ------------------------------------------------------


def _mpool_push_message(net: Devnet, now: int, params: list[Any]) -> Any:
    return net.push(params[0], params[1] if len(params) > 1 else None).to_json()


def _mpool_push(net: Devnet, now: int, params: list[Any]) -> Any:
    return {"/": net.push_signed(SignedMessage.from_json(params[0]))}


def _mpool_get_nonce(net: Devnet, now: int, params: list[Any]) -> Any:
    return net.mpool.next_nonce(params[0])


def _gas_estimate_message_gas(net: Devnet, now: int, params: list[Any]) -> Any:
    spec = params[1] or {}
    max_fee = int(spec["MaxFee"]) if spec.get("MaxFee") not in (None, "") else None
    msg = Message.from_json(params[0])
    net.mpool.account(msg.sender)  # Lotus cannot estimate for an unknown sender
    return net.mpool.estimate(msg, max_fee, bool(spec.get("MaximizeFeeCap"))).to_json()


def _wallet_has(net: Devnet, now: int, params: list[Any]) -> Any:
    return net.mpool.wallet_has(params[0])


def _wallet_balance(net: Devnet, now: int, params: list[Any]) -> Any:
    try:
        return str(net.mpool.account(params[0]).balance)
    except KeyError:
        return "0"  # Lotus: an address with no actor has nothing


def _wallet_sign_message(net: Devnet, now: int, params: list[Any]) -> Any:
    signed = net.mpool.sign(params[0], Message.from_json(params[1]))
    return signed.to_json()


def _state_lookup_id(net: Devnet, now: int, params: list[Any]) -> Any:
    return net.mpool.account(params[0]).id_address


def _state_account_key(net: Devnet, now: int, params: list[Any]) -> Any:
    return net.mpool.account(params[0]).key_address


# ---- messages on chain ----------------------------------------------------------------


def _state_list_messages(net: Devnet, now: int, params: list[Any]) -> Any:
    return list_messages(net, *params)


def _chain_get_message(net: Devnet, now: int, params: list[Any]) -> Any:
    return get_message(net, params[0])


def _state_search_msg(net: Devnet, now: int, params: list[Any]) -> Any:
    if len(params) != 4:  # Lotus v1: [tsk, cid, limit, allowReplaced]
        raise ValueError(f"wrong param count (expected 4, got {len(params)})")
    msg = net.lookup(params[1]["/"], bool(params[3]))
    if msg is None:
        return None
    return {
        "Message": {"/": msg.cid},
        "Receipt": {"ExitCode": msg.exit_code, "Return": None, "GasUsed": msg.gas_used},
        "ReturnDec": None,
        "TipSet": net.tipset(msg.height)["Cids"],
        "Height": msg.height,
    }


# ---- a miner actor's state ----------------------------------------------------------


def _state_miner_info(net: Devnet, m: DevnetMiner, now: int, params: list[Any]) -> Any:
    pt = PoStProofType.from_chain_id(m.proof_type)
    return {
        "Owner": net.worker_address,
        "Worker": net.worker_address,
        "ControlAddresses": list(m.control_addresses),
        "SectorSize": pt.sector_size,
        "WindowPoStProofType": m.proof_type,
        "WindowPoStPartitionSectors": pt.partition_sectors,
    }


def _state_miner_proving_deadline(net: Devnet, m: DevnetMiner, now: int, params: list[Any]) -> Any:
    dl = net.deadline_of(m, now)
    p = net.policy
    return {
        "CurrentEpoch": now,
        "PeriodStart": dl.period_start,
        "Index": dl.index,
        "Open": dl.open,
        "Close": dl.close,
        "Challenge": dl.challenge,
        "FaultCutoff": dl.fault_cutoff,
        "WPoStPeriodDeadlines": p.period_deadlines,
        "WPoStProvingPeriod": p.proving_period,
        "WPoStChallengeWindow": p.challenge_window,
        "WPoStChallengeLookback": p.challenge_lookback,
        "FaultDeclarationCutoff": p.fault_declaration_cutoff,
    }


def _state_miner_partitions(net: Devnet, m: DevnetMiner, now: int, params: list[Any]) -> Any:
    """At the head, or at an older tipset of the chain (``params[2]``) with
    the faults and recoveries as they stood then."""
    tsk = params[2] if len(params) > 2 else None
    if tsk:
        faulty, recovering = m.faults_at(net.tipset_by_key(tsk)["Height"])
    else:
        faulty, recovering = m.faulty, m.recovering
    out = []
    for sectors in m.deadlines.get(int(params[1]), []):
        s = set(sectors)
        out.append(
            {
                "AllSectors": bitfield_to_json(s),
                "FaultySectors": bitfield_to_json(s & faulty),
                "RecoveringSectors": bitfield_to_json(s & recovering),
                "LiveSectors": bitfield_to_json(s),
                "ActiveSectors": bitfield_to_json(s - faulty),
            }
        )
    return out


def _state_miner_sectors(net: Devnet, m: DevnetMiner, now: int, params: list[Any]) -> Any:
    wanted = None if params[1] is None else bitfield_from_json(params[1])
    return [
        {
            "SectorNumber": n,
            "SealProof": PoStProofType.from_chain_id(m.proof_type).seal_proof_id,
            "SealedCID": {"/": _sealed_cid(c)},
            "SectorKeyCID": ({"/": _sealed_cid(m.sector_keys[n])} if n in m.sector_keys else None),
        }
        for n, c in sorted(m.comm_r.items())
        if wanted is None or n in wanted
    ]


# The methods by name (without the ``Filecoin.`` prefix): those of the chain,
# the pool and the wallet, then those that read a miner actor's state.
_CHAIN_METHODS: dict[str, Callable[[Devnet, int, list[Any]], Any]] = {
    "ChainHead": _chain_head,
    "ChainGetTipSet": _chain_get_tipset,
    "ChainGetTipSetByHeight": _chain_get_tipset_by_height,
    "StateNetworkVersion": _network_version,
    "StateGetRandomnessFromBeacon": _randomness,
    "StateGetRandomnessFromTickets": _randomness,
    "MpoolPushMessage": _mpool_push_message,
    "MpoolPush": _mpool_push,
    "MpoolGetNonce": _mpool_get_nonce,
    "GasEstimateMessageGas": _gas_estimate_message_gas,
    "WalletHas": _wallet_has,
    "WalletBalance": _wallet_balance,
    "WalletSignMessage": _wallet_sign_message,
    "StateLookupID": _state_lookup_id,
    "StateAccountKey": _state_account_key,
    "StateListMessages": _state_list_messages,
    "ChainGetMessage": _chain_get_message,
    "StateSearchMsg": _state_search_msg,
}
_MINER_METHODS: dict[str, Callable[[Devnet, DevnetMiner, int, list[Any]], Any]] = {
    "StateMinerInfo": _state_miner_info,
    "StateMinerProvingDeadline": _state_miner_proving_deadline,
    "StateMinerPartitions": _state_miner_partitions,
    "StateMinerSectors": _state_miner_sectors,
}


# Lotus writes an unset address (address.Undef) as "<empty>"
_UNSET_ADDRESSES = (None, "", "<empty>")


def _same_address(a: str, b: str) -> bool:
    """Lotus compares addresses, not their strings: the network prefix
    (``f``/``t``) is not part of an address."""
    return a[1:] == b[1:]


def _actor_exists(net: Devnet, address: str) -> bool:
    """A miner actor or an account (by its ID or key address) of the devnet."""
    if address[2:].isdigit() and int(address[2:]) in net.miners:
        return True
    return any(
        _same_address(address, a)
        for account in net.mpool.accounts
        for a in (account.id_address, account.key_address)
    )


def list_messages(net: Devnet, match: dict | None, tsk: list | None, to_height: int) -> Any:
    """``StateListMessages(match, tsk, toHeight)``: the CIDs (``[{"/": cid}]``)
    of the messages included in the tipsets from ``tsk`` (the head when
    empty) back to ``toHeight``, newest tipset first, whose To and From match
    (an unset one matches any; both unset is an error, as Lotus says). As
    Lotus (``node/impl/full/state.go``): ``null`` when the address to match
    (To, else From) has no actor, and ``null`` for no match (a nil list).

    A message the devnet executed at epoch ``e`` (its ``StateSearchMsg``
    height ``e + 1``) is in the tipset at ``e``; it is listed once
    ``StateSearchMsg`` finds it (from ``e + 1``)."""
    match = match or {}
    to, sender = match.get("To"), match.get("From")
    to = None if to in _UNSET_ADDRESSES else str(to)
    sender = None if sender in _UNSET_ADDRESSES else str(sender)
    if to is None and sender is None:
        raise ValueError("must specify at least To or From in message filter")
    now = net.epoch()
    top = net.tipset_by_key(tsk)["Height"] if tsk else now
    if not _actor_exists(net, to if to is not None else sender):
        return None
    found = [
        m
        for m in net.messages.values()
        if int(to_height) <= m.height - 1 <= top
        and m.height <= now
        and (to is None or _same_address(m.to, to))
        and (sender is None or _same_address(m.sender, sender))
    ]
    # newest tipset first; within a tipset, in the order they were included
    found.sort(key=lambda m: -m.height)
    return [{"/": m.cid} for m in found] or None


def get_message(net: Devnet, ref: dict) -> dict:
    """``ChainGetMessage``: the message (included, or waiting in the pool:
    Lotus stores what its mpool takes in the chain blockstore) in Lotus'
    JSON, with its ``CID``; Lotus' blockstore error for any other CID."""
    cid = ref["/"]
    found = net.messages.get(cid)
    if found is not None:
        msg = Message(
            to=found.to,
            sender=found.sender,
            method=found.method,
            params=found.params,
            nonce=found.nonce,
            value=found.value,
            gas_limit=found.gas_limit,
            gas_fee_cap=found.gas_fee_cap,
            gas_premium=found.gas_premium,
            version=found.version,
        )
    else:
        waiting = [p for p in net.mpool.pending.values() if p.cid == cid]
        if not waiting:
            raise KeyError(f"ipld: could not find {cid}")
        msg = waiting[0].signed.message
    return {**msg.to_json(), "CID": {"/": cid}}
