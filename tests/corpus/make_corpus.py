"""Write the hostile-input corpus into tests/corpus/files/ (deterministic but for the
ECDSA signatures; run it again after changing it: `python tests/corpus/make_corpus.py`).

Each file is something a careless parser chokes on: deep nesting, lengths that claim
gigabytes, indefinite (BER) lengths, thousands of PEM blocks, a PKCS#7 repeating one
certificate, a PKCS#7 whose two CAs issue each other, a CRL claiming a huge entry list,
a PKCS#12 asking for 2**31 - 1 MAC key-derivation rounds (minutes of CPU per password
tried), subject fields with invalid UTF-8 and right-to-left overrides, and an empty file.
certmgr must answer each with one clear line or a correct result, quickly. The whole
corpus stays under 1 MB.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

__all__ = ["OUT", "build"]

OUT = Path(__file__).resolve().parent / "files"
_AT = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
_MARK = "NONUTF8MARK"
# A fixed scalar: the corpus is byte-for-byte reproducible (a CORPUS key, not a secret).
_KEY = ec.derive_private_key(0x5EC0_C0DE_C0FF_EE, ec.SECP256R1())


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _nested_definite(depth: int) -> bytes:
    body = b""
    for _ in range(depth):
        body = b"\x30" + _length(len(body)) + body
    return body


def _cert(common_name: str) -> x509.Certificate:
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CH \u202etseT\u202c Corpus"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IGC-SANTE FIXTURE"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(_KEY.public_key()).serial_number(0x1234)
            .not_valid_before(_AT).not_valid_after(_AT + dt.timedelta(days=365))
            .sign(_KEY, hashes.SHA256()))


def _ca(subject: str, issuer: str, *, key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey, ca: bool = True) -> x509.Certificate:
    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Corpus Loop"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
            .public_key(key.public_key()).serial_number(len(subject) + 0x100)
            .not_valid_before(_AT).not_valid_after(_AT + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signer.public_key()), critical=False)
            .sign(signer, hashes.SHA256()))


def _issuer_cycle() -> list[x509.Certificate]:
    """Loop A and Loop B issue each other; a leaf under A. Path building must stop."""
    key_b = ec.derive_private_key(0xB0B_C0DE, ec.SECP256R1())
    return [_ca("Corpus leaf", "Loop A", key=_KEY, signer=_KEY, ca=False),
            _ca("Loop A", "Loop B", key=_KEY, signer=key_b),
            _ca("Loop B", "Loop A", key=key_b, signer=_KEY)]


def _crl_bomb() -> bytes:
    """A CRL whose revokedCertificates SEQUENCE claims 2**31 - 1 bytes of entries."""
    crl = (x509.CertificateRevocationListBuilder().issuer_name(_cert("bomb").subject)
           .last_update(_AT).next_update(_AT + dt.timedelta(days=7))
           .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(1)
                                    .revocation_date(_AT).build())
           .sign(_KEY, hashes.SHA256()))
    der = crl.public_bytes(serialization.Encoding.DER)
    entry = b"\x30\x12\x02\x01\x01\x17\x0d"  # the one entry: SEQUENCE { serial 1, UTCTime }
    start = der.index(entry)
    assert der[start - 2] == 0x30
    return der[:start - 2] + b"\x30\x84\x7f\xff\xff\xff" + der[start:]


def _p12_rounds_bomb(cert: x509.Certificate) -> bytes:
    """A PKCS#12 whose MAC asks for 2**31 - 1 key-derivation rounds (its MAC value is then
    wrong too: a loader only finds out after deriving them all)."""
    blob = pkcs12.serialize_key_and_certificates(
        b"corpus", _KEY, cert, None, serialization.BestAvailableEncryption(b"corpus"))
    pfx = asn1_pkcs12.Pfx.load(blob)
    pfx["mac_data"]["iterations"] = 2**31 - 1
    return bytes(pfx.dump(force=True))


def build(out: Path = OUT) -> dict[str, bytes]:
    """Write every corpus file into `out` and return {name: bytes}."""
    cert = _cert("corpus \u202egnp.exe")
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    marked = _cert(_MARK).public_bytes(serialization.Encoding.DER)
    # Same length, so the DER stays well-formed; the signature no longer matches.
    non_utf8 = marked.replace(_MARK.encode(), b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28")
    files = {
        "empty.der": b"",
        "nested-indefinite-100k.der": b"\x30\x80" * 100_000,
        "nested-definite-20k.der": _nested_definite(20_000),
        "huge-length-2gib.der": b"\x30\x84\x7f\xff\xff\xff" + cert_der[4:],
        "huge-length-8-octets.der": b"\x30\x88\xff\xff\xff\xff\xff\xff\xff\xff\x02\x01\x00",
        "indefinite-length-cert.der": b"\x30\x80" + cert_der[4:] + b"\x00\x00",
        "pem-10k-blocks.pem": b"-----BEGIN CRL-----\nMAA=\n-----END CRL-----\n" * 10_000,
        "p7b-same-cert-300x.p7b": pkcs7.serialize_certificates(
            [cert] * 300, serialization.Encoding.DER),
        "p7b-issuer-cycle.p7b": pkcs7.serialize_certificates(
            _issuer_cycle(), serialization.Encoding.DER),
        "crl-bomb-entry-count.crl": _crl_bomb(),
        "p12-mac-rounds-2g.p12": _p12_rounds_bomb(cert),
        "rtl-subject.pem": cert.public_bytes(serialization.Encoding.PEM),
        "non-utf8-subject.der": non_utf8,
        "truncated-cert.der": cert_der[: len(cert_der) // 2],
        "binary-garbage.bin": bytes(range(256)) * 4,
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    return files


if __name__ == "__main__":
    written = build()
    print(f"{len(written)} files, {sum(map(len, written.values()))} bytes in {OUT}")  # noqa: T201
