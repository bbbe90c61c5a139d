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

A host that stops altogether (SIGSTOP, a frozen machine, a cut network)
would only be noticed when ``sector_timeout_s`` ran out, minutes into a
deadline's window: the channels ping their hosts (gRPC keepalive, as the
managers' channels do), so such a host's stream fails in a few seconds and
it is given up as "not answering (keepalive)". ``HostChannels``, which a
compute child keeps from one partition to the next, remembers it: later
requests wait a moment for its connection to be ready again rather than
for a whole keepalive window, and the host is asked again as soon as it
answers. Each host going silent and answering again is logged once, not
per partition or sector. A live host whose disk hangs still answers pings:
its own ``sector_timeout_s`` answers those reads as faults.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from prover._proto import storage_pb2 as spb
from prover._proto import storage_pb2_grpc as spb_grpc
from prover.api.convert import sector_to_pb
from prover.api.keepalive import CLIENT_KEEPALIVE_OPTIONS
from prover.logs import get_logger
from prover.proofs import SectorFault, SectorRef

log = get_logger("prover.storage.remote")

NOT_ANSWERING = "not answering (keepalive)"
# How long a request waits for the connection to a host last found not
# answering before giving it up again: a host that is back connects in
# milliseconds, and one still hung costs each partition no more than this
# (a new stream to it would cost a keepalive window, about 4 s).
RECHECK_S = 2.0


def _keepalive_failed(exc: grpc.RpcError) -> bool:
    """Whether the call failed because the host stopped answering pings
    (gRPC says "ping timeout"; older releases "keepalive watchdog timeout")."""
    details = (exc.details() or "").lower()
    return exc.code() == grpc.StatusCode.UNAVAILABLE and (
        "ping timeout" in details or "keepalive" in details
    )


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
    """The host stopped answering this request (with why; ``silent`` when it
    failed its pings, with gRPC's own words in ``detail``)."""

    def __init__(self, why: str, *, detail: str = "", silent: bool = False) -> None:
        super().__init__(why)
        self.detail = detail or why
        self.silent = silent


class HostChannels:
    """Channels to storage hosts by address, and which hosts last failed
    their pings. Shared by the ``RemoteVanilla`` of successive partitions
    (a compute child keeps one), so connections are reused, and a host that
    hung is logged once when it goes silent and once when it answers again
    rather than by every partition."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.channels: dict[str, grpc.Channel] = {}
        self.silent: dict[str, float] = {}  # address -> monotonic time its pings failed

    def get(self, address: str, make: Callable[[], grpc.Channel]) -> grpc.Channel:
        with self.lock:
            ch = self.channels.get(address)
            if ch is None:
                ch = self.channels[address] = make()
        return ch

    def is_silent(self, address: str) -> bool:
        with self.lock:
            return address in self.silent

    def went_silent(self, host: HostAddress, error: str, sectors_left: int) -> None:
        with self.lock:
            if host.address in self.silent:
                return
            self.silent[host.address] = time.monotonic()
        log.warning(
            "storage_host_not_answering",
            host=host.name,
            address=host.address,
            error=error,
            sectors_left=sectors_left,
        )

    def answers(self, host: HostAddress) -> None:
        with self.lock:
            since = self.silent.pop(host.address, None)
        if since is not None:
            log.info(
                "storage_host_answers_again",
                host=host.name,
                address=host.address,
                silent_s=round(time.monotonic() - since, 1),
            )

    def close(self) -> None:
        with self.lock:
            for ch in self.channels.values():
                ch.close()
            self.channels.clear()
            self.silent.clear()


class RemoteVanilla:
    def __init__(
        self,
        hosts: Iterable[HostAddress],
        token: str,
        *,
        sector_timeout_s: float,
        ca_file: str | Path | None = None,
        max_message_bytes: int = 64 << 20,
        channels: HostChannels | None = None,
    ) -> None:
        self.hosts = list(hosts)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.sector_timeout_s = sector_timeout_s
        self.ca = Path(ca_file).read_bytes() if ca_file else None
        self.options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 1000),
            # a hung host fails its stream in about 4 s, not sector_timeout_s
            *CLIENT_KEEPALIVE_OPTIONS,
        ]
        # given channels are shared (a compute child keeps its connections,
        # and what it saw of each host, from one partition to the next) and
        # left open
        self._owned = channels is None
        self._channels = HostChannels() if channels is None else channels

    def close(self) -> None:
        if self._owned:
            self._channels.close()

    def __enter__(self) -> RemoteVanilla:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def channel(self, host: HostAddress) -> grpc.Channel:
        def make() -> grpc.Channel:
            if host.tls:
                creds = grpc.ssl_channel_credentials(root_certificates=self.ca)
                return grpc.secure_channel(host.address, creds, options=self.options)
            return grpc.insecure_channel(host.address, options=self.options)

        return self._channels.get(host.address, make)

    def stub(self, host: HostAddress) -> spb_grpc.StorageServiceStub:
        return spb_grpc.StorageServiceStub(self.channel(host))

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
                unanswered = len(set(left) - set(out))
                if gone.silent:
                    # logged once a silence (HostChannels), not by each partition
                    self._channels.went_silent(host, gone.detail, unanswered)
                else:
                    log.warning(
                        "storage_host_failed",
                        host=host.name,
                        address=host.address,
                        error=str(gone),
                        sectors_left=unanswered,
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
        stops short (refused, broken, silent past the sector timeout, not
        answering pings)."""
        channel = self.channel(host)
        if self._channels.is_silent(host.address):
            # its pings failed before: ask only once it is connected again
            ready = grpc.channel_ready_future(channel)
            try:
                ready.result(timeout=RECHECK_S)
            except grpc.FutureTimeoutError:
                again = f"not connected again within {RECHECK_S:g} s"
                raise _Gone(NOT_ANSWERING, detail=again, silent=True) from None
            finally:
                ready.cancel()
        req = spb.VanillaRequest(
            miner=miner,
            proof_type=proof_type,
            sectors=[
                spb.ChallengedSector(sector=sector_to_pb(s), challenges=list(challenges[s.id]))
                for s in sectors
            ],
        )
        call = spb_grpc.StorageServiceStub(channel).VanillaProofs(req, metadata=self.metadata)
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
                if isinstance(r, grpc.RpcError):
                    details = f"{r.code().name}: {r.details()}"
                    if _keepalive_failed(r):
                        raise _Gone(NOT_ANSWERING, detail=details, silent=True)
                    raise _Gone(details)
                self._channels.answers(host)
                if r is None:
                    missing = len(wanted - set(out))
                    raise _Gone(f"the stream ended with {missing} sectors unanswered")
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
