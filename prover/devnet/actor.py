"""The devnet's chain: one or more miner actors on a wall clock.

It behaves like the miner actor where WindowPoSt is concerned: epochs tick
from a genesis time at ``policy.epoch_seconds``; randomness is derived
deterministically from (tag, epoch, entropy); ``SubmitWindowedPoSt`` is
decoded and refused for a closed deadline, a wrong proof type, a proof
longer than 192 bytes a partition, bad commit randomness, unknown or already
proven partitions; a partition left unproven at Close has its sectors marked
faulty; ``DeclareFaultsRecovered`` marks sectors recovering (refused beyond
the actor's 3000 declarations or 25,000 sectors a message), and they are
healed once proven.

Proofs are checked as the actor checks them (builtin-actors
``submit_windowed_post``): a PoSt that recovers power (it proves sectors
declared recovered) is verified at once with the chain's verifier (the proof
core; a snap-upgraded sector against its new comm_r, so a proof from its old
sealed file is refused), and an invalid one is refused ("invalid post was
submitted", 16). Any other PoSt is accepted *optimistically*, without
verifying its SNARK, and kept with its deadline for dispute.
``DisputeWindowedPoSt`` (method 24, from any account; ``[Deadline,
PoStIndex]``) may dispute one such PoSt of a deadline's last turn once it has
closed and for ``WPOST_DISPUTE_WINDOW`` epochs after (never while the
deadline is open again: ``dispute_available``, else exit 18, forbidden): the
PoSt is verified again; a valid one is refused ("failed to dispute valid
post", 16) and stays disputable, an index with no PoSt is refused ("proof N
not found", 16), and an invalid one is taken: its partitions' sectors become
faulty, the penalty is recorded (``disputes``: the actor's base penalty and
the disputer's reward; the devnet models no block reward, so no more) and
the reward paid to the disputer's account. A proof it has no verifying key
for (a placeholder miner's, ``placeholders.py``) is accepted optimistically
like any other; verifying one (a recovery, a dispute) is refused.

Parameters that do not deserialize (not CBOR, another shape, or a bitfield
the actor's decoder refuses: a non-canonical RLE+ encoding, a trailing zero
byte or run of zeros, a run in a longer block than it needs, ...;
``ParamsNotDeserializable``) fail as they fail on chain: the
actor's dispatch deserializes them before the method runs and exits with
USR_SERIALIZATION (21), and nothing else happens.

A PoSt for a partition already proven in its deadline is refused as the
actor refuses it (``Deadline::record_proven_sectors``: exit code 16, "partition
already proven") and counted per miner in ``duplicate_posts``: on a chain a
duplicate costs its sender gas and proves nothing, so a prover whose managers
fail over must show none; tests assert that here.

Its running state (proven partitions, faults, misses, messages, the pool's
accounts, nonces and pending messages, the PoSts still disputable and the
disputes, the genesis) persists in
``state_path`` when set, as a node keeps its chain across a restart: saved
atomically after each included message and settled deadline and at
``save()``, loaded by ``load_state``; the clock goes on from the recorded
genesis, so deadlines that closed while it was down are processed (their
partitions marked faulty) at the first ``settle``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from prover.chain.deadlines import DeadlineInfo, Policy, current_deadline, deadline_info
from prover.chain.encoding import (
    ADDRESSED_SECTORS_MAX,
    DECLARATIONS_MAX,
    METHOD_DECLARE_FAULTS_RECOVERED,
    METHOD_DISPUTE_WINDOWED_POST,
    METHOD_SUBMIT_WINDOWED_POST,
    WPOST_DISPUTE_WINDOW,
    ParamsNotDeserializable,
    decode_declare_faults_recovered,
    decode_dispute_windowed_post,
    decode_submit_windowed_post,
    id_address_cbor,
)
from prover.chain.lotus import TAG_POST_CHAIN_COMMIT, TAG_WINDOWED_POST_CHALLENGE_SEED
from prover.chain.message import ATTO_PER_FIL, Message, SignedMessage
from prover.devnet.mpool import Mpool, message_cid
from prover.proofs import (
    ParametersMissing,
    PoStProofType,
    mask_randomness,
    prover_id,
    verify_window_post,
)

TIPSET_CID_PREFIX = "bafy2devnet"
EXIT_OK = 0
EXIT_ILLEGAL_ARGUMENT = 16
EXIT_NOT_FOUND = 17
EXIT_FORBIDDEN = 18
# USR_SERIALIZATION (fvm_shared ExitCode): parameters that do not deserialize
# (builtin-actors' dispatch turns the decoding error into it)
EXIT_SERIALIZATION = 21

# A WindowPoSt SNARK is 192 bytes a partition (every WindowPoSt proof type);
# the actor refuses a proof longer than that times the partitions.
PROOF_BYTES = 192
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


@dataclass
class DevnetMiner:
    actor_id: int
    proof_type: int  # chain id (V1_1)
    period_offset: int
    # deadline index -> partitions -> sector numbers
    deadlines: dict[int, list[list[int]]]
    comm_r: dict[int, bytes]
    faulty: set[int] = field(default_factory=set)
    recovering: set[int] = field(default_factory=set)
    # (period start, deadline) -> proven partition indexes
    proven: dict[tuple[int, int], set[int]] = field(default_factory=dict)
    misses: list[dict] = field(default_factory=list)
    # ID addresses the owner allowed to send its messages (StateMinerInfo)
    control_addresses: list[str] = field(default_factory=list)
    # snap-upgraded sectors: number -> the sector key's comm_r (SectorKeyCID);
    # ``comm_r`` holds their new one (SealedCID), as the actor keeps them
    sector_keys: dict[int, bytes] = field(default_factory=dict)
    # SubmitWindowedPoSt refused for a partition proven already in its
    # deadline: {period_start, deadline, partition, cid}, one per partition
    duplicate_posts: list[dict] = field(default_factory=list)
    # PoSts accepted optimistically (not verified), per (period start,
    # deadline) in the order accepted, as the actor keeps them for dispute:
    # {partitions, sectors (those proven), proof, cid}; None where one was
    # disputed (the actor deletes it from its array, leaving a hole). A turn's
    # list goes when the deadline closes again (the actor's snapshot moves on).
    optimistic: dict[tuple[int, int], list[dict | None]] = field(default_factory=dict)
    # disputes that succeeded against this miner: {period_start, deadline,
    # post_index, partitions, sectors, post_cid, cid, disputer, epoch,
    # penalty, reward}
    disputes: list[dict] = field(default_factory=list)


@dataclass
class DevnetMessage:
    cid: str
    sender: str
    to: str
    method: int
    height: int
    exit_code: int
    reason: str
    pushed_at: float = 0.0  # the devnet's clock when the message was included
    gas_used: int = 0
    params: bytes = b""  # as included (ChainGetMessage would show them)
    fee: int = 0  # attoFIL its sender paid (burnt and tipped)
    # the rest of the message as included, for ChainGetMessage (0 in a
    # chain saved before they were kept)
    nonce: int = 0
    value: int = 0
    gas_limit: int = 0
    gas_fee_cap: int = 0
    gas_premium: int = 0
    version: int = 0


class Devnet:
    def __init__(
        self,
        miners: list[DevnetMiner],
        policy: Policy,
        *,
        genesis: float | None = None,
        clock: Callable[[], float] = time.time,
        worker_address: str = "t0100",
        mpool: Mpool | None = None,
    ) -> None:
        self.policy = policy
        self.miners = {m.actor_id: m for m in miners}
        self.clock = clock
        self.genesis = clock() if genesis is None else genesis
        self.worker_address = worker_address
        self.messages: dict[str, DevnetMessage] = {}
        # Messages to lose as a reorg would: accepted by the mempool, never
        # included (tests and demos of resubmission set this).
        self.drop_next = 0
        self._lock = threading.RLock()
        self._settled_epoch = -1
        self.mpool = mpool or Mpool.default(worker_address)
        self.fork = b""  # which fork the chain is on (``reorg``)
        # epoch -> the base fee its messages were charged (its tipset's
        # ParentBaseFee), fixed when the epoch first includes a message
        self._base_fees: dict[int, int] = {}
        # where the running state is saved (``save``); None: kept in memory
        self.state_path: Path | None = None
        # the epoch the saved chain had reached when it stopped (None: new)
        self.stopped_epoch: int | None = None

    @property
    def state_lock(self) -> threading.RLock:
        """Held while the chain's state changes (messages, settling); the
        RPC holds it to answer from one consistent state."""
        return self._lock

    # ---- time and randomness -------------------------------------------------

    def epoch(self) -> int:
        return max(0, int((self.clock() - self.genesis) // self.policy.epoch_seconds))

    def tipset(self, epoch: int) -> dict:
        """The tipset at ``epoch`` in Lotus' JSON, one block: what the
        tracker reads of it is its key, height, parents and base fee."""
        return {
            "Cids": self._tipset_key(epoch),
            "Blocks": [
                {
                    "Miner": self.worker_address,
                    "Parents": self._tipset_key(epoch - 1) if epoch > 0 else [],
                    "ParentWeight": str(epoch),
                    "Height": epoch,
                    "Timestamp": int(self.genesis + epoch * self.policy.epoch_seconds),
                    "ParentBaseFee": str(self._base_fees.get(epoch, self.mpool.base_fee)),
                }
            ],
            "Height": epoch,
        }

    def _tipset_key(self, epoch: int) -> list[dict]:
        fork = self.fork.hex()[:8]  # another fork: other tipsets at the same heights
        return [{"/": f"{TIPSET_CID_PREFIX}{fork}{epoch:012d}"}]

    def tipset_by_key(self, key: list[dict]) -> dict:
        """``ChainGetTipSet``: a tipset of the current fork up to the head
        (one a reorg left behind is not found)."""
        (cid,) = [c["/"] for c in key] or [""]
        epoch = int(cid[-12:]) if cid[-12:].isdigit() else -1
        if not 0 <= epoch <= self.epoch() or self._tipset_key(epoch)[0]["/"] != cid:
            raise KeyError(f"tipset {cid or '(empty key)'} not found")
        return self.tipset(epoch)

    def randomness(self, tag: int, epoch: int, entropy: bytes) -> bytes:
        return hashlib.sha256(
            b"prover-devnet"
            + self.fork
            + tag.to_bytes(8, "big")
            + epoch.to_bytes(8, "big", signed=True)
            + entropy
        ).digest()

    def reorg(self) -> None:
        """Switches to another fork from genesis: every epoch's randomness
        changes (a challenge drawn before is not the chain's any more), as a
        reorg deeper than the challenge lookback would do."""
        with self._lock:
            self.fork = hashlib.sha256(b"fork" + self.fork).digest()

    def miner(self, address: str) -> DevnetMiner:
        if not address.startswith(("t0", "f0")) or not address[2:].isdigit():
            raise KeyError(f"not an ID address: {address}")
        actor = int(address[2:])
        if actor not in self.miners:
            raise KeyError(f"actor {address} not found")
        return self.miners[actor]

    def deadline_of(self, m: DevnetMiner, epoch: int) -> DeadlineInfo:
        return current_deadline(m.period_offset, epoch, self.policy)

    # ---- the actor's end-of-deadline processing ---------------------------------

    def settle(self) -> None:
        """Processes every deadline that closed since the last call: sectors
        of unproven partitions become faulty."""
        with self._lock:
            now = self.epoch()
            closed = False
            for m in self.miners.values():
                dl = self.deadline_of(m, max(0, self._settled_epoch))
                while dl.close <= now:
                    if dl.close > self._settled_epoch and dl.index in m.deadlines:
                        closed = True
                        proven = m.proven.get((dl.period_start, dl.index), set())
                        for p, sectors in enumerate(m.deadlines[dl.index]):
                            live = set(sectors) - (m.faulty - m.recovering)
                            if p not in proven and live:
                                m.faulty |= live
                                m.recovering -= live
                                m.misses.append(
                                    {
                                        "period_start": dl.period_start,
                                        "deadline": dl.index,
                                        "partition": p,
                                        "sectors": sorted(live),
                                        "close": dl.close,
                                    }
                                )
                    dl = dl.next()
                # a turn's disputable PoSts go when the deadline closes again
                period, window = self.policy.proving_period, self.policy.challenge_window
                for ps, d in [
                    k for k in m.optimistic if k[0] + (k[1] + 1) * window + period <= now
                ]:
                    del m.optimistic[(ps, d)]
            self._settled_epoch = now
            # what waited for the base fee, if it fell
            if self._include(now) or closed:
                self.save()

    # ---- messages ------------------------------------------------------------------

    def push(self, msg: dict, spec: dict | None = None) -> SignedMessage:
        """``MpoolPushMessage``: the node estimates gas (within the spec's
        MaxFee), takes the sender's next nonce, signs with the sender's key
        in its wallet and pushes."""
        with self._lock:
            message = Message.from_json(msg)
            sender = self.mpool.account(message.sender)
            if not sender.held:
                raise ValueError(f"key not found for {message.sender}")
            spec = spec or {}
            max_fee = int(spec["MaxFee"]) if spec.get("MaxFee") not in (None, "") else None
            message = self.mpool.estimate(message, max_fee, bool(spec.get("MaximizeFeeCap")))
            message = replace(message, nonce=self.mpool.next_nonce(message.sender))
            signed = self.mpool.sign(sender.key_address, message)
            return replace(signed, cid=self.push_signed(signed))

    def push_signed(self, signed: SignedMessage) -> str:
        """``MpoolPush``: the pool's checks (signature, nonce, funds,
        replace-by-fee), then the message waits for a block whose base fee
        its fee cap pays; while the base fee allows, that is the next one."""
        with self._lock:
            self.settle()
            now = self.epoch()
            cid = message_cid(signed.message)
            self.mpool.check(signed, cid)
            if self.drop_next > 0:
                self.drop_next -= 1
                return cid  # never lands: StateSearchMsg will not find it
            self.mpool.add(signed, cid, now)
            self._include(now)
            self.save()  # included, or pending with its nonce taken
            return cid

    def _include(self, now: int) -> bool:
        """Executes every message the pool can include at ``now``; they land
        in the next epoch, as a block at ``now`` would carry them. True when
        some were."""
        base_fee = self._base_fees.get(now, self.mpool.base_fee)
        included = self.mpool.includable(base_fee)
        if included:  # this epoch's tipset now has its base fee
            self._base_fees[now] = base_fee
        for p in included:
            used, fee = self.mpool.charge(p, base_fee)
            code, reason = self._execute(p.signed.message, now, p.cid)
            msg = p.signed.message
            self.messages[p.cid] = DevnetMessage(
                p.cid,
                msg.sender,
                msg.to,
                msg.method,
                now + 1,
                code,
                reason,
                self.clock(),
                used,
                msg.params,
                fee,
                nonce=msg.nonce,
                value=msg.value,
                gas_limit=msg.gas_limit,
                gas_fee_cap=msg.gas_fee_cap,
                gas_premium=msg.gas_premium,
                version=msg.version,
            )
        return bool(included)

    def _execute(self, msg: Message, now: int, cid: str) -> tuple[int, str]:
        try:
            m = self.miner(msg.to)
            if msg.method == METHOD_SUBMIT_WINDOWED_POST:
                return self._submit_post(m, msg.params, now, cid)
            if msg.method == METHOD_DECLARE_FAULTS_RECOVERED:
                return self._declare_recovered(m, msg.params, now)
            if msg.method == METHOD_DISPUTE_WINDOWED_POST:
                return self._dispute_post(m, msg.params, now, msg.sender, cid)
            return EXIT_ILLEGAL_ARGUMENT, f"method {msg.method} not supported"
        except KeyError as exc:
            return EXIT_NOT_FOUND, str(exc)
        except ParamsNotDeserializable as exc:
            # raised while decoding the parameters, before anything changes,
            # as the actor's dispatch fails before its method runs (a
            # bitfield its decoder refuses is one such case)
            return EXIT_SERIALIZATION, f"failed to deserialize params: {exc}"
        except ValueError as exc:
            return EXIT_ILLEGAL_ARGUMENT, f"bad params: {exc}"
        except ParametersMissing as exc:
            # a proof this machine cannot check (a placeholder miner's
            # 32GiB, say) is refused, never taken on trust
            return EXIT_ILLEGAL_ARGUMENT, f"proof cannot be verified here: {exc}"

    def lookup(self, cid: str, allow_replaced: bool) -> DevnetMessage | None:
        """``StateSearchMsg``: the landed message, or with ``allow_replaced``
        the one that replaced it by fee; None while it is pending."""
        final = self.mpool.resolve(cid) if allow_replaced else cid
        found = self.messages.get(final)
        return found if found is not None and found.height <= self.epoch() else None

    def _submit_post(self, m: DevnetMiner, raw: bytes, now: int, cid: str) -> tuple[int, str]:
        p = decode_submit_windowed_post(raw)
        dl = self.deadline_of(m, now)
        if p.deadline != dl.index or not dl.is_open():
            return EXIT_ILLEGAL_ARGUMENT, f"deadline {p.deadline} is not open (current {dl.index})"
        if p.proof_chain_id != m.proof_type:
            return EXIT_ILLEGAL_ARGUMENT, (
                f"proof type {p.proof_chain_id} is not the miner's {m.proof_type}"
            )
        if len(p.proof) > PROOF_BYTES * len(p.partitions):
            return EXIT_ILLEGAL_ARGUMENT, (
                f"expected proof to be smaller than {PROOF_BYTES * len(p.partitions)} bytes"
            )
        if not dl.challenge <= p.commit_epoch < now:
            return EXIT_ILLEGAL_ARGUMENT, f"commit epoch {p.commit_epoch} out of range"
        if p.commit_rand != self.randomness(TAG_POST_CHAIN_COMMIT, p.commit_epoch, b""):
            return EXIT_ILLEGAL_ARGUMENT, "commit randomness does not match the chain"
        partitions = m.deadlines.get(dl.index, [])
        proven = m.proven.setdefault((dl.period_start, dl.index), set())
        # record_proven_sectors' order: a partition twice in the message, then
        # any proven already (all at once, as a bitfield), before any is read
        indexes = [index for index, _ in p.partitions]
        failed = f"failed to process post submission for deadline {dl.index}"
        if len(set(indexes)) != len(indexes):
            return EXIT_ILLEGAL_ARGUMENT, f"{failed}: duplicate partitions proven"
        again = sorted(set(indexes) & proven)
        if again:
            m.duplicate_posts += [
                {"period_start": dl.period_start, "deadline": dl.index, "partition": i, "cid": cid}
                for i in again
            ]
            return EXIT_ILLEGAL_ARGUMENT, (
                f"{failed}: partition already proven: {bitfield_debug(again)}"
            )
        public: dict[int, bytes] = {}
        for index, skipped in p.partitions:
            if not 0 <= index < len(partitions):
                return EXIT_ILLEGAL_ARGUMENT, f"no partition {index} in deadline {dl.index}"
            sectors = set(partitions[index])
            if skipped - sectors:
                return EXIT_ILLEGAL_ARGUMENT, f"skipped sectors {sorted(skipped - sectors)} unknown"
            for n in ((sectors - m.faulty) | (sectors & m.recovering)) - skipped:
                public[n] = m.comm_r[n]
        if not public:
            return EXIT_ILLEGAL_ARGUMENT, "cannot prove partitions with no active sectors"
        recovers = any(
            (set(partitions[index]) & m.recovering) - skipped for index, skipped in p.partitions
        )
        if recovers:  # recovered power: verified at once
            if not self._verifies(m, dl.challenge, public, p.proof):
                return EXIT_ILLEGAL_ARGUMENT, "invalid post was submitted"
        else:  # recorded for optimistic verification: disputable once closed
            m.optimistic.setdefault((dl.period_start, dl.index), []).append(
                {
                    "partitions": sorted(index for index, _ in p.partitions),
                    "sectors": sorted(public),
                    "proof": p.proof,
                    "cid": cid,
                }
            )
        for index, skipped in p.partitions:
            proven.add(index)
            sectors = set(partitions[index])
            m.faulty |= skipped
            healed = (sectors & m.recovering) - skipped
            m.faulty -= healed
            m.recovering -= healed
        return EXIT_OK, "proven" if recovers else "accepted optimistically"

    def _verifies(
        self, m: DevnetMiner, challenge: int, public: dict[int, bytes], proof: bytes
    ) -> bool:
        """The chain's verifier over ``public`` (sector number -> comm_r)."""
        seed = self.randomness(
            TAG_WINDOWED_POST_CHALLENGE_SEED, challenge, id_address_cbor(m.actor_id)
        )
        return verify_window_post(
            PoStProofType.from_chain_id(m.proof_type),
            mask_randomness(seed),
            prover_id(m.actor_id),
            sorted(public.items()),
            proof,
        )

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

    def _declare_recovered(self, m: DevnetMiner, raw: bytes, now: int) -> tuple[int, str]:
        declared = decode_declare_faults_recovered(raw)
        # the actor's limits on one message (DeclarationsMax, AddressedSectorsMax)
        if len(declared) > DECLARATIONS_MAX:
            return EXIT_ILLEGAL_ARGUMENT, (
                f"too many recovery declarations for a single message: "
                f"{len(declared)} > {DECLARATIONS_MAX}"
            )
        if sum(len(s) for _, _, s in declared) > ADDRESSED_SECTORS_MAX:
            return EXIT_ILLEGAL_ARGUMENT, "cannot process requested parameters: too many sectors"
        for deadline, partition, sectors in declared:
            parts = m.deadlines.get(deadline, [])
            if not 0 <= partition < len(parts) or sectors - set(parts[partition]):
                return EXIT_ILLEGAL_ARGUMENT, f"no such sectors in {deadline}/{partition}"
            dl = deadline_info(self.deadline_of(m, now).period_start, deadline, now, self.policy)
            if dl.fault_cutoff_passed() and not dl.has_elapsed():
                return EXIT_ILLEGAL_ARGUMENT, f"fault cutoff of deadline {deadline} has passed"
            m.recovering |= sectors & m.faulty
        return EXIT_OK, "declared"

    # ---- persistence and status -------------------------------------------------------

    def to_json(self) -> dict:
        """The devnet's set-up (not its running state): policy, genesis, miners."""
        return {
            "policy": {
                "epoch_seconds": self.policy.epoch_seconds,
                "challenge_window": self.policy.challenge_window,
                "challenge_lookback": self.policy.challenge_lookback,
                "fault_declaration_cutoff": self.policy.fault_declaration_cutoff,
                "period_deadlines": self.policy.period_deadlines,
            },
            "genesis": self.genesis,
            "worker_address": self.worker_address,
            "accounts": self.mpool.to_json(),
            "miners": [
                {
                    "actor_id": m.actor_id,
                    "proof_type": m.proof_type,
                    "period_offset": m.period_offset,
                    "deadlines": {str(d): parts for d, parts in m.deadlines.items()},
                    "comm_r": {str(n): c.hex() for n, c in m.comm_r.items()},
                    "control_addresses": m.control_addresses,
                    "sector_keys": {str(n): c.hex() for n, c in m.sector_keys.items()},
                }
                for m in self.miners.values()
            ],
        }

    @classmethod
    def from_json(
        cls, data: dict, *, clock: Callable[[], float] = time.time, restart: bool = True
    ) -> Devnet:
        """A devnet from its set-up; ``restart`` starts the chain anew now."""
        policy = Policy.devnet(**data["policy"])
        miners = [
            DevnetMiner(
                actor_id=m["actor_id"],
                proof_type=m["proof_type"],
                period_offset=m["period_offset"],
                deadlines={int(d): parts for d, parts in m["deadlines"].items()},
                comm_r={int(n): bytes.fromhex(c) for n, c in m["comm_r"].items()},
                control_addresses=list(m.get("control_addresses", [])),
                sector_keys={int(n): bytes.fromhex(c) for n, c in m.get("sector_keys", {}).items()},
            )
            for m in data["miners"]
        ]
        return cls(
            miners,
            policy,
            clock=clock,
            genesis=None if restart else data["genesis"],
            worker_address=data.get("worker_address", "t0100"),
            mpool=Mpool.from_json(data["accounts"]) if data.get("accounts") else None,
        )

    def state_json(self) -> dict:
        """The running state (what ``to_json`` leaves out): the genesis the
        clock counts from, the settled epoch, per miner its proven
        partitions, faults, recoveries and misses, every message included
        and the pool."""
        with self._lock:
            return {
                "genesis": self.genesis,
                "epoch": self.epoch(),
                "settled_epoch": self._settled_epoch,
                "fork": self.fork.hex(),
                "base_fees": {str(e): str(f) for e, f in self._base_fees.items()},
                "miners": [
                    {
                        "actor_id": m.actor_id,
                        "faulty": sorted(m.faulty),
                        "recovering": sorted(m.recovering),
                        "proven": [[ps, d, sorted(p)] for (ps, d), p in m.proven.items()],
                        "misses": m.misses,
                        "duplicate_posts": m.duplicate_posts,
                        "optimistic": [
                            [ps, d, [_post_json(post) for post in posts]]
                            for (ps, d), posts in m.optimistic.items()
                        ],
                        "disputes": m.disputes,
                    }
                    for m in self.miners.values()
                ],
                "messages": [
                    {**asdict(msg), "params": msg.params.hex(), "fee": str(msg.fee)}
                    for msg in self.messages.values()
                ],
                "mpool": self.mpool.state_json(),
            }

    def load_state(self, data: dict) -> None:
        """Goes on from a saved running state (``state_json``)."""
        with self._lock:
            self.genesis = float(data["genesis"])
            self.stopped_epoch = int(data["epoch"])
            self._settled_epoch = int(data["settled_epoch"])
            self.fork = bytes.fromhex(data["fork"])
            self._base_fees = {int(e): int(f) for e, f in data["base_fees"].items()}
            for row in data["miners"]:
                m = self.miners[int(row["actor_id"])]
                m.faulty, m.recovering = set(row["faulty"]), set(row["recovering"])
                m.proven = {(ps, d): set(p) for ps, d, p in row["proven"]}
                m.misses = list(row["misses"])
                # absent from a chain saved before duplicates were counted
                m.duplicate_posts = list(row.get("duplicate_posts", []))
                # absent from a chain saved before PoSts were accepted optimistically
                m.optimistic = {
                    (ps, d): [_post_of_json(post) for post in posts]
                    for ps, d, posts in row.get("optimistic", [])
                }
                m.disputes = list(row.get("disputes", []))
            self.messages = {
                row["cid"]: DevnetMessage(
                    **{**row, "params": bytes.fromhex(row["params"]), "fee": int(row["fee"])}
                )
                for row in data["messages"]
            }
            self.mpool = Mpool.from_state(data["mpool"])

    def save(self) -> None:
        """Writes the running state to ``state_path`` (if set) atomically:
        a temporary file, then a rename over the old one."""
        if self.state_path is None:
            return
        with self._lock:
            tmp = self.state_path.with_name(self.state_path.name + ".tmp")
            tmp.write_text(json.dumps(self.state_json()))
            os.replace(tmp, self.state_path)

    def status(self) -> dict:
        """Per miner and deadline: partitions proven, missed, faulty sectors,
        PoSts refused as duplicates (``duplicate_posts``, also summed over
        the miners at the top); and every message with its outcome."""
        with self._lock:  # one state: messages land from the RPC threads
            return self._status()

    def _status(self) -> dict:
        self.settle()
        now = self.epoch()
        out = {
            "epoch": now,
            "genesis": self.genesis,
            "stopped_epoch": self.stopped_epoch,
            "challenge_window": self.policy.challenge_window,
            "period_deadlines": self.policy.period_deadlines,
            "miners": [],
            "messages": [],
        }
        for m in self.miners.values():
            dl = self.deadline_of(m, now)
            deadlines = []
            for index, parts in sorted(m.deadlines.items()):
                info = deadline_info(dl.period_start, index, now, self.policy)
                sectors = {n for p in parts for n in p}
                deadlines.append(
                    {
                        "deadline": index,
                        "open": info.open,
                        "close": info.close,
                        "partitions": len(parts),
                        "proven": sorted(m.proven.get((dl.period_start, index), set())),
                        "faulty": sorted(sectors & m.faulty),
                        "recovering": sorted(sectors & m.recovering),
                    }
                )
            out["miners"].append(
                {
                    "actor_id": m.actor_id,
                    "current_deadline": dl.index,
                    "period_start": dl.period_start,
                    "deadlines": deadlines,
                    "misses": m.misses,
                    "duplicate_posts": len(m.duplicate_posts),
                    "duplicates": list(m.duplicate_posts),
                    "disputes": list(m.disputes),
                }
            )
        out["duplicate_posts"] = sum(m["duplicate_posts"] for m in out["miners"])
        out["messages"] = [
            {
                "cid": msg.cid,
                "to": msg.to,
                "method": msg.method,
                "epoch": msg.height,
                "exit_code": msg.exit_code,
                "reason": msg.reason,
                "fee": str(msg.fee),
            }
            for msg in self.messages.values()
        ]
        out["pending"] = len(self.mpool.pending)
        return out


def _post_json(post: dict | None) -> dict | None:
    return None if post is None else {**post, "proof": post["proof"].hex()}


def _post_of_json(post: dict | None) -> dict | None:
    return None if post is None else {**post, "proof": bytes.fromhex(post["proof"])}


def bitfield_debug(bits: list[int]) -> str:
    """A set of indexes as the actor's error messages print a bitfield
    (``fvm_ipld_bitfield::BitField``'s derived ``Debug``: runs as half-open
    ranges), so a refusal reads as it would on chain."""
    runs: list[list[int]] = []
    for b in sorted(set(bits)):
        if runs and runs[-1][1] == b:
            runs[-1][1] = b + 1
        else:
            runs.append([b, b + 1])
    ranges = ", ".join(f"{a}..{b}" for a, b in runs)
    return f"BitField {{ ranges: [{ranges}], set: {{}}, unset: {{}} }}"
