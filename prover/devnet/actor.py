"""The devnet's chain: one or more miner actors on a wall clock.

It behaves like the miner actor where WindowPoSt is concerned: epochs tick
from a genesis time at ``policy.epoch_seconds``; randomness is derived
deterministically from (tag, epoch, entropy); ``SubmitWindowedPoSt`` is
decoded and refused for a closed deadline, a wrong proof type, more
partitions than one message may prove, a proof longer than 192 bytes a
partition, bad commit randomness, unknown or already
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

``Devnet`` here is the chain's clock, randomness and tipsets and the
messages' way in (``push``, inclusion, dispatch to the actor's methods);
the actor's methods and the rest are parts of it, a module each:
``posts`` (``SubmitWindowedPoSt``), ``faults`` (end-of-deadline faults,
``DeclareFaultsRecovered``), ``disputes`` (``DisputeWindowedPoSt``),
``persistence`` (set-up and running state), ``status`` (``DevnetStatus``);
``state`` holds the miners' and messages' records.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from prover.chain.deadlines import DeadlineInfo, Policy, current_deadline
from prover.chain.encoding import (
    METHOD_DECLARE_FAULTS_RECOVERED,
    METHOD_DISPUTE_WINDOWED_POST,
    METHOD_SUBMIT_WINDOWED_POST,
    ParamsNotDeserializable,
)
from prover.chain.message import Message, SignedMessage
from prover.devnet.disputes import Disputes
from prover.devnet.faults import Faults
from prover.devnet.mpool import Mpool, message_cid
from prover.devnet.persistence import Persistence
from prover.devnet.posts import PoStChecks
from prover.devnet.state import (
    EXIT_ILLEGAL_ARGUMENT,
    EXIT_NOT_FOUND,
    EXIT_SERIALIZATION,
    DevnetMessage,
    DevnetMiner,
)
from prover.devnet.status import StatusReport
from prover.proofs import ParametersMissing

TIPSET_CID_PREFIX = "bafy2devnet"


class Devnet(Faults, PoStChecks, Disputes, Persistence, StatusReport):
    """The chain with its miner actors, on a wall clock (``clock``)."""

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
