"""Optional TLS: server certificate, and client certificates when a client CA is set."""

from __future__ import annotations

import grpc
import pytest
from pki import make_pki

from manager_harness import ManagerProcess
from prover._proto import manager_pb2 as pb
from prover.api.client import ApiInfo, ManagerClient


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path)


def _tls_manager(tmp_path, pki, client_ca: bool) -> ManagerProcess:
    tls = f'[api.tls]\ncert = "{pki["server.crt"]}"\nkey = "{pki["server.key"]}"\n'
    if client_ca:
        tls += f'client_ca = "{pki["ca.crt"]}"\n'
    marker = "[api.tls]\n"
    m = ManagerProcess(tmp_path / "home", replace={marker: tls})
    return m.start()


def _status(client: ManagerClient):
    return client.call(client.admin.Status, pb.StatusRequest(), timeout=5)


def test_tls_server_certificate(tmp_path, pki):
    m = _tls_manager(tmp_path, pki, client_ca=False)
    try:
        info = ApiInfo(m.token("admin"), f"localhost:{m.port}")
        assert _status(ManagerClient(info, ca_file=pki["ca.crt"])).version
        with pytest.raises(grpc.RpcError) as plain:
            _status(ManagerClient(info))  # plaintext to a TLS port
        assert plain.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        m.kill()


def test_tls_client_certificates_when_a_client_ca_is_set(tmp_path, pki):
    m = _tls_manager(tmp_path, pki, client_ca=True)
    try:
        info = ApiInfo(m.token("admin"), f"localhost:{m.port}")
        with pytest.raises(grpc.RpcError) as refused:
            _status(ManagerClient(info, ca_file=pki["ca.crt"]))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        pair = (pki["client.key"].read_bytes(), pki["client.crt"].read_bytes())
        assert _status(ManagerClient(info, ca_file=pki["ca.crt"], client_cert=pair)).version
    finally:
        m.kill()
