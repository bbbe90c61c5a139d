"""What the devnet's chain holds: each miner actor's state (its deadlines
and partitions, faults, recoveries, proven partitions, misses, the PoSts
kept for dispute), the messages it included, and the exit codes they end
with, the actor's own (``fvm_shared`` ``ExitCode``)."""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_ILLEGAL_ARGUMENT = 16
EXIT_NOT_FOUND = 17
EXIT_FORBIDDEN = 18
# USR_SERIALIZATION (fvm_shared ExitCode): parameters that do not deserialize
# (builtin-actors' dispatch turns the decoding error into it)
EXIT_SERIALIZATION = 21


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
    # (epoch, faulty, recovering) from each change on, oldest first: what
    # StateMinerPartitions answers at an older tipset, as Lotus answers from
    # that tipset's state (a manager looking back at a deadline it could not
    # plan while it was away). Kept in memory for two proving periods; a
    # devnet started again knows only the faults it started with.
    fault_log: list[tuple[int, frozenset[int], frozenset[int]]] = field(default_factory=list)

    def faults_changed(self, epoch: int) -> None:
        """Logs ``faulty`` and ``recovering`` as they stand from ``epoch`` on
        (called by whatever changed them, and by each settle for changes
        made from outside: a test, a restored state)."""
        if self.fault_log:
            last, faulty, recovering = self.fault_log[-1]
            # compared as they are: every settle calls this, copies only on a change
            if faulty == self.faulty and recovering == self.recovering:
                return
            epoch = max(epoch, last)
        self.fault_log.append((epoch, frozenset(self.faulty), frozenset(self.recovering)))

    def forget_faults_before(self, epoch: int) -> None:
        """Drops the changes no read at ``epoch`` or later needs."""
        while len(self.fault_log) > 1 and self.fault_log[1][0] <= epoch:
            del self.fault_log[0]

    def faults_at(self, epoch: int) -> tuple[set[int], set[int]]:
        """(faulty, recovering) as they stood at ``epoch``; before the oldest
        change kept, as they stood after it."""
        for at, faulty, recovering in reversed(self.fault_log):
            if at <= epoch:
                return set(faulty), set(recovering)
        if not self.fault_log:
            return set(self.faulty), set(self.recovering)
        _, faulty, recovering = self.fault_log[0]
        return set(faulty), set(recovering)
        _, faulty, recovering = self.fault_log[0]
        return set(faulty), set(recovering)


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
