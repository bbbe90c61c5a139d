"""Faults and recoveries, as the miner actor keeps them: a partition left
unproven at its deadline's Close has its live sectors marked faulty (and
the miss recorded), once, at the first ``settle`` after it;
``DeclareFaultsRecovered`` marks faulty sectors recovering within the
actor's limits on one message and before the deadline's fault cutoff. A
part of ``Devnet`` (``actor.py``)."""

from __future__ import annotations

import threading

from prover.chain.deadlines import Policy, deadline_info
from prover.chain.encoding import (
    ADDRESSED_SECTORS_MAX,
    DECLARATIONS_MAX,
    decode_declare_faults_recovered,
)
from prover.devnet.state import EXIT_ILLEGAL_ARGUMENT, EXIT_OK, DevnetMiner


class Faults:
    """End-of-deadline processing and recovery declarations."""

    policy: Policy
    miners: dict[int, DevnetMiner]
    _lock: threading.RLock
    _settled_epoch: int

    def settle(self) -> None:
        """Processes every deadline that closed since the last call: sectors
        of unproven partitions become faulty."""
        with self._lock:
            now = self.epoch()
            closed = False
            for m in self.miners.values():
                m.faults_changed(now)  # what was changed from outside meanwhile
                m.forget_faults_before(now - 2 * self.policy.proving_period)
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
                                m.faults_changed(dl.close)
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
        m.faults_changed(now)
        return EXIT_OK, "declared"
