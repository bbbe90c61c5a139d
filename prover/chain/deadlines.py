"""WindowPoSt deadline math, as the miner actor computes it.

For deadline ``index`` of the proving period starting at ``period_start``:
Open = PeriodStart + index * ChallengeWindow, Close = Open + ChallengeWindow,
Challenge = Open - ChallengeLookback, FaultCutoff = Open -
FaultDeclarationCutoff; after the last deadline the next one is index 0 of
the next period. A proof may be submitted only while Open <= epoch < Close.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    epoch_seconds: float
    challenge_window: int
    period_deadlines: int = 48
    challenge_lookback: int = 20
    fault_declaration_cutoff: int = 70

    def __post_init__(self) -> None:
        if self.challenge_window <= 0 or self.period_deadlines <= 0:
            raise ValueError("challenge window and deadlines per period must be positive")
        if not 0 <= self.challenge_lookback < self.challenge_window * self.period_deadlines:
            raise ValueError("challenge lookback must be within a proving period")

    @property
    def proving_period(self) -> int:
        return self.challenge_window * self.period_deadlines

    @classmethod
    def devnet(
        cls,
        *,
        epoch_seconds: float = 1.0,
        challenge_window: int = 10,
        challenge_lookback: int = 3,
        fault_declaration_cutoff: int = 5,
        period_deadlines: int = 48,
    ) -> Policy:
        """Shrunken windows as test networks use them: with the defaults a
        whole proving period (48 deadlines) passes in 8 minutes. Fewer
        deadlines per period let a test see a deadline come round again
        (recoveries) in a minute."""
        return cls(
            epoch_seconds,
            challenge_window,
            period_deadlines,
            challenge_lookback,
            fault_declaration_cutoff,
        )


MAINNET = Policy(
    epoch_seconds=30,
    challenge_window=60,
    period_deadlines=48,
    challenge_lookback=20,
    fault_declaration_cutoff=70,
)


@dataclass(frozen=True)
class DeadlineInfo:
    period_start: int
    index: int
    current_epoch: int
    open: int
    close: int
    challenge: int
    fault_cutoff: int
    policy: Policy = MAINNET

    def is_open(self) -> bool:
        """A proof for this deadline may be submitted now."""
        return self.open <= self.current_epoch < self.close

    def has_elapsed(self) -> bool:
        return self.current_epoch >= self.close

    def fault_cutoff_passed(self) -> bool:
        return self.current_epoch >= self.fault_cutoff

    def challenge_reached(self, confidence: int = 0) -> bool:
        """The challenge randomness is settled (``confidence`` epochs deep)."""
        return self.current_epoch >= self.challenge + confidence

    @property
    def last(self) -> int:
        """The last epoch at which a proof is accepted."""
        return self.close - 1

    def next(self) -> DeadlineInfo:
        """The following deadline, wrapping into the next proving period."""
        index, start = self.index + 1, self.period_start
        if index == self.policy.period_deadlines:
            index, start = 0, start + self.policy.proving_period
        return deadline_info(start, index, self.current_epoch, self.policy)

    def seconds_until_close(self) -> float:
        return max(0, self.close - self.current_epoch) * self.policy.epoch_seconds


def deadline_info(
    period_start: int, index: int, current_epoch: int, policy: Policy = MAINNET
) -> DeadlineInfo:
    if not 0 <= index < policy.period_deadlines:
        raise ValueError(f"deadline index {index} out of range 0..{policy.period_deadlines - 1}")
    open_ = period_start + index * policy.challenge_window
    return DeadlineInfo(
        period_start=period_start,
        index=index,
        current_epoch=current_epoch,
        open=open_,
        close=open_ + policy.challenge_window,
        challenge=open_ - policy.challenge_lookback,
        fault_cutoff=open_ - policy.fault_declaration_cutoff,
        policy=policy,
    )


def current_deadline(
    proving_period_offset: int, current_epoch: int, policy: Policy = MAINNET
) -> DeadlineInfo:
    """The deadline in progress at ``current_epoch`` for a miner whose
    proving periods start at ``offset`` modulo the period (the actor's
    quantisation of the period start)."""
    period = policy.proving_period
    offset = proving_period_offset % period
    period_start = current_epoch - (current_epoch - offset) % period
    index = (current_epoch - period_start) // policy.challenge_window
    return deadline_info(period_start, index, current_epoch, policy)
