"""Optional TLS: server certificate, and client certificates when a client CA is set."""

from __future__ import annotations

import datetime as dt
import ipaddress

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from manager_harness import ManagerProcess
from prover._proto import manager_pb2 as pb
from prover.api.client import ApiInfo, ManagerClient


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(subject: str, key, issuer_key=None, issuer_name=None, *, ca=False, san=False):
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture
def pki(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("prover test CA", ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert("localhost", server_key, ca_key, ca.subject, san=True)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("worker-1", client_key, ca_key, ca.subject)
    files = {}
    for name, data in {
        "ca.crt": ca.public_bytes(serialization.Encoding.PEM),
        "server.crt": server.public_bytes(serialization.Encoding.PEM),
        "server.key": _pem_key(server_key),
        "client.crt": client.public_bytes(serialization.Encoding.PEM),
        "client.key": _pem_key(client_key),
    }.items():
        (tmp_path / name).write_bytes(data)
        files[name] = tmp_path / name
    return files


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
