"""The batch fast paths agree with the slow ones they stand in for.

`CertInfo` reads the TBS, names and extensions from the DER and caches by DER bytes; the
subject string is built from the DER; `PathBuilder` reuses the paths above an issuer;
`validate_many` ships compact tuples from its workers. Each is checked here against what
cryptography (or the plain search, or serial validation) gives, on NIST PKITS certificates,
which are full of odd names, extensions and paths.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmgr.pki import certinfo
from certmgr.pki import path as p
from certmgr.pki.der import learn_attribute_names, rfc4514, tbs_parts
from certmgr.pki.findings import Code
from certmgr.pki.validate import RevocationMode, ValidationContext, Validator

PKITS = Path(__file__).parent / "pkits" / "certs"
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_FIELDS = ("fp", "issuer_key", "ski", "aki", "is_ca", "path_len", "key_usage", "eku", "policies",
           "mappings", "require_explicit", "inhibit_mapping", "inhibit_any", "name_constraints",
           "san", "crl_dps", "unknown_critical", "malformed")


def _pkits_ders() -> list[bytes]:
    if not PKITS.is_dir():
        pytest.skip("PKITS data absent")
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some PKITS serials are negative, on purpose
        for f in sorted(PKITS.iterdir()):
            der = f.read_bytes()
            try:
                x509.load_der_x509_certificate(der)
            except ValueError:
                continue
            out.append(der)
    return out


def _load(der: bytes) -> certinfo.CertInfo:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return certinfo.CertInfo.load(der)


def test_der_slices_match_cryptography() -> None:
    for der in _pkits_ders():
        cert = _load(der).cert
        parts = tbs_parts(der)
        assert parts is not None
        tbs, issuer, subject, exts = parts
        assert tbs == cert.tbs_certificate_bytes
        assert issuer == cert.issuer.public_bytes()
        assert subject == cert.subject.public_bytes()
        assert len(exts) == len(cert.extensions)


def test_subject_string_matches_rfc4514_string() -> None:
    ders = _pkits_ders()
    for _ in range(2):  # the second pass runs on the caches the first one filled
        for der in ders:
            ci = _load(der)
            assert ci.subject == ci.cert.subject.rfc4514_string()


def test_escaping_matches_cryptography() -> None:
    for value in ["a,b", " lead", "trail ", "#hash", 'q"uote', "x+y;z<w>v", "back\\slash"]:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "O")])
        learn_attribute_names(name.public_bytes(), name)
        assert rfc4514(name.public_bytes()) == name.rfc4514_string()


def test_cached_extensions_give_the_same_certificate_info() -> None:
    ders = _pkits_ders()
    first = [_load(d) for d in ders]  # fills the caches (or reads them)
    certinfo._EXTENSIONS.clear()
    slow = [_load(d) for d in ders]   # parses through cryptography, refills
    fast = [_load(d) for d in ders]   # reads the caches
    for a, b, c in zip(first, slow, fast, strict=True):
        for name in _FIELDS:
            assert getattr(a, name) == getattr(b, name) == getattr(c, name), name


def test_paths_above_issuers_match_the_plain_search() -> None:
    infos = [_load(d) for d in _pkits_ders()]
    anchors = [ci for ci in infos if ci.subject.startswith("CN=Trust Anchor,")]
    cas = [ci for ci in infos if ci.is_ca and ci not in anchors]
    builder = p.PathBuilder(anchors, cas)
    plain = p.PathBuilder(anchors, cas)
    found = 0
    for _ in range(2):  # the second pass reuses the paths cached above each issuer
        for ci in infos:
            want = [tuple(c.fp for c in path) for path in plain._search(ci, plain.max_depth)]
            got = [tuple(c.fp for c in path) for path in builder.paths(ci)]
            assert got == want
            found += len(got)
    assert found > len(infos)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_validate_many_matches_serial_on_invalid_leaves_too() -> None:
    """Every kind of result (valid, revoked, expired, wrong EKU, unreadable) survives the
    workers' compact encoding unchanged."""
    root_key, inter_key, leaf_key = _key(), _key(), _key()  # fixture test keys

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(cn: str, issuer: str, key: rsa.RSAPrivateKey, signer: rsa.RSAPrivateKey, *,
             ca: bool, serial: int, eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH,
             days: int = 365) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(issuer))
             .public_key(key.public_key()).serial_number(serial)
             .not_valid_before(T0).not_valid_after(T0 + dt.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 signer.public_key()), critical=False))
        if not ca:
            b = b.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        return b.sign(signer, hashes.SHA256())

    root = cert("Root", "Root", root_key, root_key, ca=True, serial=1)
    inter = cert("Inter", "Root", inter_key, root_key, ca=True, serial=2)
    leaves: list[bytes] = []
    for i in range(300):
        kind = i % 5
        c = cert(f"L{i}", "Inter", leaf_key, inter_key, ca=False, serial=100 + i,
                 eku=ExtendedKeyUsageOID.SERVER_AUTH if kind == 2 else
                 ExtendedKeyUsageOID.CLIENT_AUTH, days=10 if kind == 3 else 365)
        leaves.append(b"garbage" if kind == 4 else c.public_bytes(Encoding.DER))

    def crl(issuer: x509.Certificate, key: rsa.RSAPrivateKey,
            serials: list[int]) -> x509.CertificateRevocationList:
        revoked = [x509.RevokedCertificateBuilder().serial_number(s).revocation_date(T0)
                   .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), False).build()
                   for s in serials]
        return (x509.CertificateRevocationListBuilder(revoked_certificates=revoked)
                .issuer_name(issuer.subject).last_update(T0)
                .next_update(T0 + dt.timedelta(days=90)).sign(key, hashes.SHA256()))

    ctx = ValidationContext(
        trust_anchors=(root,), untrusted=(inter,), at=T0 + dt.timedelta(days=30),
        crls=(crl(root, root_key, []), crl(inter, inter_key, [100 + i for i in range(0, 300, 5)])),
        revocation=RevocationMode.HARD_FAIL, required_eku="clientAuth")
    serial = [Validator(ctx).validate_der(d) for d in leaves]
    many = Validator(ctx).validate_many(leaves, processes=2)
    assert many == serial
    kinds = [set(r.codes()) for r in many[:5]]
    assert kinds == [{Code.REVOKED}, set(), {Code.EKU}, {Code.EXPIRED}, {Code.MALFORMED}]
