"""The tracker: deadlines on chain become jobs, verified proofs go back as
messages, faulty sectors that prove again are declared recovered, and closed
deadlines leave a record of what was missed and why.

``loop`` runs it; ``planning``, ``submission``, ``recoveries``, ``misses``
and ``follow`` hold the rules, their pure parts tested on their own.
"""

from prover.tracker.loop import Tracker
from prover.tracker.planning import DeadlinePlan, TrackerRefused

__all__ = ["DeadlinePlan", "Tracker", "TrackerRefused"]
