"""HTTPS with a pinned address: the certificate is checked against the name, via SNI."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.errors import FetchError
from certmgr.fetch import HttpFetcher
from certmgr.fetch.testserver import LoopbackServer, Reply
from tests.fetch.conftest import T0


def _self_signed(name: str, directory: Path) -> tuple[Path, Path, bytes]:
    """A throw-away TEST key and certificate for `name`, written under `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_path = directory / f"{name}.TEST-KEY.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path = directory / f"{name}.pem"
    cert_path.write_bytes(cert_pem)
    return cert_path, key_path, cert_pem


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LoopbackServer, bytes]]:
    cert_path, key_path, cert_pem = _self_signed("crl.test", tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    with LoopbackServer(tls=context) as server:
        server.route("/c", Reply(body=b"over tls"))
        yield server, cert_pem


def _fetcher(cert_pem: bytes, sleeps: list[float]) -> HttpFetcher:
    client_context = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    return HttpFetcher(now=lambda: T0, sleep=sleeps.append, verify=client_context,
                       resolver=lambda host, port: ["127.0.0.1"])


def test_name_is_sent_as_sni_and_verified(tls_server: tuple[LoopbackServer, bytes]) -> None:
    server, cert_pem = tls_server
    with _fetcher(cert_pem, []) as fetcher:
        result = fetcher.fetch(server.url("/c", host="crl.test"),
                               policy=server.policy(hosts=["crl.test"]))
    assert result.body == b"over tls"
    assert server.server_names == ["crl.test"]
    assert server.requests[0].header("host") == f"crl.test:{server.port}"


def test_certificate_for_another_name_refused_without_retry(
        tls_server: tuple[LoopbackServer, bytes]) -> None:
    server, cert_pem = tls_server
    sleeps: list[float] = []
    url = server.url("/c", host="other.test")
    with _fetcher(cert_pem, sleeps) as fetcher, \
            pytest.raises(FetchError, match="TLS certificate refused") as info:
        fetcher.fetch(url, policy=server.policy(hosts=["other.test"]))
    assert url in str(info.value)
    assert server.server_names == ["other.test"]
    assert (server.requests, sleeps) == ([], [])
