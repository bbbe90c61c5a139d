"""``prover sectors check``: a vanilla proof of every sector of a miner (one
deadline, or all of them) over fresh random challenges, read the way proofs
are read (the manager's mounts or the storage hosts), and verified, as
``lotus-miner proving check`` and Curio's vanilla test do.

Each sector is ``good``, ``slow`` (good, but slower than the ``slow``
threshold: a storage that will miss a deadline under load), or ``bad`` with
the reason: files not found on any storage, a fault the read hit (missing,
truncated, corrupt, no host answered), or a proof that does not verify.
Deadlines are checked one after the other, each sector of one at once (as
proving reads them), and streamed as each deadline is done.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prover._proto import manager_pb2 as pb
from prover.proofs import (
    PoStProofType,
    SectorRef,
    generate_challenges,
    mask_randomness,
    prover_id,
    verify_vanilla_proof,
)
from prover.storage.access import SectorAccess
from prover.tracker import Tracker


def check_sectors(
    tracker: Tracker,
    access: SectorAccess,
    miner: int,
    deadline: int | None = None,
    slow_s: float = 0.0,
) -> Iterator[pb.SectorCheck]:
    client = tracker.client
    policy = client.state_miner_proving_deadline(miner).info.policy
    if deadline is not None and not 0 <= deadline < policy.period_deadlines:
        raise ValueError(f"deadline {deadline} is out of range 0..{policy.period_deadlines - 1}")
    proof_type = client.state_miner_info(miner).window_post_proof_type
    pt = PoStProofType.from_chain_id(proof_type)
    pid = prover_id(miner)
    index = access.index(miner)
    for d in [deadline] if deadline is not None else range(policy.period_deadlines):
        partitions = client.state_miner_partitions(miner, d)
        where_part = {n: i for i, p in enumerate(partitions) for n in p.live}
        if not where_part:
            continue
        on_chain = {s.number: s for s in client.state_miner_sectors(miner, set(where_part))}
        out: list[pb.SectorCheck] = []
        refs: list[SectorRef] = []
        for n in sorted(where_part):
            sector = on_chain.get(n)
            found = None if sector is None else index.locate(miner, n, sector.upgraded)
            if sector is None or found is None:
                why = "not in the miner's sectors" if sector is None else "files not found"
                out.append(_row(d, where_part[n], n, "bad", f"{why} on any storage", 0.0, ""))
                continue
            refs.append(SectorRef(n, sector.comm_r, found[0], found[1], sector.upgraded))
        if refs:
            randomness = mask_randomness(os.urandom(32))
            challenges = generate_challenges(pt, randomness, pid, [r.id for r in refs])
            served = access.prove(miner, proof_type, refs, challenges)
            for r in refs:
                s = served[r.id]
                if s.proof is None:
                    status, why = "bad", s.fault
                elif not verify_vanilla_proof(pt, randomness, pid, (r.id, r.comm_r), s.proof):
                    status, why = "bad", "its vanilla proof does not verify"
                elif slow_s and s.seconds > slow_s:
                    status, why = "slow", ""
                else:
                    status, why = "good", ""
                out.append(_row(d, where_part[r.id], r.id, status, why, s.seconds, s.host))
        yield from sorted(out, key=lambda c: c.sector)


def _row(
    deadline: int, partition: int, sector: int, status: str, reason: str, seconds: float, by: str
) -> pb.SectorCheck:
    return pb.SectorCheck(
        deadline=deadline,
        partition=partition,
        sector=sector,
        status=status,
        reason=reason,
        seconds=seconds,
        served_by=by,
    )
