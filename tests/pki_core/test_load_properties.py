"""Property: load_bundle either succeeds or raises ParseError, whatever the bytes."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmgr.errors import ParseError, PassphraseError
from certmgr.pki.load import load_bundle, load_private_key

from .conftest import MakeCert

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def samples(make_cert: MakeCert, rsa_key: rsa.RSAPrivateKey) -> list[bytes]:
    cert = make_cert()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(rsa_key, hashes.SHA256())
    )
    return [
        cert.public_bytes(DER),
        cert.public_bytes(PEM) * 2,
        pkcs7.serialize_certificates([cert], DER),
        pkcs7.serialize_certificates([cert], PEM),
        csr.public_bytes(DER),
        rsa_key.private_bytes(DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
    ]


@pytest.fixture(scope="module")
def p12(make_cert: MakeCert, rsa_key: rsa.RSAPrivateKey) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"x", rsa_key, make_cert(), None, serialization.BestAvailableEncryption(b"pw")
    )


def _load_or_parse_error(data: bytes, *, passphrase: bytes | None = None) -> None:
    try:
        bundle = load_bundle(data, source="fuzz", passphrase=passphrase)
    except ParseError as exc:
        message = str(exc)
    else:
        message = f"{bundle.source}: loaded"
    assert message.startswith("fuzz: ")


@_SETTINGS
@given(data=st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _load_or_parse_error(data)


@_SETTINGS
@given(text=st.text(max_size=512))
def test_random_text_with_pem_markers(text: str) -> None:
    _load_or_parse_error(b"-----BEGIN CERTIFICATE-----\n" + text.encode() + b"\n-----END")


@_SETTINGS
@given(index=st.integers(0, 5), cut=st.integers(0, 10_000))
def test_truncations(samples: list[bytes], index: int, cut: int) -> None:
    sample = samples[index]
    _load_or_parse_error(sample[: cut % len(sample)])


@_SETTINGS
@given(index=st.integers(0, 5), flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=4))
def test_bit_flips(samples: list[bytes], index: int, flips: list[int]) -> None:
    data = bytearray(samples[index])
    for flip in flips:
        position = (flip // 8) % len(data)
        data[position] ^= 1 << (flip % 8)
    _load_or_parse_error(bytes(data))


@_SETTINGS
@given(flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=3))
def test_pkcs12_bit_flips(p12: bytes, flips: list[int]) -> None:
    """A damaged PKCS#12 is a ParseError, or a PassphraseError when its MAC cannot match."""
    data = bytearray(p12)
    for flip in flips:
        position = (flip // 8) % len(data)
        data[position] ^= 1 << (flip % 8)
    message = "fuzz: loaded"
    try:
        _load_or_parse_error(bytes(data), passphrase=b"pw")
    except PassphraseError as exc:
        message = str(exc)
    assert message.startswith("fuzz: ")


@pytest.fixture(scope="module")
def encrypted_keys(rsa_key: rsa.RSAPrivateKey) -> list[bytes]:
    """The key as PKCS#8 encrypted (PEM and DER) and as traditional encrypted PEM (PKCS#1)."""
    enc = serialization.BestAvailableEncryption(b"pw")
    return [rsa_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, enc),
            rsa_key.private_bytes(DER, serialization.PrivateFormat.PKCS8, enc),
            rsa_key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL, enc)]


@_SETTINGS
@given(index=st.integers(0, 2), flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=3),
       cut=st.integers(0, 10**6))
def test_encrypted_key_mutations(encrypted_keys: list[bytes], index: int, flips: list[int],
                                 cut: int) -> None:
    """A damaged encrypted key: loaded, or a ParseError/PassphraseError naming the input."""
    data = bytearray(encrypted_keys[index])
    for flip in flips:
        position = (flip // 8) % len(data)
        data[position] ^= 1 << (flip % 8)
    blob = bytes(data[: max(1, cut % (len(data) + 1))])
    try:
        loaded = load_private_key(blob, source="fuzz", passphrase=b"pw")
    except (ParseError, PassphraseError) as exc:
        message = str(exc)
    else:
        message = f"fuzz: loaded {type(loaded.key).__name__}"
    assert message.startswith("fuzz: ")
