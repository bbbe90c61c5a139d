"""Children that die with their parent: how ``prover demo`` starts its
daemons, so that none is left running when the demo is gone, whatever
ended it.

Each child is started through this module (``python -m
prover.cli.children PARENT_PID -- ARGV...``), which asks Linux for a
parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGTERM)``) and then execs
the daemon in its place (same pid, same command line in ``ps``). The
setting survives the exec, so the kernel sends the daemon SIGTERM the
moment the demo ends: after a ``kill -9`` of the demo, an out-of-memory
kill, a crash, or a second Ctrl-C during its shutdown. SIGTERM is each
daemon's clean stop (a storage host detaches from a miner's index, a
worker hands its jobs back), so even then they stop as they would under
systemd.

Why this and not the alternatives:

* ``preexec_fn`` calling prctl would do the same without the extra exec,
  but Python documents it as unsafe where threads run, and the demo
  restarts a child that exited while its gRPC client's threads run.
  Here prctl runs after the exec, in a fresh single-threaded interpreter.
* A process group alone cannot do it: a ``kill -9`` of the demo's pid
  sends nothing to any group, so the children would need someone else to
  signal their group. The children keep groups of their own (``Popen``'s
  ``process_group=0``), so that a Ctrl-C at the terminal reaches only the
  demo, which stops them in order (workers first, the manager last).
* Children watching their parent would need a watcher in every daemon,
  which also run under systemd, where their parent is init.

The death signal follows the *thread* that forked: the demo starts (and
restarts) every child from its main thread, which lives as long as the
demo. The check of the parent's pid after prctl closes the window in which
the demo died before the child had asked. Elsewhere than on Linux there is
no prctl: the child is run as it is (and outlives a kill -9 of the demo).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# the parent was gone before the child asked for its death signal: nothing to run for
ORPHANED_EXIT = 3


def dies_with_this_process(argv: list[str]) -> list[str]:
    """``argv`` run through this module, as a child of this process that
    receives SIGTERM when this process ends."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-m", "prover.cli.children", str(os.getpid()), "--", *argv]


def set_parent_death_signal(sig: int) -> None:
    """Asks the kernel for ``sig`` when this process' parent ends."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")


def main(args: list[str]) -> None:
    """``PARENT_PID -- ARGV...``: the death signal, then ``ARGV`` in place
    of this process."""
    if len(args) < 3 or args[1] != "--" or not args[0].isdigit():
        sys.exit("usage: python -m prover.cli.children PARENT_PID -- COMMAND [ARG...]")
    parent, argv = int(args[0]), args[2:]
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # it ended before the line above: nobody will signal us
        sys.exit(ORPHANED_EXIT)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
