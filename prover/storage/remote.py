"""Vanilla proofs from the storage hosts that hold the sectors: what a GPU
worker without mounts, and the manager's checks, call.

Sectors are grouped by the hosts able to serve them (a host must attach both
the storage of the replica and that of the cache); each group is asked of
its first host in a stream of its own, all groups at once, so one
partition's proofs can come from several hosts together. A host that
refuses, breaks the stream (killed mid-request) or goes silent for
``sector_timeout_s`` (hung) is given up for that request and the sectors it
has not answered go to the next host serving them. A sector no host answers
is a fault with every host's reason: the partition is proven without it,
never lost. What a host answers for a sector (its proof, or a fault it
found reading the disk) is final.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from prover._proto import storage_pb2 as spb
from prover._proto import storage_pb2_grpc as spb_grpc
from prover.api.convert import sector_to_pb
from prover.logs import get_logger
from prover.proofs import SectorFault, SectorRef

log = get_logger("prover.storage.remote")


@dataclass(frozen=True)
class HostAddress:
    """A storage host as the manager's index names it."""

    name: str
    address: str
    storages: frozenset[str]
    tls: bool = False

    @classmethod
    def from_pb(cls, h) -> HostAddress:
        return cls(h.name, h.address, frozenset(h.storages), h.tls)

    def serves(self, sector: SectorRef) -> bool:
        return {sector.sealed_storage, sector.cache_storage} <= self.storages


@dataclass(frozen=True)
class Served:
    """One sector's answer: its proof or its fault, who answered, how long
    the host took (0 when no host answered)."""

    sector: int
    proof: bytes | None
    fault: str
    host: str
    seconds: float

    def as_result(self) -> bytes | SectorFault:
        if self.proof is not None:
            return self.proof
        return SectorFault(self.sector, f"{self.host}: {self.fault}" if self.host else self.fault)


class _Gone(Exception):
    """The host stopped answering this request (with why)."""


class RemoteVanilla:
    def __init__(
        self,
        hosts: Iterable[HostAddress],
        token: str,
        *,
        sector_timeout_s: float,
        ca_file: str | Path | None = None,
        max_message_bytes: int = 64 << 20,
        channels: dict[str, grpc.Channel] | None = None,
    ) -> None:
        self.hosts = list(hosts)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.sector_timeout_s = sector_timeout_s
        self.ca = Path(ca_file).read_bytes() if ca_file else None
        self.options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        # channels by address; given ones are shared (a compute child keeps
        # its connections from one partition to the next) and left open
        self._owned = channels is None
        self._channels: dict[str, grpc.Channel] = {} if channels is None else channels
        self._lock = threading.Lock()

    def close(self) -> None:
        if not self._owned:
            return
        with self._lock:
            for ch in self._channels.values():
                ch.close()
            self._channels.clear()

    def __enter__(self) -> RemoteVanilla:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stub(self, host: HostAddress) -> spb_grpc.StorageServiceStub:
        with self._lock:
            ch = self._channels.get(host.address)
            if ch is None:
                if host.tls:
                    creds = grpc.ssl_channel_credentials(root_certificates=self.ca)
                    ch = grpc.secure_channel(host.address, creds, options=self.options)
                else:
                    ch = grpc.insecure_channel(host.address, options=self.options)
                self._channels[host.address] = ch
        return spb_grpc.StorageServiceStub(ch)

    # ---- proving -------------------------------------------------------------------

    def prove(
        self,
        miner: int,
        proof_type: int,
        sectors: Sequence[SectorRef],
        challenges: Mapping[int, Sequence[int]],
    ) -> dict[int, Served]:
        """Every sector's answer (see the module docstring)."""
        groups: dict[tuple[str, ...], list[SectorRef]] = {}
        out: dict[int, Served] = {}
        for s in sectors:
            able = tuple(h.name for h in self.hosts if h.serves(s))
            if not able:
                storages = sorted({s.sealed_storage, s.cache_storage})
                why = f"no live storage host serves storage {', '.join(storages)}"
                out[s.id] = Served(s.id, None, why, "", 0.0)
                continue
            groups.setdefault(able, []).append(s)
        by_name = {h.name: h for h in self.hosts}
        threads = []
        lock = threading.Lock()

        def run(names: tuple[str, ...], group: list[SectorRef]) -> None:
            got = self._group(miner, proof_type, [by_name[n] for n in names], group, challenges)
            with lock:
                out.update(got)

        for names, group in groups.items():
            t = threading.Thread(target=run, args=(names, group), name="vanilla-host", daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        return out

    def _group(
        self,
        miner: int,
        proof_type: int,
        hosts: list[HostAddress],
        group: list[SectorRef],
        challenges: Mapping[int, Sequence[int]],
    ) -> dict[int, Served]:
        out: dict[int, Served] = {}
        left = {s.id: s for s in group}
        errors = []
        for host in hosts:
            if not left:
                break
            try:
                self._ask(host, miner, proof_type, list(left.values()), challenges, out)
            except _Gone as gone:
                errors.append(f"{host.name}: {gone}")
                log.warning(
                    "storage_host_failed",
                    host=host.name,
                    address=host.address,
                    error=str(gone),
                    sectors_left=len(set(left) - set(out)),
                )
            for n in out:
                left.pop(n, None)
        for n in left:
            why = "no storage host answered: " + "; ".join(errors)
            out[n] = Served(n, None, why, "", 0.0)
        return out

    def _ask(
        self,
        host: HostAddress,
        miner: int,
        proof_type: int,
        sectors: list[SectorRef],
        challenges: Mapping[int, Sequence[int]],
        out: dict[int, Served],
    ) -> None:
        """Streams one host's answers into ``out``; raises ``_Gone`` when it
        stops short (refused, broken, silent past the sector timeout)."""
        req = spb.VanillaRequest(
            miner=miner,
            proof_type=proof_type,
            sectors=[
                spb.ChallengedSector(sector=sector_to_pb(s), challenges=list(challenges[s.id]))
                for s in sectors
            ],
        )
        call = self.stub(host).VanillaProofs(req, metadata=self.metadata)
        answers: queue.Queue = queue.Queue()

        def pump() -> None:  # the stream, read in a thread so silence can be timed
            try:
                for r in call:
                    answers.put(r)
                answers.put(None)
            except grpc.RpcError as exc:
                answers.put(exc)

        threading.Thread(target=pump, name="vanilla-stream", daemon=True).start()
        wanted = {s.id for s in sectors}
        try:
            while wanted - set(out):
                try:
                    r = answers.get(timeout=self.sector_timeout_s)
                except queue.Empty:
                    raise _Gone(f"no answer for {self.sector_timeout_s:g} s") from None
                if r is None:
                    missing = len(wanted - set(out))
                    raise _Gone(f"the stream ended with {missing} sectors unanswered")
                if isinstance(r, grpc.RpcError):
                    raise _Gone(f"{r.code().name}: {r.details()}")
                if r.sector not in wanted:
                    continue  # not ours to take
                proof = bytes(r.proof) if not r.fault else None
                out[r.sector] = Served(r.sector, proof, r.fault, host.name, r.seconds)
        finally:
            call.cancel()


def fetch_for(remote: RemoteVanilla, miner: int, proof_type: int, sectors: Sequence[SectorRef]):
    """A ``prove_partition`` ``fetch_remote`` over ``remote`` for these sectors."""
    by_id = {s.id: s for s in sectors}

    def fetch(challenges: Mapping[int, Sequence[int]]) -> dict[int, bytes | SectorFault]:
        began = time.perf_counter()
        served = remote.prove(miner, proof_type, [by_id[n] for n in challenges], challenges)
        log.info(
            "remote_vanilla_done",
            sectors=len(served),
            faulty=sum(1 for s in served.values() if s.proof is None),
            hosts=sorted({s.host for s in served.values() if s.host}),
            seconds=round(time.perf_counter() - began, 3),
        )
        return {n: s.as_result() for n, s in served.items()}

    return fetch
