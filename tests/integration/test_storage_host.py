"""Storage hosts in process, over real gRPC on loopback, with real sectors:
vanilla proofs read where the disks are come back and verify; a wrong
token, a storage the host does not attach, a missing or corrupt sector are
each answered plainly; a host that hangs or breaks off mid-request is
failed over, and a sector nobody answers is a fault, never a lost
partition."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from conftest import KIB2, MINER
from prover._proto import storage_pb2 as spb
from prover._proto import storage_pb2_grpc as spb_grpc
from prover.api.client import ApiInfo
from prover.api.convert import sector_to_pb
from prover.config import StorageConfig
from prover.proofs import (
    SectorRef,
    generate_challenges,
    prove_partition,
    verify_window_post,
)
from prover.storage.config import StorageHostConfig
from prover.storage.daemon import StorageHost
from prover.storage.remote import HostAddress, RemoteVanilla, fetch_for

TOKEN = "worker.0123456789abcdef"
NO_MANAGER = ApiInfo(TOKEN, "127.0.0.1:9")  # announcing fails quietly: not under test here


def start_host(name: str, storages: dict, **settings) -> StorageHost:
    cfg = StorageHostConfig(
        name=name,
        listen="127.0.0.1:0",
        storage=[StorageConfig(name=n, path=p) for n, p in storages.items()],
        **settings,
    )
    return StorageHost(cfg, NO_MANAGER).start()


def address(host: StorageHost) -> HostAddress:
    return HostAddress(host.config.name, f"127.0.0.1:{host.port}", frozenset(host.config.storages))


def refs(replicas, storage: str) -> list[SectorRef]:
    return [SectorRef(r.sector_id, r.comm_r, storage, storage) for r in replicas]


@pytest.fixture
def two_stores(make_sectors, tmp_path):
    a = make_sectors([1, 2], root=tmp_path / "a")
    b = make_sectors([3, 4], root=tmp_path / "b")
    return {"store-a": tmp_path / "a", "store-b": tmp_path / "b"}, a, b


def test_a_partition_on_two_hosts_proves_and_verifies(two_stores, randomness, pid):
    roots, a, b = two_stores
    ha = start_host("host-a", {"store-a": roots["store-a"]})
    hb = start_host("host-b", {"store-b": roots["store-b"]})
    try:
        sectors = refs(a[:1], "store-a") + refs(b[:1], "store-b")  # a 2KiB partition: 2
        with RemoteVanilla([address(ha), address(hb)], TOKEN, sector_timeout_s=30) as remote:
            proof = prove_partition(
                KIB2,
                randomness,
                pid,
                [],
                0,
                remote=[(s.id, s.comm_r) for s in sectors],
                fetch_remote=fetch_for(remote, MINER, KIB2.chain_id, sectors),
            )
            every = refs(a, "store-a") + refs(b, "store-b")
            challenges = generate_challenges(KIB2, randomness, pid, [1, 2, 3, 4])
            served = remote.prove(MINER, KIB2.chain_id, every, challenges)
        assert proof.skipped == []
        assert verify_window_post(
            KIB2, randomness, pid, [(s.id, s.comm_r) for s in sectors], proof.proof
        )
        assert {n: s.host for n, s in served.items()} == {
            1: "host-a",
            2: "host-a",
            3: "host-b",
            4: "host-b",
        }
        assert all(s.seconds > 0 for s in served.values())
    finally:
        ha.stop()
        hb.stop()


def test_local_and_remote_sectors_in_one_partition(two_stores, randomness, pid):
    roots, a, b = two_stores
    hb = start_host("host-b", {"store-b": roots["store-b"]})
    try:
        remote_refs = refs(b[:1], "store-b")
        with RemoteVanilla([address(hb)], TOKEN, sector_timeout_s=30) as remote:
            proof = prove_partition(
                KIB2,
                randomness,
                pid,
                a[:1],
                0,
                remote=[(s.id, s.comm_r) for s in remote_refs],
                fetch_remote=fetch_for(remote, MINER, KIB2.chain_id, remote_refs),
            )
        public = [a[0].public] + [(s.id, s.comm_r) for s in remote_refs]
        assert verify_window_post(KIB2, randomness, pid, sorted(public), proof.proof)
    finally:
        hb.stop()


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_missing_or_corrupt_sector_is_a_fault_and_the_rest_proves(
    two_stores, randomness, pid, damage
):
    roots, a, _ = two_stores
    if damage == "missing":
        a[1].sealed_path.unlink()
    else:
        a[1].sealed_path.write_bytes(a[1].sealed_path.read_bytes()[:100])
    ha = start_host("host-a", {"store-a": roots["store-a"]})
    try:
        sectors = refs(a, "store-a")
        with RemoteVanilla([address(ha)], TOKEN, sector_timeout_s=30) as remote:
            proof = prove_partition(
                KIB2,
                randomness,
                pid,
                [],
                0,
                remote=[(s.id, s.comm_r) for s in sectors],
                fetch_remote=fetch_for(remote, MINER, KIB2.chain_id, sectors),
            )
        assert proof.skipped == [2]
        assert proof.faults[2]
        assert verify_window_post(KIB2, randomness, pid, [a[0].public], proof.proof)
    finally:
        ha.stop()


def _ask(host: StorageHost, token: str, sector: SectorRef):
    channel = grpc.insecure_channel(f"127.0.0.1:{host.port}")
    stub = spb_grpc.StorageServiceStub(channel)
    req = spb.VanillaRequest(
        miner=MINER,
        proof_type=KIB2.chain_id,
        sectors=[spb.ChallengedSector(sector=sector_to_pb(sector), challenges=[1, 2])],
    )
    try:
        return list(stub.VanillaProofs(req, metadata=(("authorization", f"Bearer {token}"),)))
    finally:
        channel.close()


def test_a_wrong_token_and_an_unknown_storage_are_refused_plainly(two_stores):
    roots, a, _ = two_stores
    ha = start_host("host-a", {"store-a": roots["store-a"]})
    try:
        with pytest.raises(grpc.RpcError) as refused:
            _ask(ha, "worker.wrong", refs(a, "store-a")[0])
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "invalid token" in refused.value.details()
        with pytest.raises(grpc.RpcError) as unknown:
            _ask(ha, TOKEN, SectorRef(1, a[0].comm_r, "store-z", "store-z"))
        assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "storage store-z is not attached on storage host host-a" in unknown.value.details()
        assert "it attaches store-a" in unknown.value.details()
        (ok,) = _ask(ha, TOKEN, refs(a, "store-a")[0])
        assert ok.proof and not ok.fault
    finally:
        ha.stop()


class Hanging(spb_grpc.StorageServiceServicer):
    """A host that takes requests and never answers, or answers one sector
    and then breaks the stream (a host killed mid-request)."""

    def __init__(self, answer_one: bool = False, served_by: StorageHost | None = None) -> None:
        self.answer_one = answer_one
        self.real = served_by
        self.asked = threading.Event()

    def VanillaProofs(self, request, context):
        self.asked.set()
        if self.answer_one:
            first = spb.VanillaRequest(
                miner=request.miner, proof_type=request.proof_type, sectors=request.sectors[:1]
            )
            yield from self.real.servicer.VanillaProofs(first, context)
            context.abort(grpc.StatusCode.UNAVAILABLE, "host killed")
        while context.is_active():
            time.sleep(0.05)


def fake_host(servicer) -> tuple[grpc.Server, int]:
    server = grpc.server(ThreadPoolExecutor(4))
    spb_grpc.add_StorageServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_a_hung_host_is_failed_over_within_the_timeout(two_stores, randomness, pid):
    roots, a, _ = two_stores
    hung = Hanging()
    server, port = fake_host(hung)
    good = start_host("host-good", {"store-a": roots["store-a"]})
    try:
        hosts = [
            HostAddress("host-hung", f"127.0.0.1:{port}", frozenset({"store-a"})),
            address(good),
        ]
        sectors = refs(a, "store-a")
        challenges = generate_challenges(KIB2, randomness, pid, [1, 2])
        with RemoteVanilla(hosts, TOKEN, sector_timeout_s=1.0) as remote:
            began = time.monotonic()
            served = remote.prove(MINER, KIB2.chain_id, sectors, challenges)
        assert hung.asked.is_set()
        assert time.monotonic() - began < 10
        assert {s.host for s in served.values()} == {"host-good"}
        assert all(s.proof for s in served.values())
    finally:
        server.stop(0)
        good.stop()


def test_a_host_killed_mid_request_hands_its_rest_to_another(two_stores, randomness, pid):
    roots, a, _ = two_stores
    good = start_host("host-good", {"store-a": roots["store-a"]})
    breaking = Hanging(answer_one=True, served_by=good)
    server, port = fake_host(breaking)
    try:
        hosts = [
            HostAddress("host-dies", f"127.0.0.1:{port}", frozenset({"store-a"})),
            address(good),
        ]
        sectors = refs(a, "store-a")
        challenges = generate_challenges(KIB2, randomness, pid, [1, 2])
        with RemoteVanilla(hosts, TOKEN, sector_timeout_s=5.0) as remote:
            served = remote.prove(MINER, KIB2.chain_id, sectors, challenges)
        assert sorted(s.host for s in served.values()) == ["host-dies", "host-good"]
        assert all(s.proof for s in served.values())
    finally:
        server.stop(0)
        good.stop()


def test_sectors_nobody_answers_are_faults_naming_every_host(two_stores, randomness, pid):
    _roots, a, _ = two_stores
    hung = Hanging()
    server, port = fake_host(hung)
    try:
        hosts = [
            HostAddress("host-hung", f"127.0.0.1:{port}", frozenset({"store-a"})),
            HostAddress("host-gone", "127.0.0.1:9", frozenset({"store-a"})),
        ]
        sectors = [*refs(a, "store-a"), SectorRef(5, bytes(32), "store-x", "store-x")]
        challenges = generate_challenges(KIB2, randomness, pid, [1, 2, 5])
        with RemoteVanilla(hosts, TOKEN, sector_timeout_s=1.0) as remote:
            served = remote.prove(MINER, KIB2.chain_id, sectors, challenges)
        assert served[5].fault == "no live storage host serves storage store-x"
        for n in (1, 2):
            assert served[n].proof is None
            assert "host-hung: no answer for 1 s" in served[n].fault
            assert "host-gone: UNAVAILABLE" in served[n].fault
    finally:
        server.stop(0)


def test_a_storage_host_counts_its_reads_on_its_metrics_listener(two_stores, randomness, pid):
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    roots, a, _ = two_stores
    a[1].sealed_path.unlink()
    ha = start_host("host-a", {"store-a": roots["store-a"]}, metrics_listen="127.0.0.1:0")
    try:
        challenges = generate_challenges(KIB2, randomness, pid, [1, 2])
        with RemoteVanilla([address(ha)], TOKEN, sector_timeout_s=30) as remote:
            remote.prove(MINER, KIB2.chain_id, refs(a, "store-a"), challenges)
        text = httpx.get(f"http://{ha.http.address}/metrics", timeout=10).text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }

        def value(name, **labels):
            return samples.get((name, tuple(sorted({"host": "host-a", **labels}.items()))), 0)

        count = "prover_storage_read_seconds_count"
        assert value(count, storage="store-a", result="good") == 1
        assert value(count, storage="store-a", result="fault") == 1
        assert value("prover_storage_requests_total", result="done") == 1
        assert value("prover_storage_reads_hung") == 0
    finally:
        ha.stop()


def test_lotus_reads_a_vanilla_proof_through_its_remote_vanilla_single(two_stores, randomness, pid):
    """POST /remote/vanilla/single in Lotus' SingleVanillaParams shape."""
    import httpx

    from prover.chain.encoding import sealed_cid
    from prover.proofs import verify_vanilla_proof

    roots, a, _ = two_stores
    a[1].sealed_path.write_bytes(a[1].sealed_path.read_bytes()[:100])  # sector 2 corrupt
    ha = start_host(
        "host-a", {"store-a": roots["store-a"]}, lotus_listen="127.0.0.1:0", lotus_token="jwt-1"
    )
    url = f"http://{ha.http.address}/remote/vanilla/single"
    challenges = generate_challenges(KIB2, randomness, pid, [1, 2, 7])

    def ask(n: int, comm_r: bytes, token: str = "jwt-1", body: object = None):
        params = {
            "Miner": MINER,
            "Sector": {
                "SealProof": 5,
                "SectorNumber": n,
                "SealedCID": {"/": sealed_cid(comm_r)},
                "Challenge": challenges[n],
                "Update": False,
            },
            "ProofType": KIB2.chain_id,
        }
        return httpx.post(
            url,
            content=json.dumps(params if body is None else body),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    try:
        got = ask(1, a[0].comm_r)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "application/octet-stream"
        assert verify_vanilla_proof(KIB2, randomness, pid, a[0].public, got.content)
        corrupt = ask(2, a[1].comm_r)
        assert corrupt.status_code == 500 and "is 100 bytes, expected 2048" in corrupt.text
        assert ask(7, a[0].comm_r).status_code == 404  # Lotus asks the next URL then
        wrong = ask(1, a[0].comm_r, token="jwt-2")
        assert wrong.status_code == 401 and "lotus_token" in wrong.text
        bad = ask(1, a[0].comm_r, body={"Miner": MINER})
        assert bad.status_code == 400 and "SingleVanillaParams" in bad.text
        assert httpx.get(url, timeout=10).status_code == 405
    finally:
        ha.stop()


def test_a_storage_host_serving_tls_is_read_with_its_ca_and_refused_without(
    two_stores, randomness, pid, tmp_path
):
    from pki import make_pki

    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    roots, a, _ = two_stores
    ha = start_host(
        "host-a",
        {"store-a": roots["store-a"]},
        tls_cert=pki["server.crt"],
        tls_key=pki["server.key"],
    )
    try:
        host = HostAddress("host-a", f"localhost:{ha.port}", frozenset({"store-a"}), tls=True)
        challenges = generate_challenges(KIB2, randomness, pid, [1, 2])
        sectors = refs(a, "store-a")
        with RemoteVanilla([host], TOKEN, sector_timeout_s=10, ca_file=pki["ca.crt"]) as remote:
            served = remote.prove(MINER, KIB2.chain_id, sectors, challenges)
        assert all(s.proof for s in served.values())
        # not signed by a CA the caller trusts: nothing is read, and it says why
        with RemoteVanilla([host], TOKEN, sector_timeout_s=5) as remote:
            refused = remote.prove(MINER, KIB2.chain_id, sectors, challenges)
        assert all(s.proof is None and "host-a: UNAVAILABLE" in s.fault for s in refused.values())
    finally:
        ha.stop()
