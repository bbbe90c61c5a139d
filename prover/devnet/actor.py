"""The devnet's chain: one or more miner actors on a wall clock.

It behaves like the miner actor where WindowPoSt is concerned: epochs tick
from a genesis time at ``policy.epoch_seconds``; randomness is derived
deterministically from (tag, epoch, entropy); ``SubmitWindowedPoSt`` is
decoded and refused for a closed deadline, a wrong proof type, bad commit
randomness, unknown or already proven partitions, or a proof that the chain
verifier (the proof core) rejects; a partition left unproven at Close has
its sectors marked faulty; ``DeclareFaultsRecovered`` marks sectors
recovering, and they are healed once proven. A proof it has no verifying
key for (a placeholder miner's, ``placeholders.py``) is refused too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prover.chain.deadlines import DeadlineInfo, Policy, current_deadline, deadline_info
from prover.chain.encoding import (
    METHOD_DECLARE_FAULTS_RECOVERED,
    METHOD_SUBMIT_WINDOWED_POST,
    decode_declare_faults_recovered,
    decode_submit_windowed_post,
    id_address_cbor,
)
from prover.chain.lotus import TAG_POST_CHAIN_COMMIT, TAG_WINDOWED_POST_CHALLENGE_SEED
from prover.proofs import (
    ParametersMissing,
    PoStProofType,
    mask_randomness,
    prover_id,
    verify_window_post,
)

EXIT_OK = 0
EXIT_ILLEGAL_ARGUMENT = 16
EXIT_NOT_FOUND = 17


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


@dataclass
class DevnetMessage:
    cid: str
    sender: str
    to: str
    method: int
    height: int
    exit_code: int
    reason: str
    pushed_at: float = 0.0  # the devnet's clock when the message came in


class Devnet:
    def __init__(
        self,
        miners: list[DevnetMiner],
        policy: Policy,
        *,
        genesis: float | None = None,
        clock: Callable[[], float] = time.time,
        worker_address: str = "t0100",
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

    # ---- time and randomness -------------------------------------------------

    def epoch(self) -> int:
        return max(0, int((self.clock() - self.genesis) // self.policy.epoch_seconds))

    def tipset(self, epoch: int) -> dict:
        return {"Cids": [{"/": f"bafy2devnet{epoch:012d}"}], "Blocks": [], "Height": epoch}

    @staticmethod
    def randomness(tag: int, epoch: int, entropy: bytes) -> bytes:
        return hashlib.sha256(
            b"prover-devnet"
            + tag.to_bytes(8, "big")
            + epoch.to_bytes(8, "big", signed=True)
            + entropy
        ).digest()

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
            for m in self.miners.values():
                dl = self.deadline_of(m, max(0, self._settled_epoch))
                while dl.close <= now:
                    if dl.close > self._settled_epoch and dl.index in m.deadlines:
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
                                    }
                                )
                    dl = dl.next()
            self._settled_epoch = now

    # ---- messages ------------------------------------------------------------------

    def push(self, msg: dict) -> str:
        with self._lock:
            self.settle()
            now = self.epoch()
            params = base64.b64decode(msg.get("Params") or "")
            digest = hashlib.sha256(
                json.dumps(msg, sort_keys=True).encode()
                + now.to_bytes(8, "big")
                + len(self.messages).to_bytes(8, "big")
            )
            cid = "bafy2devnetmsg" + digest.hexdigest()[:40]
            if self.drop_next > 0:
                self.drop_next -= 1
                return cid  # never lands: StateSearchMsg will not find it
            try:
                m = self.miner(msg["To"])
                method = int(msg["Method"])
                if method == METHOD_SUBMIT_WINDOWED_POST:
                    code, reason = self._submit_post(m, params, now)
                elif method == METHOD_DECLARE_FAULTS_RECOVERED:
                    code, reason = self._declare_recovered(m, params, now)
                else:
                    code, reason = EXIT_ILLEGAL_ARGUMENT, f"method {method} not supported"
            except KeyError as exc:
                code, reason = EXIT_NOT_FOUND, str(exc)
            except ValueError as exc:
                code, reason = EXIT_ILLEGAL_ARGUMENT, f"bad params: {exc}"
            except ParametersMissing as exc:
                # a proof this machine cannot check (a placeholder miner's
                # 32GiB, say) is refused, never taken on trust
                code, reason = EXIT_ILLEGAL_ARGUMENT, f"proof cannot be verified here: {exc}"
            self.messages[cid] = DevnetMessage(
                cid,
                msg.get("From", ""),
                msg.get("To", ""),
                int(msg.get("Method", 0)),
                now + 1,
                code,
                reason,
                self.clock(),
            )
            return cid

    def _submit_post(self, m: DevnetMiner, raw: bytes, now: int) -> tuple[int, str]:
        p = decode_submit_windowed_post(raw)
        dl = self.deadline_of(m, now)
        if p.deadline != dl.index or not dl.is_open():
            return EXIT_ILLEGAL_ARGUMENT, f"deadline {p.deadline} is not open (current {dl.index})"
        if p.proof_chain_id != m.proof_type:
            return EXIT_ILLEGAL_ARGUMENT, (
                f"proof type {p.proof_chain_id} is not the miner's {m.proof_type}"
            )
        if not dl.challenge <= p.commit_epoch < now:
            return EXIT_ILLEGAL_ARGUMENT, f"commit epoch {p.commit_epoch} out of range"
        if p.commit_rand != self.randomness(TAG_POST_CHAIN_COMMIT, p.commit_epoch, b""):
            return EXIT_ILLEGAL_ARGUMENT, "commit randomness does not match the chain"
        partitions = m.deadlines.get(dl.index, [])
        proven = m.proven.setdefault((dl.period_start, dl.index), set())
        public: dict[int, bytes] = {}
        for index, skipped in p.partitions:
            if not 0 <= index < len(partitions):
                return EXIT_ILLEGAL_ARGUMENT, f"no partition {index} in deadline {dl.index}"
            if index in proven:
                return EXIT_ILLEGAL_ARGUMENT, f"partition {index} already proven"
            sectors = set(partitions[index])
            if skipped - sectors:
                return EXIT_ILLEGAL_ARGUMENT, f"skipped sectors {sorted(skipped - sectors)} unknown"
            for n in ((sectors - m.faulty) | (sectors & m.recovering)) - skipped:
                public[n] = m.comm_r[n]
        if not public:
            return EXIT_ILLEGAL_ARGUMENT, "nothing to prove"
        seed = self.randomness(
            TAG_WINDOWED_POST_CHALLENGE_SEED, dl.challenge, id_address_cbor(m.actor_id)
        )
        ok = verify_window_post(
            PoStProofType.from_chain_id(m.proof_type),
            mask_randomness(seed),
            prover_id(m.actor_id),
            sorted(public.items()),
            p.proof,
        )
        if not ok:
            return EXIT_ILLEGAL_ARGUMENT, "invalid proof"
        for index, skipped in p.partitions:
            proven.add(index)
            sectors = set(partitions[index])
            m.faulty |= skipped
            healed = (sectors & m.recovering) - skipped
            m.faulty -= healed
            m.recovering -= healed
        return EXIT_OK, "proven"

    def _declare_recovered(self, m: DevnetMiner, raw: bytes, now: int) -> tuple[int, str]:
        for deadline, partition, sectors in decode_declare_faults_recovered(raw):
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
            "miners": [
                {
                    "actor_id": m.actor_id,
                    "proof_type": m.proof_type,
                    "period_offset": m.period_offset,
                    "deadlines": {str(d): parts for d, parts in m.deadlines.items()},
                    "comm_r": {str(n): c.hex() for n, c in m.comm_r.items()},
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
            )
            for m in data["miners"]
        ]
        return cls(
            miners,
            policy,
            clock=clock,
            genesis=None if restart else data["genesis"],
            worker_address=data.get("worker_address", "t0100"),
        )

    def status(self) -> dict:
        """Per miner and deadline: partitions proven, missed, faulty sectors;
        and every message with its outcome."""
        self.settle()
        now = self.epoch()
        out = {"epoch": now, "miners": [], "messages": []}
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
                }
            )
        out["messages"] = [
            {
                "cid": msg.cid,
                "to": msg.to,
                "method": msg.method,
                "epoch": msg.height,
                "exit_code": msg.exit_code,
                "reason": msg.reason,
            }
            for msg in self.messages.values()
        ]
        return out
