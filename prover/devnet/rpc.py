"""The Lotus JSON-RPC methods the devnet serves, in Lotus' documented JSON
shapes (``documentation/en/api-methods-v1-stable.md``): the chain head,
randomness, the miner's info, deadlines, partitions and sectors, pushing
and finding messages."""

from __future__ import annotations

import base64
import functools
from typing import Any

from prover.chain.encoding import bitfield_from_json, bitfield_to_json, sealed_cid
from prover.chain.message import Message, SignedMessage
from prover.devnet.actor import Devnet
from prover.proofs import PoStProofType

# A node answers StateMinerSectors from its state; the devnet would spend
# most of a 117,000-sector answer encoding the same CIDs again each time.
_sealed_cid = functools.lru_cache(maxsize=1 << 20)(sealed_cid)


def handle(net: Devnet, method: str, params: list[Any]) -> Any:
    """The answer to one JSON-RPC call; ``KeyError`` for an unknown method or
    actor, ``ValueError`` for a call the node would refuse.

    Calls are answered one at a time under the chain's lock, as a node
    answers from one tipset's state: several managers (and each one's
    threads) call at once, and a message landing mid-answer would otherwise
    change the dicts and sets an answer is read from. ``StateMinerSectors``
    reads only the sectors' set-up, which never changes, and a mainnet-size
    answer takes long enough that it must not hold up the others."""
    name = method.removeprefix("Filecoin.")
    if name == "StateMinerSectors":
        return _answer(net, method, name, params)
    with net.state_lock:
        return _answer(net, method, name, params)


def _answer(net: Devnet, method: str, name: str, params: list[Any]) -> Any:
    net.settle()
    now = net.epoch()
    if name == "ChainHead":
        return net.tipset(now)
    if name == "ChainGetTipSet":
        return net.tipset_by_key(params[0])
    if name == "StateNetworkVersion":
        return 21
    if name == "DevnetStatus":
        return net.status()
    if name in ("StateGetRandomnessFromBeacon", "StateGetRandomnessFromTickets"):
        tag, epoch, entropy = int(params[0]), int(params[1]), params[2]
        if epoch > now:
            raise ValueError(f"cannot draw randomness from the future ({epoch} > {now})")
        raw = base64.b64decode(entropy) if entropy else b""
        return base64.b64encode(net.randomness(tag, epoch, raw)).decode()
    if name == "MpoolPushMessage":
        return net.push(params[0], params[1] if len(params) > 1 else None).to_json()
    if name == "MpoolPush":
        return {"/": net.push_signed(SignedMessage.from_json(params[0]))}
    if name == "MpoolGetNonce":
        return net.mpool.next_nonce(params[0])
    if name == "GasEstimateMessageGas":
        spec = params[1] or {}
        max_fee = int(spec["MaxFee"]) if spec.get("MaxFee") not in (None, "") else None
        msg = Message.from_json(params[0])
        net.mpool.account(msg.sender)  # Lotus cannot estimate for an unknown sender
        return net.mpool.estimate(msg, max_fee, bool(spec.get("MaximizeFeeCap"))).to_json()
    if name == "WalletHas":
        return net.mpool.wallet_has(params[0])
    if name == "WalletBalance":
        try:
            return str(net.mpool.account(params[0]).balance)
        except KeyError:
            return "0"  # Lotus: an address with no actor has nothing
    if name == "WalletSignMessage":
        signed = net.mpool.sign(params[0], Message.from_json(params[1]))
        return signed.to_json()
    if name == "StateLookupID":
        return net.mpool.account(params[0]).id_address
    if name == "StateAccountKey":
        return net.mpool.account(params[0]).key_address
    if name == "StateSearchMsg":
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
    m = net.miner(params[0])
    if name == "StateMinerInfo":
        pt = PoStProofType.from_chain_id(m.proof_type)
        return {
            "Owner": net.worker_address,
            "Worker": net.worker_address,
            "ControlAddresses": list(m.control_addresses),
            "SectorSize": pt.sector_size,
            "WindowPoStProofType": m.proof_type,
            "WindowPoStPartitionSectors": pt.partition_sectors,
        }
    if name == "StateMinerProvingDeadline":
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
    if name == "StateMinerPartitions":
        out = []
        for sectors in m.deadlines.get(int(params[1]), []):
            s = set(sectors)
            out.append(
                {
                    "AllSectors": bitfield_to_json(s),
                    "FaultySectors": bitfield_to_json(s & m.faulty),
                    "RecoveringSectors": bitfield_to_json(s & m.recovering),
                    "LiveSectors": bitfield_to_json(s),
                    "ActiveSectors": bitfield_to_json(s - m.faulty),
                }
            )
        return out
    if name == "StateMinerSectors":
        wanted = None if params[1] is None else bitfield_from_json(params[1])
        return [
            {
                "SectorNumber": n,
                "SealProof": m.proof_type - 5,  # StackedDrg*V1_1
                "SealedCID": {"/": _sealed_cid(c)},
                "SectorKeyCID": (
                    {"/": _sealed_cid(m.sector_keys[n])} if n in m.sector_keys else None
                ),
            }
            for n, c in sorted(m.comm_r.items())
            if wanted is None or n in wanted
        ]
    raise KeyError(f"method {method} not supported by the devnet")
