"""Recoveries: faulty sectors whose files prove again are declared with
``DeclareFaultsRecovered``, so that the next proof of their deadline heals
them (docs/DOMAIN.md §7).

As Lotus does, the deadline looked at is the one after next (its fault
cutoff is still ahead), once per deadline and proving period. A sector
counts as good when its files are found and a vanilla proof over fresh
random challenges verifies against its comm_r; the others are logged with
the reason and left faulty.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from prover.chain.deadlines import DeadlineInfo
from prover.chain.encoding import METHOD_DECLARE_FAULTS_RECOVERED, encode_declare_faults_recovered
from prover.chain.lotus import LotusClient, LotusError, Partition, SectorOnChain
from prover.logs import get_logger
from prover.proofs import (
    PoStProofType,
    ProofError,
    SectorRef,
    generate_challenges,
    mask_randomness,
    prover_id,
    vanilla_proof,
)
from prover.proofs.layout import locate
from prover.store import Ledger, MessageKind
from prover.tracker.planning import ProofTypes
from prover.tracker.senders import Pushed

log = get_logger("prover.tracker.recoveries")

# (deadline, partition, sectors) as DeclareFaultsRecovered carries them
Recovery = tuple[int, int, set[int]]


def sector_problem(
    storages: Mapping[str, Path], miner: int, sector: SectorOnChain, proof_type: int
) -> str | None:
    """Why a sector would not prove now, or None (what Lotus checks before
    declaring a recovery)."""
    where = locate(storages, miner, sector.number, sector.upgraded)
    if where is None:
        return "files not found on any storage"
    ref = SectorRef(sector.number, sector.comm_r, where[0], where[1], sector.upgraded)
    pt = PoStProofType.from_chain_id(proof_type)
    randomness = mask_randomness(os.urandom(32))
    try:
        challenges = generate_challenges(pt, randomness, prover_id(miner), [sector.number])
        vanilla_proof(pt, ref.replica(miner, storages), challenges[sector.number])
    except ProofError as exc:
        return str(exc)
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


class Recoveries:
    def __init__(
        self,
        ledger: Ledger,
        client: LotusClient,
        storages: Mapping[str, Path],
        proof_types: ProofTypes,
        push: Callable[[int, MessageKind, int, bytes], Pushed],
    ) -> None:
        self.ledger = ledger
        self.client = client
        self.storages = storages
        self.proof_types = proof_types
        self.push = push
        # (miner, period start, deadline) already checked
        self._checked: set[tuple[int, int, int]] = set()

    def forget(self, miner: int, period_start: int, deadline: int) -> None:
        """Check (and declare) this deadline again: its declaration was dropped."""
        self._checked.discard((miner, period_start, deadline))

    def declare(self, miner: int, d: DeadlineInfo, epoch: int) -> None:
        """Declares the faulty sectors of deadline ``d`` that prove again,
        once per deadline and period, before its fault cutoff."""
        key = (miner, d.period_start, d.index)
        if key in self._checked or d.fault_cutoff_passed():
            return
        older = d.period_start - d.policy.proving_period
        self._checked = {k for k in self._checked if k[1] >= older}
        try:
            partitions = self.client.state_miner_partitions(miner, d.index)
            faulty = {n for p in partitions for n in p.faulty - p.recovering}
            on_chain = {}
            if faulty:
                on_chain = {s.number: s for s in self.client.state_miner_sectors(miner, faulty)}
        except LotusError:
            return  # not checked: the next pass tries again
        self._checked.add(key)
        if not faulty:
            return
        proof_type = self.proof_types.of(miner, d)
        found, still = recoveries(
            d.index,
            partitions,
            on_chain,
            lambda s: sector_problem(self.storages, miner, s, proof_type),
        )
        if still:
            log.info("sectors_still_faulty", miner=miner, deadline=d.index, sectors=still)
        if not found:
            return
        try:
            pushed = self.push(
                miner,
                MessageKind.RECOVERY,
                METHOD_DECLARE_FAULTS_RECOVERED,
                encode_declare_faults_recovered(found),
            )
        except LotusError as exc:
            self._checked.discard(key)  # try again next tick
            log.error("recovery_push_failed", miner=miner, deadline=d.index, error=str(exc))
            raise
        cid = pushed.cid
        self.ledger.record_push(
            kind=MessageKind.RECOVERY,
            miner=miner,
            period_start=d.period_start,
            deadline=d.index,
            partitions=[p for _, p, _ in found],
            cid=cid,
            pushed_epoch=epoch,
            sent=pushed.sent,
        )
        log.info(
            "recovery_declared",
            miner=miner,
            deadline=d.index,
            cid=cid,
            sectors=sorted(n for _, _, good in found for n in good),
        )
