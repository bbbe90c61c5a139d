"""``prover doctor``: is this host ready for its role?

One command per host checks what the role needs (the proof core and GPUs,
parameters, RAM and disks, the managers and the token, storage paths with
a real vanilla proof, the database, the chain and the clock) and says for
each ``ok``, ``warn``, ``fail`` or ``skip``, with what to do. ``checks``
holds the result type and runner, ``roles`` finds the role and its config,
``plans`` lists each role's checks, and one module per concern holds the
rules: ``host`` (the machine's readings, RAM, disks), ``params``, ``gpu``,
``network``, ``manager``, ``storage``.
"""

from prover.doctor.checks import FAIL, OK, SKIP, WARN, Check, Report
from prover.doctor.host import Readings
from prover.doctor.roles import ROLES, Options, RoleError, run_doctor

__all__ = [
    "FAIL",
    "OK",
    "ROLES",
    "SKIP",
    "WARN",
    "Check",
    "Options",
    "Readings",
    "Report",
    "RoleError",
    "run_doctor",
]
