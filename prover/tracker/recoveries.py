"""Recoveries: faulty sectors whose files prove again are declared with
``DeclareFaultsRecovered``, so that the next proof of their deadline heals
them (docs/DOMAIN.md §7).

As Lotus does, the deadline looked at is the one after next (its fault
cutoff is still ahead), once per deadline and proving period. A sector
counts as good when its files are found and a vanilla proof over fresh
random challenges verifies against its comm_r; the others are logged with
the reason and left faulty.

Reading the chain and checking sectors never happen in the tracker's tick:
the tick starts them for a deadline (reads in a thread, checks in the
``CheckPool``, prover/storage/pool.py) and, on a later tick, pushes the declarations of
what was found. A slow or hung storage therefore costs its own deadline's
recovery at most, never another miner's submissions.

The declarations fit in a block, with Lotus' limits (pure rules below):
``limit_recoveries`` keeps the first ``recovering_sector_limit`` sectors of
a deadline, as Lotus' ``LOTUS_RECOVERING_SECTOR_LIMIT`` trims them;
``recovery_messages`` cuts the rest into messages of at most
``max_partitions_per_recovery_message`` declarations and
``max_sectors_per_recovery_message`` sectors (the actor refuses more than
25,000), splitting a partition that does not fit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from prover import metrics
from prover.chain.deadlines import DeadlineInfo, deadline_info
from prover.chain.encoding import (
    DECLARATIONS_MAX,
    METHOD_DECLARE_FAULTS_RECOVERED,
    encode_declare_faults_recovered,
)
from prover.chain.lotus import LotusClient, LotusError, Partition, SectorOnChain
from prover.config import ChainConfig
from prover.logs import get_logger
from prover.proofs import (
    PoStProofType,
    ProofError,
    SectorRef,
    generate_challenges,
    mask_randomness,
    prover_id,
)
from prover.proofs.layout import StorageIndex
from prover.storage.access import SectorAccess
from prover.storage.pool import CheckPool
from prover.store import Ledger, MessageKind, Sent
from prover.store.models import MessageRow
from prover.tracker.planning import ProofTypes, access_of
from prover.tracker.senders import Pushed

log = get_logger("prover.tracker.recoveries")

# Deadlines whose faulty sectors are read from the node at once.
READ_THREADS = 2

# (deadline, partition, sectors) as DeclareFaultsRecovered carries them
Recovery = tuple[int, int, set[int]]


def sector_problem(
    access: SectorAccess,
    index: StorageIndex,
    miner: int,
    sector: SectorOnChain,
    proof_type: int,
) -> str | None:
    """Why a sector would not prove now, or None (what Lotus checks before
    declaring a recovery): its files found (``index``) and a vanilla proof
    over fresh challenges read, on the manager's mount or a storage host."""
    where = index.locate(miner, sector.number, sector.upgraded)
    if where is None:
        return "files not found on any storage"
    ref = SectorRef(sector.number, sector.comm_r, where[0], where[1], sector.upgraded)
    pt = PoStProofType.from_chain_id(proof_type)
    randomness = mask_randomness(os.urandom(32))
    try:
        challenges = generate_challenges(pt, randomness, prover_id(miner), [sector.number])
    except ProofError as exc:
        return str(exc)
    served = access.prove(miner, proof_type, [ref], challenges)[sector.number]
    if served.proof is None:
        return (
            f"{served.host}: {served.fault}" if served.host not in ("", "local") else served.fault
        )
    return None


def recoveries(
    index: int,
    partitions: list[Partition],
    on_chain: Mapping[int, SectorOnChain],
    problem: Callable[[SectorOnChain], str | None],
) -> tuple[list[Recovery], dict[int, str]]:
    """The sectors of deadline ``index`` to declare recovered, per partition,
    and why each of the others is still faulty."""
    out: list[Recovery] = []
    still: dict[int, str] = {}
    for part_index, part in enumerate(partitions):
        good = set()
        for n in sorted(part.faulty - part.recovering):
            sector = on_chain.get(n)
            why = "not in the miner's sectors" if sector is None else problem(sector)
            if why is None:
                good.add(n)
            else:
                still[n] = why
        if good:
            out.append((index, part_index, good))
    return out, still


def limit_recoveries(found: Sequence[Recovery], limit: int) -> tuple[list[Recovery], set[int]]:
    """At most ``limit`` sectors of a deadline (0: all), the first in
    partition then sector order, as Lotus trims to its recovering sector
    limit; and the sectors left out, which wait for the deadline's next turn."""
    if not limit:
        return list(found), set()
    kept: list[Recovery] = []
    left: set[int] = set()
    room = limit
    for deadline, partition, sectors in found:
        ordered = sorted(sectors)
        if room > 0:
            kept.append((deadline, partition, set(ordered[:room])))
        left.update(ordered[max(room, 0) :])
        room -= len(ordered)
    return kept, left


def recovery_messages(
    found: Sequence[Recovery], max_partitions: int, max_sectors: int
) -> list[list[Recovery]]:
    """The declarations cut into messages of at most ``max_partitions``
    declarations (0: the actor's ``DECLARATIONS_MAX``) and ``max_sectors``
    sectors, in partition order. A partition that does not fit in what is
    left of a message is split: its first sectors end that message, the
    rest begin the next (the actor takes part of a partition, and nothing
    has to wait a proving period)."""
    per_message = min(max_partitions or DECLARATIONS_MAX, DECLARATIONS_MAX)
    out: list[list[Recovery]] = [[]]
    count = 0
    for deadline, partition, sectors in found:
        rest = sorted(sectors)
        while rest:
            if len(out[-1]) == per_message or count == max_sectors:
                out.append([])
                count = 0
            take = rest[: max_sectors - count]
            out[-1].append((deadline, partition, set(take)))
            count += len(take)
            rest = rest[len(take) :]
    return [m for m in out if m]


# (miner, period start, deadline)
Key = tuple[int, int, int]
# (miner, sector, proof type) -> why it would not prove now, or None
SectorCheck = Callable[[int, SectorOnChain, int], str | None]


@dataclass
class _Pending:
    """A deadline whose sectors are being checked, then declared."""

    d: DeadlineInfo
    partitions: list[Partition]
    on_chain: dict[int, SectorOnChain]
    # the declarations still to push, once the checks are done
    messages: list[list[Recovery]] | None = None


class Recoveries:
    def __init__(
        self,
        ledger: Ledger,
        client: LotusClient,
        storages: Mapping[str, Path] | SectorAccess,
        proof_types: ProofTypes,
        push: Callable[[int, MessageKind, int, bytes, Callable[[str, Sent], MessageRow]], Pushed],
        config: ChainConfig,
    ) -> None:
        self.ledger = ledger
        self.client = client
        self.access = access_of(storages)
        self.proof_types = proof_types
        self.push = push
        self.config = config
        # where each miner's sectors are, listed once per deadline's checks
        self._indexes: dict[int, StorageIndex] = {}
        # how a sector is checked; tests put a double here
        self.check: SectorCheck = lambda miner, s, pt: sector_problem(
            self.access, self._index(miner), miner, s, pt
        )
        self.pool = CheckPool(config.recovery_check_parallelism, config.recovery_check_timeout_s)
        # Reading a deadline's faulty sectors (tens of thousands at 32GiB)
        # takes seconds at worst: like planning, never in the tick.
        self._reads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="recovery-read")
        self._lock = threading.Lock()
        self._checked: set[Key] = set()  # done for this period
        self._reading: set[Key] = set()
        self._pending: dict[Key, _Pending] = {}
        self._again: set[Key] = set()  # forgotten while pending: not done when pushed

    def close(self) -> None:
        self._reads.shutdown(wait=False, cancel_futures=True)
        self.pool.close()

    def _index(self, miner: int) -> StorageIndex:
        index = self._indexes.get(miner)
        if index is None:
            index = self._indexes[miner] = self.access.index(miner)
        return index

    def forget(self, miner: int, period_start: int, deadline: int) -> None:
        """Check (and declare) this deadline again: its declaration was dropped."""
        key = (miner, period_start, deadline)
        with self._lock:
            self._checked.discard(key)
            if key in self._pending:
                self._again.add(key)

    def busy(self) -> set[Key]:
        """Deadlines being read, checked or declared."""
        with self._lock:
            return self._reading | set(self._pending)

    def declare(self, miner: int, d: DeadlineInfo, epoch: int) -> None:
        """From the tick: starts checking the faulty sectors of deadline
        ``d`` (once per deadline and period, before its fault cutoff) and
        pushes the declarations of this miner's deadlines whose checks are
        done. Raises ``LotusError`` when a push fails; what is left goes on
        the next call."""
        key = (miner, d.period_start, d.index)
        with self._lock:
            older = d.period_start - d.policy.proving_period
            self._checked = {k for k in self._checked if k[1] >= older}
            start = not (key in self._checked or key in self._reading or key in self._pending)
            if start and not d.fault_cutoff_passed():
                self._reading.add(key)
                try:
                    self._reads.submit(self._read, key, miner, d)
                except RuntimeError:  # shut down: the manager is stopping
                    self._reading.discard(key)
            mine = [k for k in self._pending if k[0] == miner]
        for k in mine:
            self._progress(k, deadline_info(k[1], k[2], d.current_epoch, d.policy), epoch)

    def _read(self, key: Key, miner: int, d: DeadlineInfo) -> None:
        """In a read thread: the deadline's faulty sectors, then their checks
        started in the pool."""
        try:
            partitions = self.client.state_miner_partitions(miner, d.index)
            faulty = {n for p in partitions for n in p.faulty - p.recovering}
            on_chain: dict[int, SectorOnChain] = {}
            proof_type = 0
            if faulty:
                on_chain = {s.number: s for s in self.client.state_miner_sectors(miner, faulty)}
                proof_type = self.proof_types.of(miner, d)
                self._indexes[miner] = self.access.index(miner)  # files come and go
        except LotusError as exc:  # not checked: the next pass tries again
            log.warning("recovery_read_failed", miner=miner, deadline=d.index, error=str(exc))
            with self._lock:
                self._reading.discard(key)
            return
        except Exception:  # a bug must not stop recoveries for good
            log.exception("recovery_read_crashed", miner=miner, deadline=d.index)
            with self._lock:
                self._reading.discard(key)
            return
        with self._lock:
            self._reading.discard(key)
            if not faulty:
                self._checked.add(key)
                return
            self._pending[key] = _Pending(d, partitions, on_chain)
        check = self.check
        self.pool.start(key, sorted(on_chain), lambda n: check(miner, on_chain[n], proof_type))
        log.info("recovery_checks_started", miner=miner, deadline=d.index, sectors=len(on_chain))

    def _progress(self, key: Key, now: DeadlineInfo, epoch: int) -> None:
        """A deadline under way: too late, still checking, or declarations
        to push."""
        miner = key[0]
        with self._lock:
            p = self._pending.get(key)
        if p is None:
            return
        if now.fault_cutoff_passed():
            self.pool.cancel(key)
            self._done(key)
            left = [m for msg in p.messages or [] for m in msg]
            log.warning(
                "recovery_too_late",
                miner=miner,
                deadline=now.index,
                # checked but not pushed, or still being checked
                undeclared=sum(len(s) for _, _, s in left) if left else "unchecked",
            )
            return
        if p.messages is None:
            results = self.pool.result(key)
            if results is None:
                return  # still checking
            found, still = recoveries(
                now.index, p.partitions, p.on_chain, lambda s: results[s.number]
            )
            if still:
                log.info("sectors_still_faulty", miner=miner, deadline=now.index, sectors=still)
            found, left = limit_recoveries(found, self.config.recovering_sector_limit)
            if left:
                log.warning(
                    "recovering_sector_limit_reached",
                    miner=miner,
                    deadline=now.index,
                    limit=self.config.recovering_sector_limit,
                    left=len(left),
                )
            p.messages = recovery_messages(
                found,
                self.config.max_partitions_per_recovery_message,
                self.config.max_sectors_per_recovery_message,
            )
        while p.messages:
            self._push(miner, p.d, p.messages[0], epoch)
            p.messages.pop(0)
        self._done(key)

    def _done(self, key: Key) -> None:
        """Nothing more for this deadline this period, unless a declaration
        of it was dropped meanwhile (``forget``)."""
        with self._lock:
            self._pending.pop(key, None)
            if key not in self._again:
                self._checked.add(key)
            self._again.discard(key)

    def _push(self, miner: int, d: DeadlineInfo, found: list[Recovery], epoch: int) -> None:
        def record(cid: str, sent: Sent) -> MessageRow:
            return self.ledger.record_push(
                kind=MessageKind.RECOVERY,
                miner=miner,
                period_start=d.period_start,
                deadline=d.index,
                partitions=sorted({p for _, p, _ in found}),
                cid=cid,
                pushed_epoch=epoch,
                sent=sent,
            )

        try:
            pushed = self.push(
                miner,
                MessageKind.RECOVERY,
                METHOD_DECLARE_FAULTS_RECOVERED,
                encode_declare_faults_recovered(found),
                record,
            )
        except LotusError as exc:
            log.error("recovery_push_failed", miner=miner, deadline=d.index, error=str(exc))
            raise  # kept: the next tick pushes it
        metrics.message("pushed", MessageKind.RECOVERY, miner, d.index)
        log.info(
            "recovery_declared",
            miner=miner,
            deadline=d.index,
            cid=pushed.cid,
            partitions=sorted({p for _, p, _ in found}),
            sectors=sorted(n for _, _, good in found for n in good),
        )
