"""``SubmitWindowedPoSt`` as the miner actor checks it (builtin-actors
``submit_windowed_post``): refused for a closed deadline, a wrong proof
type, more partitions than one message may prove (``partitions_max``), a
proof longer than 192 bytes a partition, bad commit randomness,
unknown or already proven partitions; a PoSt that recovers power is
verified at once with the chain's verifier, any other accepted
optimistically and kept for dispute. A part of ``Devnet`` (``actor.py``)."""

from __future__ import annotations

from prover.chain.encoding import (
    ADDRESSED_SECTORS_MAX,
    decode_submit_windowed_post,
    id_address_cbor,
)
from prover.chain.lotus import TAG_POST_CHAIN_COMMIT, TAG_WINDOWED_POST_CHALLENGE_SEED
from prover.devnet.state import EXIT_ILLEGAL_ARGUMENT, EXIT_OK, DevnetMiner
from prover.proofs import PoStProofType, mask_randomness, prover_id, verify_window_post

# A WindowPoSt SNARK is 192 bytes a partition (every WindowPoSt proof type);
# the actor refuses a proof longer than that times the partitions.
PROOF_BYTES = 192
# builtin-actors' PoStedPartitionsMax: one SubmitWindowedPoSt proves at most
# this many partitions, so a deadline's messages stay within a block's gas
# (lotus-miner's MaxPartitionsPerPoStMessage and ``[chain]
# max_partitions_per_message`` cannot go beyond it).
POSTED_PARTITIONS_MAX = 3


def partitions_max(proof_type: int) -> int:
    """The most partitions one ``SubmitWindowedPoSt`` may carry for a miner
    of ``proof_type`` (a chain id): the actor's limit, the smaller of
    ``POSTED_PARTITIONS_MAX`` and the partitions that fit in
    AddressedSectorsMax sectors. What a batching prover packs up to."""
    sectors = PoStProofType.from_chain_id(proof_type).partition_sectors
    return max(1, min(ADDRESSED_SECTORS_MAX // sectors, POSTED_PARTITIONS_MAX))


class PoStChecks:
    """The actor's checks of a PoSt, and the chain's verifier over one."""

    def _submit_post(self, m: DevnetMiner, raw: bytes, now: int, cid: str) -> tuple[int, str]:
        p = decode_submit_windowed_post(raw)
        dl = self.deadline_of(m, now)
        if p.deadline != dl.index or not dl.is_open():
            return EXIT_ILLEGAL_ARGUMENT, f"deadline {p.deadline} is not open (current {dl.index})"
        if p.proof_chain_id != m.proof_type:
            return EXIT_ILLEGAL_ARGUMENT, (
                f"proof type {p.proof_chain_id} is not the miner's {m.proof_type}"
            )
        limit = partitions_max(m.proof_type)
        if len(p.partitions) > limit:
            return EXIT_ILLEGAL_ARGUMENT, f"too many partitions {len(p.partitions)}, limit {limit}"
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
        m.faults_changed(now)
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
