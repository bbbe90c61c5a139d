"""The proving runs in a child process that can be killed.

Each slot of a worker owns one persistent child (started with ``spawn``, so
it inherits the pinned environment but none of the parent's threads). The
child keeps the proofs library and its parameter cache warm between jobs.
When the manager orders a job stopped, or the child crashes or runs out of
memory, the slot kills it, starts a fresh one, and the worker lives on.

The SNARK runs under a per-GPU file lock (``flock`` in the worker's TMPDIR),
so that with two slots one job's vanilla proofs (disk) proceed while the
other's SNARK holds the GPU; a killed child releases the lock with its
file descriptors.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prover.logs import get_logger, inherit_logging
from prover.proofs.layout import SectorRef
from prover.proofs.types import SectorReplica
from prover.storage.remote import HostAddress
from prover.worker.outcome import OutcomeKind

log = get_logger("prover.worker.compute")


@dataclass(frozen=True)
class ComputeSettings:
    lock_path: Path
    parallelism: int | None
    sector_timeout: float | None


@dataclass(frozen=True)
class Task:
    """One partition to prove, as the child receives it (pickled): the job's
    facts and its sectors' files on this machine, skipped ones left out."""

    proof_type: int  # chain id
    randomness: bytes  # as drawn from the chain; masked in the child
    miner: int
    partition: int
    replicas: list[SectorReplica]
    # sectors whose vanilla proofs come from storage hosts, and those hosts
    remote: list[SectorRef] = field(default_factory=list)
    hosts: list[HostAddress] = field(default_factory=list)
    token: str = ""  # the worker token, which storage hosts take too
    ca_file: str | None = None


@dataclass
class Outcome:
    kind: OutcomeKind  # FAILED comes with its reason, STOPPED with the stop order's
    proof: bytes = b""
    faulty: dict[int, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    # what the SNARK did with the GPU (prover.proofs.gpuuse.SnarkGpu.as_dict)
    gpu: dict = field(default_factory=dict)

    @property
    def gpu_fallback(self) -> str:
        """Why a GPU build's SNARK ran on the CPU; "" when it did not."""
        return str(self.gpu.get("fallback") or "")


class GpuLock(contextlib.AbstractContextManager):
    """An exclusive flock: one SNARK at a time on this worker's GPU."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _die_with_parent() -> None:
    """If the worker is killed (kill -9), its compute child goes too instead
    of finishing a proof nobody will collect. (PR_SET_PDEATHSIG would fire
    when the spawning *thread* ends, and slots respawn children from job
    threads, so a watchdog on the parent pid it is.)"""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main(conn, settings: ComputeSettings) -> None:
    """Runs in the child: prove each task sent, answer with the outcome."""
    _die_with_parent()
    inherit_logging()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from prover.proofs import (
        PartitionUnprovable,
        PoStProofType,
        ProofError,
        mask_randomness,
        prove_partition,
        prover_id,
    )
    from prover.storage.remote import HostChannels, RemoteVanilla, fetch_for

    lock = GpuLock(settings.lock_path)
    # connections to storage hosts, kept from one task to the next: a new
    # one costs round trips that every partition would otherwise pay, and a
    # host that stopped answering is remembered (logged once, not per task)
    channels = HostChannels()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task: Task = conn.recv()
        except EOFError:
            return
        remote = None
        try:
            fetch = None
            if task.remote:
                remote = RemoteVanilla(
                    task.hosts,
                    task.token,
                    sector_timeout_s=settings.sector_timeout or 300.0,
                    ca_file=task.ca_file,
                    channels=channels,
                )
                fetch = fetch_for(remote, task.miner, task.proof_type, task.remote)
            result = prove_partition(
                PoStProofType.from_chain_id(task.proof_type),
                mask_randomness(task.randomness),
                prover_id(task.miner),
                task.replicas,
                task.partition,
                parallelism=settings.parallelism,
                sector_timeout=settings.sector_timeout,
                snark_guard=lock,
                remote=[(s.id, s.comm_r) for s in task.remote],
                fetch_remote=fetch,
            )
            gpu = result.gpu.as_dict() if result.gpu is not None else {}
            conn.send((OutcomeKind.OK, result.proof, result.faults, result.timings.as_dict(), gpu))
        except PartitionUnprovable as exc:
            conn.send((OutcomeKind.FAILED, str(exc), exc.faults))
        except ProofError as exc:
            conn.send((OutcomeKind.FAILED, f"{type(exc).__name__}: {exc}", {}))
        except Exception as exc:
            conn.send((OutcomeKind.FAILED, f"unexpected {type(exc).__name__}: {exc}", {}))
        finally:
            if remote is not None:
                remote.close()


class ComputeSlot:
    def __init__(self, index: int, settings: ComputeSettings) -> None:
        self.index = index
        self.settings = settings
        self._ctx = mp.get_context("spawn")
        self.proc = None
        self.conn = None
        self.pid: int | None = None
        self._start()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self.proc = self._ctx.Process(
            target=_child_main, args=(child, self.settings), name=f"prover-compute-{self.index}"
        )
        self.proc.daemon = True
        self.proc.start()
        child.close()
        self.conn = parent
        _kind, pid = self.conn.recv()
        self.pid = pid
        log.info("compute_started", slot=self.index, pid=pid)

    def _restart(self) -> None:
        self.kill()
        self._start()

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.join(10)
        if self.conn is not None:
            self.conn.close()

    def _death(self) -> str:
        self.proc.join(5)
        code = self.proc.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            hint = " (killed, or out of memory)" if -code == signal.SIGKILL else ""
            return f"compute process died from {name}{hint}"
        return f"compute process exited with code {code}"

    def prove(self, task: Task, stop_reason: Callable[[], str | None]) -> Outcome:
        """Runs one task; returns when it is done, failed, or must stop."""
        try:
            self.conn.send(task)
        except (BrokenPipeError, OSError):
            reason = self._death()
            self._restart()
            return Outcome(OutcomeKind.FAILED, reason=reason)
        while True:
            try:
                ready = self.conn.poll(0.1)
            except (EOFError, OSError):
                ready = False
            if ready:
                try:
                    msg = self.conn.recv()
                except (EOFError, OSError):
                    reason = self._death()
                    self._restart()
                    return Outcome(OutcomeKind.FAILED, reason=reason)
                if msg[0] == OutcomeKind.OK:
                    _, proof, faulty, timings, gpu = msg
                    return Outcome(
                        OutcomeKind.OK, proof=proof, faulty=faulty, timings=timings, gpu=gpu
                    )
                _, reason, faulty = msg
                return Outcome(OutcomeKind.FAILED, faulty=faulty, reason=reason)
            if not self.proc.is_alive():
                reason = self._death()
                self._restart()
                return Outcome(OutcomeKind.FAILED, reason=reason)
            why = stop_reason()
            if why:
                log.info("compute_killed", slot=self.index, pid=self.pid, reason=why)
                self._restart()
                return Outcome(OutcomeKind.STOPPED, reason=why)
