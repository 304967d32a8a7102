"""Builders for the pki-core tests: certificates made on the fly with cryptography."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# `shared/` sits beside the repository (in CI too, beside the fresh clone)
IGC = next((p for p in (Path(__file__).resolve().parents[2].parent / "shared" / "igc-sante",
                        Path("/work/shared/igc-sante")) if p.is_dir()),
           Path("/work/shared/igc-sante"))

_KU_ARGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)
_KU_NAMES = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
}
_EKU = {
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
}


class MakeCert(Protocol):
    def __call__(
        self,
        *,
        subject: Sequence[tuple[x509.ObjectIdentifier, str]] = ...,
        issuer: Sequence[tuple[x509.ObjectIdentifier, str]] | None = ...,
        ku: Sequence[str] = ...,
        eku: Sequence[str] = ...,
        san_email: str | None = ...,
        ca: bool = ...,
        key: rsa.RSAPrivateKey | None = ...,
        hash_alg: hashes.SHA224 | hashes.SHA256 | None = ...,
    ) -> x509.Certificate: ...


def ca_dn(cn: str, env_ou: str = "IGC-SANTE") -> list[tuple[x509.ObjectIdentifier, str]]:
    return [
        (NameOID.COUNTRY_NAME, "FR"),
        (NameOID.ORGANIZATION_NAME, "ASIP-SANTE"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "0002 187512751"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, env_ou),
        (NameOID.COMMON_NAME, cn),
    ]


def leaf_dn(ou: str = "318751275100020") -> list[tuple[x509.ObjectIdentifier, str]]:
    return [
        (NameOID.COUNTRY_NAME, "FR"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Paris (75)"),
        (NameOID.ORGANIZATION_NAME, "HOPITAL TEST"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
        (NameOID.COMMON_NAME, "bal.hopital-test.mssante.fr"),
    ]


def _name(attrs: Sequence[tuple[x509.ObjectIdentifier, str]]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """A fixture test key (RSA-2048), shared by the session for speed."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def make_cert(rsa_key: rsa.RSAPrivateKey) -> MakeCert:
    def build(
        *,
        subject: Sequence[tuple[x509.ObjectIdentifier, str]] = (),
        issuer: Sequence[tuple[x509.ObjectIdentifier, str]] | None = None,
        ku: Sequence[str] = ("digitalSignature",),
        eku: Sequence[str] = ("clientAuth",),
        san_email: str | None = None,
        ca: bool = False,
        key: rsa.RSAPrivateKey | None = None,
        hash_alg: hashes.SHA224 | hashes.SHA256 | None = None,
    ) -> x509.Certificate:
        subject = subject or leaf_dn()
        issuer = ca_dn("AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", "IGC-SANTE FIXTURE") \
            if issuer is None else issuer
        signing = key or rsa_key
        flags = dict.fromkeys(_KU_ARGS, False)
        for name in ku:
            flags[_KU_NAMES[name]] = True
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name(issuer))
            .public_key(signing.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2028, 1, 1, tzinfo=dt.UTC))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(**flags), critical=True)
        )
        if eku:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([_EKU[e] for e in eku]), critical=False
            )
        if san_email:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(san_email)]), critical=False
            )
        return builder.sign(signing, hash_alg or hashes.SHA256())

    return build


@pytest.fixture
def igc() -> Path:
    if not IGC.is_dir():
        pytest.skip("reference IGC Santé certificates absent")
    return IGC


ReadIgc = Callable[[str], bytes]


@pytest.fixture
def read_igc(igc: Path) -> ReadIgc:
    return lambda rel: (igc / rel).read_bytes()
