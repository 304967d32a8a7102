"""load_bundle and friends: every format in, typed errors out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from certmgr.errors import InputTooLargeError, ParseError, PassphraseError
from certmgr.pki.load import (
    BundleKind,
    load_bundle,
    load_certificates,
    load_crls,
    load_csr,
    load_private_key,
    read_input,
)

from .conftest import MakeCert, ca_dn

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def two_certs(make_cert: MakeCert) -> tuple[x509.Certificate, x509.Certificate]:
    root = make_cert(subject=ca_dn("AC RACINE IGC-SANTE ELEMENTAIRE", "IGC-SANTE FIXTURE"),
                     ku=("keyCertSign", "cRLSign"), eku=(), ca=True)
    return make_cert(), root


@pytest.fixture(scope="module")
def crl(rsa_key: rsa.RSAPrivateKey) -> x509.CertificateRevocationList:
    now = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    revoked = (
        x509.RevokedCertificateBuilder().serial_number(42).revocation_date(now).build()
    )
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AC FIXTURE")]))
        .last_update(now)
        .next_update(now + dt.timedelta(days=7))
        .add_revoked_certificate(revoked)
        .sign(rsa_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def csr(rsa_key: rsa.RSAPrivateKey) -> x509.CertificateSigningRequest:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bal.test.mssante.fr")])
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(
        rsa_key, hashes.SHA256()
    )


@pytest.fixture(scope="module")
def p12(rsa_key: rsa.RSAPrivateKey, two_certs: tuple[x509.Certificate, x509.Certificate]) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"bal", rsa_key, two_certs[0], [two_certs[1]],
        serialization.BestAvailableEncryption(b"s3cret"),
    )


class TestCertificates:
    """PEM, DER, PKCS#7."""

    def test_pem_many_blocks_with_text_around(
        self, two_certs: tuple[x509.Certificate, x509.Certificate]
    ) -> None:
        leaf, root = two_certs
        data = (
            b"subject=CN = leaf\nissuer=...\n" + leaf.public_bytes(PEM)
            + b"\nsome text\n" + root.public_bytes(PEM)
        )
        bundle = load_bundle(data, source="chain.pem")
        assert bundle.kind is BundleKind.PEM
        assert bundle.x509_certificates == (leaf, root)
        assert bundle.certificates[0].der == leaf.public_bytes(DER)

    def test_pem_crlf(self, two_certs: tuple[x509.Certificate, x509.Certificate]) -> None:
        data = two_certs[0].public_bytes(PEM).replace(b"\n", b"\r\n")
        assert load_certificates(data, source="w.pem")[0].certificate == two_certs[0]

    def test_der(self, two_certs: tuple[x509.Certificate, x509.Certificate]) -> None:
        bundle = load_bundle(two_certs[0].public_bytes(DER), source="leaf.cer")
        assert bundle.kind is BundleKind.DER_CERTIFICATE
        assert bundle.x509_certificates == (two_certs[0],)

    @pytest.mark.parametrize(("encoding", "kind"), [(PEM, BundleKind.PKCS7_PEM),
                                                    (DER, BundleKind.PKCS7_DER)])
    def test_pkcs7(
        self,
        two_certs: tuple[x509.Certificate, x509.Certificate],
        encoding: serialization.Encoding,
        kind: BundleKind,
    ) -> None:
        data = pkcs7.serialize_certificates(list(two_certs), encoding)
        bundle = load_bundle(data, source="chain.p7b")
        assert bundle.kind is kind
        assert set(bundle.x509_certificates) == set(two_certs)

    def test_real_ans_p7b(self, igc: Path) -> None:
        path = igc / "production" / "Chaine_de_certification-IGC-Sante.p7b"
        bundle = load_bundle(read_input(path), source=str(path))
        assert len(bundle.certificates) == 8


class TestPkcs12:
    """Right, wrong and missing passphrases."""

    def test_right(self, p12: bytes, two_certs: tuple[x509.Certificate, x509.Certificate]) -> None:
        bundle = load_bundle(p12, source="bal.p12", passphrase=b"s3cret")
        assert bundle.kind is BundleKind.PKCS12
        assert bundle.x509_certificates == two_certs
        assert len(bundle.keys) == 1

    def test_wrong(self, p12: bytes) -> None:
        with pytest.raises(PassphraseError, match=r"bal\.p12: .*wrong passphrase"):
            load_bundle(p12, source="bal.p12", passphrase=b"nope")

    def test_missing(self, p12: bytes) -> None:
        with pytest.raises(PassphraseError, match="passphrase is required"):
            load_bundle(p12, source="bal.p12")

    def test_unprotected(self, rsa_key: rsa.RSAPrivateKey,
                         two_certs: tuple[x509.Certificate, x509.Certificate]) -> None:
        data = pkcs12.serialize_key_and_certificates(
            None, rsa_key, two_certs[0], None, serialization.NoEncryption()
        )
        assert len(load_bundle(data, source="open.p12").keys) == 1

    def test_damaged(self, p12: bytes) -> None:
        with pytest.raises(ParseError, match="truncated DER"):
            load_bundle(p12[:-10], source="bal.p12", passphrase=b"s3cret")


class TestKeys:
    """PKCS#8 and PKCS#1, plain and encrypted, PEM and DER."""

    @pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8,
                                     serialization.PrivateFormat.TraditionalOpenSSL])
    @pytest.mark.parametrize("encoding", [PEM, DER])
    def test_plain(self, rsa_key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat,
                   encoding: serialization.Encoding) -> None:
        data = rsa_key.private_bytes(encoding, fmt, serialization.NoEncryption())
        loaded = load_private_key(data, source="key")
        assert isinstance(loaded.key, rsa.RSAPrivateKey)
        assert loaded.key.private_numbers() == rsa_key.private_numbers()
        assert "PRIVATE" not in repr(loaded)

    @pytest.mark.parametrize(
        ("fmt", "encoding"),
        [
            (serialization.PrivateFormat.PKCS8, PEM),
            (serialization.PrivateFormat.PKCS8, DER),
            (serialization.PrivateFormat.TraditionalOpenSSL, PEM),
        ],
    )
    def test_encrypted(self, rsa_key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat,
                       encoding: serialization.Encoding) -> None:
        data = rsa_key.private_bytes(encoding, fmt,
                                     serialization.BestAvailableEncryption(b"pw"))
        loaded = load_private_key(data, source="key.pem", passphrase=b"pw")
        assert isinstance(loaded.key, rsa.RSAPrivateKey)
        with pytest.raises(PassphraseError, match=r"key\.pem: .*passphrase is required"):
            load_private_key(data, source="key.pem")
        with pytest.raises(PassphraseError, match=r"key\.pem: .*wrong passphrase"):
            load_private_key(data, source="key.pem", passphrase=b"bad")


class TestCrlAndCsr:
    @pytest.mark.parametrize("encoding", [PEM, DER])
    def test_crl(self, crl: x509.CertificateRevocationList,
                 encoding: serialization.Encoding) -> None:
        loaded = load_crls(crl.public_bytes(encoding), source="ac.crl")
        assert loaded[0].crl == crl
        assert loaded[0].der == crl.public_bytes(DER)

    @pytest.mark.parametrize("encoding", [PEM, DER])
    def test_csr(self, csr: x509.CertificateSigningRequest,
                 encoding: serialization.Encoding) -> None:
        assert load_csr(csr.public_bytes(encoding), source="bal.csr").csr == csr

    def test_narrow_helper_refuses_other_content(self, csr: x509.CertificateSigningRequest
                                                 ) -> None:
        with pytest.raises(ParseError, match="no certificate found"):
            load_certificates(csr.public_bytes(PEM), source="bal.csr")


class TestMalformed:
    """Each failure is a ParseError naming the source and the reason."""

    def test_truncated_der(self, two_certs: tuple[x509.Certificate, x509.Certificate]) -> None:
        with pytest.raises(ParseError, match=r"^leaf\.cer: truncated DER"):
            load_bundle(two_certs[0].public_bytes(DER)[:-20], source="leaf.cer")

    def test_trailing_data(self, two_certs: tuple[x509.Certificate, x509.Certificate]) -> None:
        with pytest.raises(ParseError, match="trailing data"):
            load_bundle(two_certs[0].public_bytes(DER) + b"\0", source="leaf.cer")

    def test_text_without_pem(self) -> None:
        with pytest.raises(ParseError, match=r"^notes\.txt: no PEM block"):
            load_bundle(b"hello, this is not a certificate\n", source="notes.txt")

    def test_bad_base64(self, two_certs: tuple[x509.Certificate, x509.Certificate]) -> None:
        second = two_certs[1].public_bytes(PEM).replace(b"\n", b"\n!", 2)
        with pytest.raises(ParseError, match=r"PEM block 2 \(CERTIFICATE\) is not valid base64"):
            load_bundle(two_certs[0].public_bytes(PEM) + second, source="chain.pem")

    def test_bad_der_in_block(self) -> None:
        data = b"-----BEGIN CERTIFICATE-----\nMIIBCgKCAQEA\n-----END CERTIFICATE-----\n"
        with pytest.raises(ParseError, match=r"PEM block 1 \(CERTIFICATE\) is not a valid"):
            load_bundle(data, source="x.pem")

    def test_missing_end(self, two_certs: tuple[x509.Certificate, x509.Certificate]) -> None:
        data = two_certs[0].public_bytes(PEM) + two_certs[1].public_bytes(PEM)[:-30]
        with pytest.raises(ParseError, match=r"chain\.pem: PEM block"):
            load_bundle(data, source="chain.pem")

    def test_unsupported_label(self) -> None:
        data = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        with pytest.raises(ParseError, match="unsupported type"):
            load_bundle(data, source="k.pem")

    @pytest.mark.parametrize("data", [b"", b"\n \n"])
    def test_empty(self, data: bytes) -> None:
        with pytest.raises(ParseError, match="empty"):
            load_bundle(data, source="e.pem")

    def test_random_binary(self) -> None:
        with pytest.raises(ParseError, match="not DER"):
            load_bundle(b"\x01\x02\x03\xff", source="b.bin")


class TestReadInput:
    """The only function that reads files."""

    def test_reads(self, tmp_path: Path) -> None:
        path = tmp_path / "a.pem"
        path.write_bytes(b"abc")
        assert read_input(path) == b"abc"

    def test_too_large(self, tmp_path: Path) -> None:
        path = tmp_path / "big.pem"
        path.write_bytes(b"x" * 101)
        with pytest.raises(InputTooLargeError, match=r"big\.pem"):
            read_input(path, max_bytes=100)

    def test_empty(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.pem"
        path.touch()
        with pytest.raises(ParseError, match=r"empty\.pem: empty file"):
            read_input(path)

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(ParseError, match="is a directory"):
            read_input(tmp_path)

    def test_missing(self, tmp_path: Path) -> None:
        with pytest.raises(ParseError, match=r"nope\.pem: cannot read"):
            read_input(tmp_path / "nope.pem")
