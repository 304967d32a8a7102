"""A throwaway TLS PKI for the channel tests: a CA, a 127.0.0.1 server cert, a client cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_NOW = dt.datetime.now(dt.UTC)  # real TLS stacks check validity against the real clock


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, *, issuer: str,
          issuer_key: ec.EllipticCurvePrivateKey, ca: bool,
          eku: x509.ObjectIdentifier | None = None, ip: bool = False) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(_NOW - dt.timedelta(hours=1))
               .not_valid_after(_NOW + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False), critical=True)
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None,
           key_path: Path | None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None and key_path is not None:
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))


def make_tls_files(directory: Path, *, ca_name: str = "certmgr test CA") -> TlsFiles:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(ca_name, ca_key, issuer=ca_name, issuer_key=ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert("127.0.0.1", server_key, issuer=ca_name, issuer_key=ca_key, ca=False,
                   eku=ExtendedKeyUsageOID.SERVER_AUTH, ip=True)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("bal.appli@hopital.mssante.fr", client_key, issuer=ca_name,
                   issuer_key=ca_key, ca=False, eku=ExtendedKeyUsageOID.CLIENT_AUTH)
    files = TlsFiles(ca=directory / "ca.pem", server_cert=directory / "server.pem",
                     server_key=directory / "server.TEST-KEY.pem",
                     client_cert=directory / "client.pem",
                     client_key=directory / "client.TEST-KEY.pem")
    _write(files.ca, ca, None, None)
    _write(files.server_cert, server, server_key, files.server_key)
    _write(files.client_cert, client, client_key, files.client_key)
    return files
