"""A small P-256 PKI for the engine's tests (fast to build and to check): root, intermediate,
leaves shaped like MSSanté mailbox certificates (clientAuth, a CRL distribution point)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

__all__ = ["AT", "T0", "cert", "crl", "entry", "fixture_test_key", "name", "write_pki"]

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
AT = T0 + dt.timedelta(days=30)


@cache
def fixture_test_key(i: int) -> ec.EllipticCurvePrivateKey:
    """Fixture test keys (P-256: fast to make and to check)."""
    del i
    return ec.generate_private_key(ec.SECP256R1())


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Batch"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def cert(cn: str, issuer: str, k: int, signer: int, *, ca: bool, serial: int,
         extra: tuple[x509.ExtensionType, ...] = (), ski: bool = True) -> x509.Certificate:
    sk = fixture_test_key(k).public_key()
    b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(issuer))
         .public_key(sk).serial_number(serial)
         .not_valid_before(T0).not_valid_after(T0 + dt.timedelta(days=365))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    for ext in extra:  # before the SKI: their bytes come first in the block
        b = b.add_extension(ext, critical=False)
    if ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(sk), critical=False)
    if not ca:
        b = (b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
             .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                 [x509.UniformResourceIdentifier("http://crl.example/inter.crl")],
                 None, None, None)]), critical=False))
    return b.sign(fixture_test_key(signer), hashes.SHA256())


def crl(issuer: str, signer: int, entries: list[x509.RevokedCertificate]) -> bytes:
    return (x509.CertificateRevocationListBuilder(revoked_certificates=entries)
            .issuer_name(name(issuer)).last_update(T0)
            .next_update(T0 + dt.timedelta(days=90))
            .sign(fixture_test_key(signer), hashes.SHA256()).public_bytes(Encoding.DER))


def entry(serial: int, reason: x509.ReasonFlags | None = x509.ReasonFlags.key_compromise,
          extra: tuple[tuple[x509.ExtensionType, bool], ...] = ()) -> x509.RevokedCertificate:
    b = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(T0)
    if reason is not None:
        b = b.add_extension(x509.CRLReason(reason), critical=False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    return b.build()


def write_pki(folder: Path, *, leaves: int, revoked: Iterable[int] = (),
              inter: str = "Inter") -> tuple[Path, Path, Path, list[x509.Certificate]]:
    """`root.pem`, `inter.pem` and `crls.pem` (the root's empty CRL, the intermediate's
    listing `revoked`) in `folder`, and `leaves` leaves (serial 100 + i, three keys)."""
    root = cert("Root", "Root", 1, 1, ca=True, serial=1)
    ca = cert(inter, "Root", 2, 1, ca=True, serial=2)
    made = [cert(f"Leaf {i}", inter, 10 + i % 3, 2, ca=False, serial=100 + i)
            for i in range(leaves)]
    paths = []
    for label, body in (("root", root.public_bytes(Encoding.PEM)),
                        ("inter", ca.public_bytes(Encoding.PEM)),
                        ("crls", b"".join(x509.load_der_x509_crl(d).public_bytes(Encoding.PEM)
                                          for d in (crl("Root", 1, []),
                                                    crl(inter, 2, [entry(s) for s in revoked]))))):
        path = folder / f"{label}.pem"
        path.write_bytes(body)
        paths.append(path)
    return paths[0], paths[1], paths[2], made
