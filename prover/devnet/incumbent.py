"""The incumbent: an existing prover inside the devnet, standing in for the
lotus-miner or Curio that proves a miner today. A manager in shadow mode
follows such a miner, proves every deadline itself without sending, and at
each Close compares with what the chain shows; on a devnet, the incumbent is
who the chain shows.

It proves for real, the way the tests do: each partition's sectors from the
devnet's store (``load_test_sectors``), the challenge drawn from the chain,
the SNARK by the proof core, signed and pushed through the devnet's mpool
from its own funded account (``t0101``, one of each miner's control
addresses), so the pool's rules hold for it too (nonce, balance, gas). It
calls the devnet in process, never over its RPC: its pushes are not in
``rpc_calls``.

How it packs a deadline's partitions into ``SubmitWindowedPoSt`` messages
is the difference an SP sees between the two systems it stands in for, so
both are here: by default one partition a message (as Curio sends them);
with ``batch`` as lotus-miner does, several partitions a message, up to its
MaxPartitionsPerPoStMessage and never more than the actor takes
(``partitions_max``), their proofs merged. Partitions merge only as the
chain's verifier re-chunks them (full, no skipped sector, sectors ascending
across them, the rule the Submitter follows too), so one that is not goes
in a message of its own.

Each epoch (a thread of the process that serves the devnet), for each miner
and for the open deadline and the next one once its challenge is reached, it
proves what is left to prove (off the chain's lock) and pushes each
message once, at Open, or with ``late`` when the deadline is ``late``
epochs from Close (0: at Close, too late: refused and missed); with
``spread`` the deadline's messages go an epoch apart, so its partitions
land at different epochs. Single partitions can be told to fail, each in a
message of its own so the rest of the deadline still lands:
``late_partitions`` are pushed at Close (refused: the deadline is no longer
open), ``refused_partitions`` carry chain-commit randomness that is not the
chain's (refused at once, exit 16). That is what a shadow manager must
judge right whichever message carried a partition. It never proves a
deadline index in ``miss``, nor every ``miss_every``-th of the miner's
deadlines that hold partitions. What it pushed is on chain: after a
restart it pushes nothing for a partition proven already or already in one
of its messages. Each push and each skip is logged and kept for
``DevnetStatus`` (``incumbent``).

Its options live in the devnet's set-up (``devnet.json``, key
``incumbent``): ``prover devnet init --incumbent [--incumbent-miss 5,11]
[--incumbent-miss-every N] [--incumbent-late E] [--incumbent-batch [N]]
[--incumbent-spread] [--incumbent-late-partition D/P,...]
[--incumbent-refused-partition D/P,...]``; off by default.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.chain.deadlines import DeadlineInfo
from prover.chain.encoding import (
    METHOD_SUBMIT_WINDOWED_POST,
    ParamsNotDeserializable,
    decode_submit_windowed_post,
    encode_submit_windowed_post,
    id_address_cbor,
)
from prover.chain.lotus import TAG_POST_CHAIN_COMMIT, TAG_WINDOWED_POST_CHALLENGE_SEED
from prover.chain.message import ATTO_PER_FIL, Message
from prover.devnet.actor import Devnet
from prover.devnet.mpool import Account, key_address_for
from prover.devnet.posts import partitions_max
from prover.devnet.state import DevnetMiner
from prover.logs import get_logger
from prover.proofs import (
    PoStProofType,
    ProofError,
    SectorReplica,
    load_test_sectors,
    mask_randomness,
    merge_partition_proofs,
    prove_partition,
    prover_id,
)

log = get_logger("prover.devnet.incumbent")

INCUMBENT_SENDER = "t0101"
INCUMBENT_FUNDS = 1000 * ATTO_PER_FIL
# pushes and skips kept for DevnetStatus
HISTORY = 500


# (deadline index, partition index): a partition in every proving period
Slot = tuple[int, int]


@dataclass(frozen=True)
class IncumbentConfig:
    """``enabled``: the incumbent runs; ``miss``: deadline indexes it never
    proves; ``miss_every``: it misses every Nth of a miner's deadlines that
    hold partitions (counted from the chain's first proving period, so a
    restart keeps the rhythm; 0: none); ``late``: it pushes when the
    deadline is this many epochs from Close (None: at Open); ``batch``:
    partitions a message as lotus-miner's MaxPartitionsPerPoStMessage reads
    (None: one a message, as Curio; 0: as many as the actor takes; N: at
    most N, and never more than the actor takes); ``spread``: a deadline's
    messages go an epoch apart; ``late_partitions``/``refused_partitions``:
    (deadline, partition) pairs that go alone, pushed at Close / refused by
    the actor (see the module docstring); ``sender``: the account it sends
    from."""

    enabled: bool = False
    miss: tuple[int, ...] = ()
    miss_every: int = 0
    late: int | None = None
    batch: int | None = None
    spread: bool = False
    late_partitions: tuple[Slot, ...] = ()
    refused_partitions: tuple[Slot, ...] = ()
    sender: str = INCUMBENT_SENDER

    def __post_init__(self) -> None:
        if any(d < 0 for d in self.miss):
            raise ValueError(f"deadline indexes are not negative: {list(self.miss)}")
        if self.miss_every < 0:
            raise ValueError(f"miss_every is not negative: {self.miss_every}")
        if self.late is not None and self.late < 0:
            raise ValueError(f"late is not negative: {self.late}")
        if self.batch is not None and self.batch < 0:
            raise ValueError(f"batch is not negative: {self.batch}")
        for slot in (*self.late_partitions, *self.refused_partitions):
            if len(slot) != 2 or min(slot) < 0:
                raise ValueError(f"not a (deadline, partition) pair: {slot}")
        both = set(self.late_partitions) & set(self.refused_partitions)
        if both:
            raise ValueError(f"a partition is either late or refused: {format_slots(both)}")

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "miss": sorted(self.miss),
            "miss_every": self.miss_every,
            "late": self.late,
            "batch": self.batch,
            "spread": self.spread,
            "late_partitions": [list(s) for s in sorted(self.late_partitions)],
            "refused_partitions": [list(s) for s in sorted(self.refused_partitions)],
            "sender": self.sender,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> IncumbentConfig:
        """From ``devnet.json``'s ``incumbent`` (absent: off; a set-up
        saved before an option existed reads as that option off)."""
        if not data:
            return cls()
        late, batch = data.get("late"), data.get("batch")

        def slots(key: str) -> tuple[Slot, ...]:
            return tuple(sorted({(int(d), int(p)) for d, p in data.get(key, ())}))

        return cls(
            enabled=bool(data.get("enabled", False)),
            miss=tuple(sorted({int(d) for d in data.get("miss", ())})),
            miss_every=int(data.get("miss_every", 0)),
            late=None if late is None else int(late),
            batch=None if batch is None else int(batch),
            spread=bool(data.get("spread", False)),
            late_partitions=slots("late_partitions"),
            refused_partitions=slots("refused_partitions"),
            sender=str(data.get("sender", INCUMBENT_SENDER)),
        )

    def miss_reason(self, m: DevnetMiner, dl: DeadlineInfo) -> str | None:
        """Why the incumbent is told not to prove ``dl`` of ``m`` (None: it
        proves it)."""
        if dl.index in self.miss:
            return f"told to miss deadline {dl.index}"
        if self.miss_every:
            turn = turn_number(m, dl)
            if (turn + 1) % self.miss_every == 0:
                return f"told to miss every {self.miss_every}th deadline (turn {turn})"
        return None

    def push_epoch(self, dl: DeadlineInfo) -> int:
        """When its messages for ``dl`` go: at Open, or ``late`` epochs
        before Close (never before Open)."""
        if self.late is None:
            return dl.open
        return max(dl.open, dl.close - self.late)

    def per_message(self, proof_type: int) -> int:
        """Partitions one message carries at most: 1 without ``batch``, else
        lotus-miner's rule, its MaxPartitionsPerPoStMessage (0: unset)
        capped by what the actor takes, since Lotus never builds a message
        the chain would refuse for its size."""
        if self.batch is None:
            return 1
        limit = partitions_max(proof_type)
        return limit if self.batch == 0 else min(self.batch, limit)

    def told(self, deadline: int, partition: int) -> str | None:
        """``"late"`` or ``"refused"`` for a partition singled out to fail,
        else None."""
        if (deadline, partition) in self.late_partitions:
            return "late"
        if (deadline, partition) in self.refused_partitions:
            return "refused"
        return None


def parse_deadline_list(text: str | None) -> tuple[int, ...]:
    """``"5,11"`` -> (5, 11); empty or None: ()."""
    if not text:
        return ()
    try:
        out = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"not a list of deadline indexes: {text!r} (like 5,11)") from None
    if any(d < 0 for d in out):
        raise ValueError(f"deadline indexes are not negative: {text!r}")
    return tuple(out)


def parse_partition_list(text: str | None) -> tuple[Slot, ...]:
    """``"2/0,4/1"`` (deadline/partition) -> ((2, 0), (4, 1)); empty or
    None: ()."""
    if not text:
        return ()
    out = set()
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            d, p = (int(x) for x in part.split("/"))
        except ValueError:
            raise ValueError(f"not a list of deadline/partition: {text!r} (like 2/0,4/1)") from None
        if d < 0 or p < 0:
            raise ValueError(f"deadline and partition indexes are not negative: {text!r}")
        out.add((d, p))
    return tuple(sorted(out))


def format_slots(slots: Iterable[Slot]) -> str:
    """((2, 0), (4, 1)) -> ``"2/0,4/1"``, as the options take them."""
    return ",".join(f"{d}/{p}" for d, p in sorted(slots))


def turn_number(m: DevnetMiner, dl: DeadlineInfo) -> int:
    """The miner's deadlines with partitions, numbered in chain order from
    its first proving period (0, 1, ...)."""
    indexes = sorted(m.deadlines)
    period = (dl.period_start - m.period_offset) // dl.policy.proving_period
    return period * len(indexes) + indexes.index(dl.index)


def add_incumbent_account(net: Devnet, config: IncumbentConfig) -> bool:
    """The sender's account in the devnet's pool (funded, its key in the
    node's wallet) and among each miner's control addresses, as an operator
    sets a PoSt control address; True when something was added."""
    added = False
    try:
        net.mpool.account(config.sender)
    except KeyError:
        net.mpool.accounts.append(
            Account(config.sender, key_address_for(config.sender), INCUMBENT_FUNDS)
        )
        added = True
    for m in net.miners.values():
        if config.sender not in m.control_addresses:
            m.control_addresses.append(config.sender)
            added = True
    return added


@dataclass(frozen=True)
class Proven:
    """One partition the incumbent proved: the sectors it set out to prove
    (ascending), those it skipped, its SNARK."""

    partition: int
    sectors: list[int]
    skipped: set[int]
    proof: bytes


@dataclass
class Outgoing:
    """One ``SubmitWindowedPoSt`` to push at ``push_at``; ``told``: None, or
    ``"late"``/``"refused"`` for a partition singled out to fail."""

    push_at: int
    partitions: list[Proven]
    told: str | None = None
    pushed: bool = False


def plan_messages(
    config: IncumbentConfig, dl: DeadlineInfo, proven: Iterable[Proven], proof_type: int
) -> list[Outgoing]:
    """A deadline's messages, in partition order, and when each goes.

    Partitions go together as the chain's verifier re-chunks a message's
    sorted sectors by the partition size: one with a skipped sector, or
    singled out to fail, goes alone; one that is not full ends its message,
    as does the cap (``per_message``) or sectors that do not ascend. Each
    goes at ``push_epoch``, the k-th of them k epochs later with ``spread``
    (never at Close or after for that: a spread deadline still lands in
    time; and ``_push_due`` keeps them an epoch apart when proving took
    longer than that); a late one at Close."""
    size = PoStProofType.from_chain_id(proof_type).partition_sectors
    cap = config.per_message(proof_type)
    out: list[Outgoing] = []
    batch: list[Proven] = []
    for p in sorted(proven, key=lambda p: p.partition):
        told = config.told(dl.index, p.partition)
        if told is not None or p.skipped:
            out.append(Outgoing(0, [p], told))
            continue
        if batch:
            prev = batch[-1]
            ends = len(prev.sectors) < size or not p.sectors or p.sectors[0] <= prev.sectors[-1]
            if len(batch) >= cap or ends:
                out.append(Outgoing(0, batch))
                batch = []
        batch.append(p)
    if batch:
        out.append(Outgoing(0, batch))
    out.sort(key=lambda o: o.partitions[0].partition)
    base = config.push_epoch(dl)
    last_in_time = max(base, dl.close - 1)
    k = 0
    for o in out:
        if o.told == "late":
            o.push_at = dl.close
            continue
        o.push_at = min(base + k, last_in_time) if config.spread else base
        k += 1
    return out


@dataclass
class _Prepared:
    dl: DeadlineInfo
    seed: bytes
    messages: list[Outgoing] = field(default_factory=list)
    # the epoch its last message went (spread: the next one goes later)
    last_push: int | None = None


class Incumbent:
    """The devnet's existing prover (see the module docstring). ``tick``
    does one epoch's work (tests call it with the devnet's clock in hand);
    ``start`` runs it on a thread until ``stop``."""

    def __init__(self, net: Devnet, store: Path | None, config: IncumbentConfig) -> None:
        self.net = net
        self.store = store
        self.config = config
        self._done: set[tuple[int, int, int]] = set()
        self._prepared: dict[tuple[int, int, int], _Prepared] = {}
        self._replicas: dict[int, dict[int, SectorReplica]] = {}
        self._lock = threading.Lock()
        self.pushed: deque[dict] = deque(maxlen=HISTORY)
        self.skipped: deque[dict] = deque(maxlen=HISTORY)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the thread ---------------------------------------------------------------

    def start(self) -> Incumbent:
        with self.net.state_lock:
            if add_incumbent_account(self.net, self.config):
                log.info("incumbent_account_added", sender=self.config.sender)
        self._thread = threading.Thread(target=self._run, name="devnet-incumbent", daemon=True)
        self._thread.start()
        log.info(
            "incumbent_started",
            sender=self.config.sender,
            miss=list(self.config.miss),
            miss_every=self.config.miss_every,
            late=self.config.late,
            batch=self.config.batch,
            spread=self.config.spread,
            late_partitions=format_slots(self.config.late_partitions),
            refused_partitions=format_slots(self.config.refused_partitions),
        )
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        interval = max(0.05, min(0.5, self.net.policy.epoch_seconds / 4))
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the next epoch tries again; the devnet goes on
                log.exception("incumbent_tick_failed")
            self._stop.wait(interval)

    # ---- one epoch ---------------------------------------------------------------------

    def tick(self) -> None:
        """Proves what is due (the open deadline, and the next one once its
        challenge is reached) and pushes what is ready and due."""
        now = self.net.epoch()
        for m in list(self.net.miners.values()):
            if not m.deadlines:
                continue
            current = self.net.deadline_of(m, now)
            for dl in (current, current.next()):
                if self._stop.is_set():
                    return
                key = (m.actor_id, dl.period_start, dl.index)
                if dl.index not in m.deadlines or now < dl.challenge:
                    continue
                if key in self._done or key in self._prepared:
                    continue
                self._prepare(m, dl, key)
        self._push_due()
        self._forget(now)

    def _prepare(self, m: DevnetMiner, dl: DeadlineInfo, key: tuple[int, int, int]) -> None:
        reason = self.config.miss_reason(m, dl)
        if reason is not None:
            self._skip(key, dl, None, reason)
            return
        net = self.net
        with net.state_lock:
            proven = set(m.proven.get((dl.period_start, dl.index), set()))
            to_prove = [
                (i, sorted((set(sectors) - m.faulty) | (set(sectors) & m.recovering)))
                for i, sectors in enumerate(m.deadlines[dl.index])
            ]
            sent = self._sent_before(m, dl)
        todo = []
        for i, sectors in to_prove:
            if i in proven:
                self._skip(None, dl, i, "proven already", miner=m.actor_id)
            elif i in sent:
                self._skip(None, dl, i, f"pushed already ({sent[i]})", miner=m.actor_id)
            elif not sectors:
                self._skip(None, dl, i, "every sector faulty: nothing to prove", miner=m.actor_id)
            else:
                todo.append((i, sectors))
        if not todo:
            self._done.add(key)
            return
        if not self._replicas_of(m, [n for _, sectors in todo for n in sectors]):
            # a placeholder miner's (nothing here proves it): said once a deadline
            self._skip(key, dl, None, "no sector of this miner in the devnet's store")
            return
        seed = net.randomness(
            TAG_WINDOWED_POST_CHALLENGE_SEED, dl.challenge, id_address_cbor(m.actor_id)
        )
        proven = []
        for i, sectors in todo:
            if self._stop.is_set():
                return
            proof = self._prove(m, dl, i, sectors, seed)
            if proof is not None:
                proven.append(proof)
        if proven:
            messages = plan_messages(self.config, dl, proven, m.proof_type)
            self._prepared[key] = _Prepared(dl, seed, messages)
        else:
            self._done.add(key)

    def _prove(
        self, m: DevnetMiner, dl: DeadlineInfo, partition: int, sectors: list[int], seed: bytes
    ) -> Proven | None:
        replicas = self._replicas_of(m, sectors)
        have = [replicas[n] for n in sectors if n in replicas]
        missing = {n for n in sectors if n not in replicas}
        if not have:
            self._skip(None, dl, partition, "no sector of it in the store", miner=m.actor_id)
            return None
        try:
            result = prove_partition(
                m.proof_type, mask_randomness(seed), prover_id(m.actor_id), have, partition
            )
        except ProofError as exc:
            self._skip(None, dl, partition, f"cannot prove: {exc}", miner=m.actor_id)
            return None
        return Proven(partition, sectors, missing | set(result.skipped), result.proof)

    def _replicas_of(self, m: DevnetMiner, sectors: Iterable[int]) -> dict[int, SectorReplica]:
        found = self._replicas.get(m.actor_id, {})
        if self.store is not None and any(n not in found for n in sectors):
            pt = PoStProofType.from_chain_id(m.proof_type)
            found = {r.sector_id: r for r in load_test_sectors(self.store, m.actor_id, pt)}
            self._replicas[m.actor_id] = found
        return found

    def _sent_before(self, m: DevnetMiner, dl: DeadlineInfo) -> dict[int, str]:
        """Partitions of ``dl`` in a PoSt the incumbent's sender pushed to
        ``m`` while ``dl`` was open (on chain or waiting in the pool), with
        the message's CID: after a restart, what it must not push again.
        Called under the chain's lock."""
        net = self.net
        miner = f"t0{m.actor_id}"
        sender = {self.config.sender[1:], key_address_for(self.config.sender)[1:]}
        found: list[tuple[str, bytes]] = [
            (msg.cid, msg.params)
            for msg in net.messages.values()
            if msg.sender[1:] in sender
            and msg.to[1:] == miner[1:]
            and msg.method == METHOD_SUBMIT_WINDOWED_POST
            and dl.open <= msg.height - 1 < dl.close
        ]
        found += [
            (p.cid, p.signed.message.params)
            for p in net.mpool.pending.values()
            if p.signed.message.sender[1:] in sender
            and p.signed.message.to[1:] == miner[1:]
            and p.signed.message.method == METHOD_SUBMIT_WINDOWED_POST
            and dl.open <= p.pushed_epoch < dl.close
        ]
        out: dict[int, str] = {}
        for cid, params in found:
            try:
                post = decode_submit_windowed_post(params)
            except ParamsNotDeserializable:
                continue
            if post.deadline == dl.index:
                out.update((i, cid) for i, _ in post.partitions)
        return out

    def _push_due(self) -> None:
        """Pushes each prepared message whose epoch has come; a deadline is
        done once all of its messages went."""
        net = self.net
        now = net.epoch()
        for key, prep in sorted(self._prepared.items()):
            dl = prep.dl
            due = [o for o in prep.messages if not o.pushed and now >= o.push_at]
            if self.config.spread and now < dl.close - 1:
                # an epoch apart even when proving ran past their epochs, so
                # the partitions do land at different epochs; from Close - 1
                # whatever is left goes (in time)
                due = [] if prep.last_push is not None and prep.last_push >= now else due[:1]
            if not due or self._stop.is_set():
                continue
            m = net.miners[key[0]]
            seed = net.randomness(
                TAG_WINDOWED_POST_CHALLENGE_SEED, dl.challenge, id_address_cbor(m.actor_id)
            )
            if seed != prep.seed:  # a reorg: proven again at the next tick
                log.warning("incumbent_challenge_changed", miner=m.actor_id, deadline=dl.index)
                del self._prepared[key]
                continue
            commit_rand = net.randomness(TAG_POST_CHAIN_COMMIT, dl.challenge, b"")
            prep.last_push = now
            for out in due:
                out.pushed = True
                with net.state_lock:
                    proven = set(m.proven.get((dl.period_start, dl.index), set()))
                fresh = []
                for p in out.partitions:
                    if p.partition in proven:
                        self._skip(None, dl, p.partition, "proven meanwhile", miner=m.actor_id)
                    else:
                        fresh.append(p)
                if fresh:
                    self._push(m, dl, fresh, commit_rand, out.told)
            if all(o.pushed for o in prep.messages):
                del self._prepared[key]
                self._done.add(key)

    def _push(
        self,
        m: DevnetMiner,
        dl: DeadlineInfo,
        partitions: list[Proven],
        commit_rand: bytes,
        told: str | None = None,
    ) -> None:
        """One ``SubmitWindowedPoSt`` for ``partitions`` (their proofs merged
        in partition order, as the verifier reads them). A ``refused`` one
        carries the commit randomness inverted: the actor checks it against
        the chain's before anything else of the proof, so it is refused at
        once (exit 16), as a PoSt built on a fork would be."""
        if len(partitions) == 1:
            proof = partitions[0].proof
        else:
            pt = PoStProofType.from_chain_id(m.proof_type)
            proof = merge_partition_proofs(pt, [p.proof for p in partitions])
        if told == "refused":
            commit_rand = bytes(b ^ 0xFF for b in commit_rand)
        params = encode_submit_windowed_post(
            dl.index,
            [(p.partition, p.skipped) for p in partitions],
            m.proof_type,
            proof,
            dl.challenge,
            commit_rand,
        )
        msg = Message(
            to=f"t0{m.actor_id}",
            sender=self.config.sender,
            method=METHOD_SUBMIT_WINDOWED_POST,
            params=params,
        )
        now = self.net.epoch()
        where = {
            "miner": m.actor_id,
            "period_start": dl.period_start,
            "deadline": dl.index,
            "partitions": [p.partition for p in partitions],
            "epoch": now,
        }
        try:
            # in process, as the node's MpoolPushMessage: estimate, nonce, sign, push
            signed = self.net.push(msg.to_json(), None)
        except (KeyError, ValueError) as exc:
            log.error("incumbent_push_refused", **where, error=str(exc))
            for p in partitions:
                self._skip(None, dl, p.partition, f"push refused: {exc}", miner=m.actor_id)
            return
        row = {
            **where,
            "cid": signed.cid,
            "sender": self.config.sender,
            "nonce": signed.message.nonce,
            "skipped_sectors": sorted({n for p in partitions for n in p.skipped}),
            "epochs_before_close": dl.close - now,
        }
        if told is not None:
            row["told"] = told
        with self._lock:
            self.pushed.append(row)
        log.info("incumbent_post_pushed", **row)

    def _skip(
        self,
        key: tuple[int, int, int] | None,
        dl: DeadlineInfo,
        partition: int | None,
        reason: str,
        *,
        miner: int | None = None,
    ) -> None:
        if key is not None:
            self._done.add(key)
            miner = key[0]
        row = {
            "miner": miner,
            "period_start": dl.period_start,
            "deadline": dl.index,
            "partition": partition,
            "reason": reason,
        }
        with self._lock:
            self.skipped.append(row)
        log.info("incumbent_skipped", **row)

    def _forget(self, now: int) -> None:
        """Deadlines closed a proving period ago are never looked at again."""
        horizon = now - self.net.policy.proving_period
        stale = [k for k in self._done if k[1] + self.net.policy.proving_period < horizon]
        for k in stale:
            self._done.discard(k)

    # ---- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """For ``DevnetStatus``: its options, what it pushed and skipped
        since the devnet started (the latest ``HISTORY`` of each)."""
        with self._lock:
            return {
                **self.config.to_json(),
                "pushed": list(self.pushed),
                "skipped": list(self.skipped),
            }
