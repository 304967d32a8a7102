"""The validation engine on small PKIs built here: every finding code, boundaries, revocation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmgr.pki import path
from certmgr.pki.certinfo import CertInfo
from certmgr.pki.crl import CrlIndex
from certmgr.pki.findings import Code
from certmgr.pki.validate import (
    RevocationMode,
    RevocationStatus,
    ValidationContext,
    ValidationResult,
    Validator,
)

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=30)
SEC = dt.timedelta(seconds=1)
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER = ExtendedKeyUsageOID.SERVER_AUTH


@cache
def key(i: int) -> rsa.RSAPrivateKey:
    """Fixture test keys, generated once per session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test")])


@dataclass
class Node:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey


def make(cn: str, issuer: Node | None, k: int, *, ca: bool = True, path_len: int | None = None,
         nb: dt.datetime = T0, na: dt.datetime = T0 + dt.timedelta(days=365),
         eku: list[x509.ObjectIdentifier] | None = None, serial: int = 1,
         extra: list[tuple[Any, bool]] = (), ku: dict[str, bool] | None = None,  # type: ignore[assignment]
         issuer_name: x509.Name | None = None) -> Node:
    sk = key(k)
    ik = issuer.key if issuer else sk
    flags = {"digital_signature": not ca, "content_commitment": False,
             "key_encipherment": False, "data_encipherment": False, "key_agreement": False,
             "key_cert_sign": ca, "crl_sign": ca, "encipher_only": False,
             "decipher_only": False} | (ku or {})
    b = (x509.CertificateBuilder().subject_name(name(cn))
         .issuer_name(issuer_name or (issuer.cert.subject if issuer else name(cn)))
         .public_key(sk.public_key()).serial_number(serial)
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca, path_len), critical=True)
         .add_extension(x509.KeyUsage(**flags), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(sk.public_key()), False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ik.public_key()),
                        False))
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    for ext, crit in extra:
        b = b.add_extension(ext, critical=crit)
    return Node(b.sign(ik, hashes.SHA256()), sk)


def crl(issuer: Node, revoked: list[tuple[int, x509.ReasonFlags | None]] = (),  # type: ignore[assignment]
        *, this: dt.datetime = T0, nxt: dt.datetime = T0 + dt.timedelta(days=60),
        number: int = 1, delta_of: int | None = None, signer: rsa.RSAPrivateKey | None = None,
        extra: list[tuple[Any, bool]] = ()) -> x509.CertificateRevocationList:  # type: ignore[assignment]
    entries = []
    for serial, reason in revoked:
        rb = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(T0)
        if reason is not None:
            rb = rb.add_extension(x509.CRLReason(reason), critical=False)
        entries.append(rb.build())
    b = (x509.CertificateRevocationListBuilder(revoked_certificates=entries)
         .issuer_name(issuer.cert.subject).last_update(this).next_update(nxt)
         .add_extension(x509.CRLNumber(number), critical=False))
    if delta_of is not None:
        b = b.add_extension(x509.DeltaCRLIndicator(delta_of), critical=True)
    for ext, crit in extra:
        b = b.add_extension(ext, critical=crit)
    return b.sign(signer or issuer.key, hashes.SHA256())


@dataclass
class Pki:
    root: Node
    inter: Node
    leaf: Node


@pytest.fixture(scope="session")
def pki() -> Pki:
    root = make("Root", None, 0)
    inter = make("Inter", root, 1, path_len=0)
    leaf = make("Leaf", inter, 2, ca=False, eku=[CLIENT], serial=42)
    return Pki(root, inter, leaf)


def run(p: Pki, cert: x509.Certificate | None = None, *, crls: tuple[Any, ...] | None = None,
        pool: tuple[x509.Certificate, ...] | None = None, at: dt.datetime = NOW,
        **kw: Any) -> ValidationResult:
    ctx = ValidationContext(
        trust_anchors=(p.root.cert,), untrusted=(p.inter.cert,) if pool is None else pool,
        crls=(crl(p.root), crl(p.inter)) if crls is None else crls, at=at,
        required_eku=kw.pop("required_eku", "clientAuth"), **kw)
    return Validator(ctx).validate(cert or p.leaf.cert)


def test_valid_path_leaf_first(pki: Pki) -> None:
    r = run(pki)
    assert r.valid, r.findings
    assert [e.subject for e in r.path] == ["O=Test,CN=Leaf", "O=Test,CN=Inter", "O=Test,CN=Root"]
    assert r.revocation is not None
    assert r.revocation.status is RevocationStatus.GOOD


@pytest.mark.parametrize(("delta", "code"), [
    (SEC, Code.EXPIRED), (dt.timedelta(0), None), (-SEC, None)])
def test_not_after_boundary(pki: Pki, delta: dt.timedelta, code: Code | None) -> None:
    na = pki.leaf.cert.not_valid_after_utc
    r = run(pki, at=na + delta, revocation=RevocationMode.OFF)
    assert (code in r.codes()) if code else r.valid


@pytest.mark.parametrize(("delta", "code"), [
    (-SEC, Code.NOT_YET_VALID), (dt.timedelta(0), None), (SEC, None)])
def test_not_before_boundary(pki: Pki, delta: dt.timedelta, code: Code | None) -> None:
    r = run(pki, at=T0 + delta, revocation=RevocationMode.OFF)
    assert (code in r.codes()) if code else r.valid


@pytest.mark.parametrize(("delta", "valid"), [
    (-SEC, True), (dt.timedelta(0), False), (SEC, False)])
def test_crl_next_update_boundary(pki: Pki, delta: dt.timedelta, valid: bool) -> None:
    nxt = NOW + dt.timedelta(hours=1)
    crls = (crl(pki.root, nxt=nxt), crl(pki.inter, nxt=nxt))
    r = run(pki, at=nxt + delta, crls=crls)
    assert r.valid is valid
    if not valid:
        assert Code.CRL_STALE in r.codes()


def test_accept_stale_crl_warns(pki: Pki) -> None:
    crls = (crl(pki.root), crl(pki.inter, nxt=NOW - SEC))
    r = run(pki, crls=crls, accept_stale_crl=True)
    assert r.valid
    assert Code.CRL_STALE in r.codes()


@pytest.mark.parametrize("mode", [RevocationMode.HARD_FAIL, RevocationMode.SOFT_FAIL])
def test_a_stale_crl_still_tells_a_revocation(pki: Pki, mode: RevocationMode) -> None:
    stale = crl(pki.inter, [(42, x509.ReasonFlags.key_compromise)], nxt=NOW - SEC)
    r = run(pki, crls=(crl(pki.root), stale), revocation=mode)
    assert not r.valid
    assert r.codes() == {Code.REVOKED}
    assert r.revocation is not None
    assert r.revocation.status is RevocationStatus.REVOKED
    assert "stale" in r.findings[0].message
    # the same CRL not listing it: in soft-fail mode a warning only
    quiet = run(pki, crls=(crl(pki.root), crl(pki.inter, nxt=NOW - SEC)),
                revocation=RevocationMode.SOFT_FAIL)
    assert quiet.valid
    assert quiet.codes() == {Code.CRL_STALE}


def test_crl_not_yet_valid(pki: Pki) -> None:
    r = run(pki, crls=(crl(pki.root), crl(pki.inter, this=NOW + SEC)))
    assert not r.valid
    assert Code.CRL_NOT_YET_VALID in r.codes()


@pytest.mark.parametrize(("mode", "valid"), [
    (RevocationMode.HARD_FAIL, False), (RevocationMode.SOFT_FAIL, True),
    (RevocationMode.OFF, True)])
def test_missing_crl_modes(pki: Pki, mode: RevocationMode, valid: bool) -> None:
    r = run(pki, crls=(crl(pki.root),), revocation=mode)
    assert r.valid is valid
    assert (Code.CRL_MISSING in r.codes()) is (mode is not RevocationMode.OFF)


def test_revoked_leaf_reports_reason_and_date(pki: Pki) -> None:
    r = run(pki, crls=(crl(pki.root), crl(pki.inter, [(42, x509.ReasonFlags.key_compromise)])))
    assert not r.valid
    assert Code.REVOKED in r.codes()
    assert r.revocation is not None
    assert r.revocation.status is RevocationStatus.REVOKED
    assert r.revocation.reason == "keyCompromise"
    assert r.revocation.revocation_date == T0


def test_certificate_hold_then_remove_from_crl_in_delta(pki: Pki) -> None:
    base = crl(pki.inter, [(42, x509.ReasonFlags.certificate_hold)], number=5)
    held = run(pki, crls=(crl(pki.root), base))
    assert Code.REVOKED in held.codes()
    delta = crl(pki.inter, [(42, x509.ReasonFlags.remove_from_crl)], number=6, delta_of=5)
    assert run(pki, crls=(crl(pki.root), base, delta)).valid
    # a delta on another base does not apply; a delta alone is never a complete CRL
    other = crl(pki.inter, [(42, x509.ReasonFlags.remove_from_crl)], number=3, delta_of=2)
    assert Code.REVOKED in run(pki, crls=(crl(pki.root), base, other)).codes()
    assert Code.CRL_MISSING in run(pki, crls=(crl(pki.root), delta)).codes()


def test_intermediate_revoked_by_root_arl(pki: Pki) -> None:
    serial = pki.inter.cert.serial_number
    r = run(pki, crls=(crl(pki.root, [(serial, None)]), crl(pki.inter)))
    assert not r.valid
    revoked = [f for f in r.findings if f.code is Code.REVOKED]
    assert revoked
    assert revoked[0].subject == "O=Test,CN=Inter"


def test_wrong_key_crl_rejected(pki: Pki) -> None:
    forged = crl(pki.inter, [], signer=key(9))
    r = run(pki, crls=(crl(pki.root), forged))
    assert not r.valid
    assert Code.CRL_BAD_SIGNATURE in r.codes()


def test_unknown_critical_crl_extension_makes_it_unusable(pki: Pki) -> None:
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00")
    r = run(pki, crls=(crl(pki.root), crl(pki.inter, extra=[(ext, True)])))
    assert Code.CRL_UNUSABLE in r.codes()
    assert not r.valid


def test_idp_scope_only_ca_certs_does_not_cover_leaf(pki: Pki) -> None:
    idp = x509.IssuingDistributionPoint(None, None, False, True, None, False, False)
    r = run(pki, crls=(crl(pki.root), crl(pki.inter, extra=[(idp, True)])))
    assert Code.CRL_MISSING in r.codes()


def test_decoy_intermediate(pki: Pki) -> None:
    decoy = make("Inter", pki.root, 7, path_len=0)  # same DN, another key
    assert run(pki, pool=(decoy.cert, pki.inter.cert)).valid
    assert run(pki, pool=(pki.inter.cert, decoy.cert)).valid
    only = run(pki, pool=(decoy.cert,))
    assert not only.valid
    assert Code.BAD_SIGNATURE in only.codes()


def test_no_path_and_untrusted_root(pki: Pki) -> None:
    assert run(pki, pool=()).codes() == {Code.NO_PATH}
    other_root = make("Other Root", None, 8)
    other_inter = make("Other Inter", other_root, 1)
    ctx = ValidationContext(trust_anchors=(pki.root.cert,), at=NOW,
                            untrusted=(other_inter.cert, other_root.cert))
    r = Validator(ctx).validate(make("X", other_inter, 2, ca=False).cert)
    assert r.codes() == {Code.UNTRUSTED_ROOT}
    assert [e.subject for e in r.path] == ["O=Test,CN=X", "O=Test,CN=Other Inter",
                                           "O=Test,CN=Other Root"]
    # the same DN as the trusted root, another key: every path fails on its signature
    look_alike = make("Root", None, 8)
    inter = make("Inter", look_alike, 1)
    ctx = ValidationContext(trust_anchors=(pki.root.cert,), at=NOW,
                            untrusted=(inter.cert, look_alike.cert))
    assert Code.BAD_SIGNATURE in Validator(ctx).validate(
        make("Y", inter, 2, ca=False).cert).codes()


def test_eku_mismatch(pki: Pki) -> None:
    server = make("Srv", pki.inter, 2, ca=False, eku=[SERVER], serial=43)
    r = run(pki, server.cert)
    assert Code.EKU in r.codes()
    assert run(pki, server.cert, required_eku="serverAuth").valid


def test_key_usage_for_client_auth(pki: Pki) -> None:
    leaf = make("KeyEnc", pki.inter, 2, ca=False, eku=[CLIENT], serial=44,
                ku={"digital_signature": False, "key_encipherment": True})
    assert Code.KEY_USAGE in run(pki, leaf.cert).codes()


def test_not_a_ca_and_path_len(pki: Pki) -> None:
    not_ca = make("NotCA", pki.root, 3, ca=False, ku={"key_cert_sign": True})
    leaf = make("L", not_ca, 2, ca=False)
    ctx = ValidationContext(trust_anchors=(pki.root.cert,), untrusted=(not_ca.cert,), at=NOW,
                            revocation=RevocationMode.OFF)
    assert Code.NOT_A_CA in Validator(ctx).validate(leaf.cert).codes()
    sub = make("Sub", pki.inter, 3)  # Inter has pathLen 0
    leaf2 = make("L2", sub, 2, ca=False)
    r = run(pki, leaf2.cert, pool=(pki.inter.cert, sub.cert), revocation=RevocationMode.OFF)
    assert Code.PATH_LEN in r.codes()


def test_unknown_critical_extension(pki: Pki) -> None:
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.6"), b"\x05\x00")
    leaf = make("Crit", pki.inter, 2, ca=False, extra=[(ext, True)])
    assert Code.UNKNOWN_CRITICAL_EXTENSION in run(pki, leaf.cert).codes()


def test_name_constraints(pki: Pki) -> None:
    nc = x509.NameConstraints([x509.DirectoryName(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Allowed")]))], None)
    inter = make("NC", pki.root, 4, extra=[(nc, True)])
    bad = make("Leaf", inter, 2, ca=False)
    r = run(pki, bad.cert, pool=(inter.cert,), revocation=RevocationMode.OFF)
    assert Code.NAME_CONSTRAINTS in r.codes()


def test_policies_required(pki: Pki) -> None:
    pol = x509.CertificatePolicies([x509.PolicyInformation(
        x509.ObjectIdentifier("1.2.250.1.213.1.1.5.1"), None)])
    r = run(pki, revocation=RevocationMode.OFF, require_explicit_policy=True)
    assert Code.POLICY in r.codes()
    inter = make("PolCA", pki.root, 5, extra=[(pol, False)])
    leaf = make("PolLeaf", inter, 2, ca=False, extra=[(pol, False)])
    ok = run(pki, leaf.cert, pool=(inter.cert,), revocation=RevocationMode.OFF,
             require_explicit_policy=True,
             initial_policy_set=frozenset({"1.2.250.1.213.1.1.5.1"}))
    assert ok.valid, ok.findings
    other = run(pki, leaf.cert, pool=(inter.cert,), revocation=RevocationMode.OFF,
                require_explicit_policy=True, initial_policy_set=frozenset({"1.2.3"}))
    assert Code.POLICY in other.codes()


def test_name_chaining_reported_for_mismatched_issuer(pki: Pki) -> None:
    # signed by Inter but naming another issuer: no path can be built by name
    leaf = make("Stray", pki.inter, 2, ca=False, issuer_name=name("Elsewhere"))
    assert run(pki, leaf.cert).codes() == {Code.NO_PATH}
    # the path builder chains by name, so only §6.1 processing handed such a path by
    # another caller meets it: NAME_CHAINING
    der = Encoding.DER
    root = CertInfo(pki.root.cert, pki.root.cert.public_bytes(der))
    inter = CertInfo(pki.inter.cert, pki.inter.cert.public_bytes(der))
    stray = CertInfo(leaf.cert, leaf.cert.public_bytes(der))
    state = path.start_state(root, 2, path.PathParams())
    kw: dict[str, Any] = {"at": NOW, "params": path.PathParams(), "subject": None,
                          "verify": lambda issuer, ci: ci.signed_by(issuer.public_key)}
    assert path.process_certificate(state, inter, index=1, **kw) == []
    found = path.process_certificate(state, stray, index=2, **kw)
    assert [f.code for f in found] == [Code.NAME_CHAINING]


def test_anchor_findings_pass_through(pki: Pki) -> None:
    from certmgr.pki.findings import Finding, Severity  # noqa: PLC0415
    f = Finding(Code.IMPOSTOR_CA, Severity.ERROR, "impostor")
    ctx = ValidationContext(trust_anchors=(pki.root.cert,), untrusted=(pki.inter.cert,),
                            at=NOW, revocation=RevocationMode.OFF)
    r = Validator(ctx, anchor_findings=(f,)).validate(pki.leaf.cert)
    assert not r.valid
    assert Code.IMPOSTOR_CA in r.codes()


@pytest.mark.parametrize("fast", [True, False])
def test_crl_index_fast_and_slow_agree(pki: Pki, fast: bool) -> None:
    revoked = [(i, x509.ReasonFlags.superseded if i % 2 else None) for i in range(1, 300)]
    idx = CrlIndex.build(crl(pki.inter, [*revoked, (2**158 + 2**151, None)]), fast=fast)
    key_ = idx.issuer_key
    entry = idx.lookup(3, key_)
    assert entry is not None
    assert entry.reason == "superseded"
    assert entry.date == T0
    assert idx.lookup(4, key_) is not None
    assert idx.lookup(2**158 + 2**151, key_) is not None
    assert idx.lookup(1000, key_) is None


def test_validate_many_matches_serial(pki: Pki) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415
    ders = [make(f"M{i}", pki.inter, 2, ca=False, eku=[CLIENT], serial=100 + i).cert
            .public_bytes(Encoding.DER) for i in range(300)]
    ctx = ValidationContext(trust_anchors=(pki.root.cert,), untrusted=(pki.inter.cert,),
                            crls=(crl(pki.root), crl(pki.inter, [(150, None)])), at=NOW)
    v = Validator(ctx)
    many = v.validate_many(ders, processes=2)
    assert [r.valid for r in many] == [i != 50 for i in range(300)]
    assert many == [v.validate_der(d) for d in ders]
