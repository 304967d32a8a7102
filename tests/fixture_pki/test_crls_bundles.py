"""The committed CRLs and bundles have their scenario's defining property."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certmgr.testpki import FIXED_AT, PkiIndex, serial_for

Load = Callable[[str], x509.Certificate]
LoadCrl = Callable[[str], x509.CertificateRevocationList]
UNKNOWN = x509.ObjectIdentifier("1.2.250.1.213.1.7.999.9.1")
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)


def _reason(crl: x509.CertificateRevocationList, serial: int) -> x509.ReasonFlags:
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None, f"{serial:X} not in the CRL"
    return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason


def test_every_crl_has_aki_and_number_and_a_matching_index_entry(
    fixed_index: PkiIndex, crl: LoadCrl, cert: Load
) -> None:
    for artifact in fixed_index.of_kind("crl"):
        c = crl(artifact.name)
        assert artifact.issuer is not None
        issuer = cert(artifact.issuer)
        aki = c.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert aki.key_identifier == ski.digest
        assert c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == (
            artifact.crl_number
        )
        assert c.issuer == issuer.subject
        assert c.last_update_utc == artifact.this_update
        assert c.next_update_utc == artifact.next_update
        assert tuple(r.serial_number for r in c) == artifact.revoked


def test_current_crl_revokes_and_holds(fixed_index: PkiIndex, crl: LoadCrl, cert: Load) -> None:
    current = crl("crl-ACI-EL-ORG")
    assert fixed_index.path("crl-ACI-EL-ORG").name == "ACI-EL-ORG.crl"
    assert current.last_update_utc == FIXED_AT - HOUR
    assert current.next_update_utc == FIXED_AT + 6 * DAY
    issuer_key = cert("ACI-EL-ORG").public_key()
    assert isinstance(issuer_key, rsa.RSAPublicKey)
    assert current.is_signature_valid(issuer_key)
    revoked = cert("el-org-auth-revoked").serial_number
    assert _reason(current, revoked) == x509.ReasonFlags.key_compromise
    assert _reason(current, cert("el-org-auth-on-hold").serial_number) == (
        x509.ReasonFlags.certificate_hold
    )
    assert current.get_revoked_certificate_by_serial_number(
        cert("el-org-auth-valid").serial_number) is None
    pem = x509.load_pem_x509_crl(fixed_index.path("crl-ACI-EL-ORG", "pem").read_bytes())
    assert pem == current


def test_delta_crl_points_at_its_base(crl: LoadCrl, cert: Load) -> None:
    base, delta = crl("crl-ACI-EL-ORG"), crl("crl-ACI-EL-ORG-delta")
    indicator = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert indicator.critical
    assert indicator.value.crl_number == base.extensions.get_extension_for_class(
        x509.CRLNumber).value.crl_number
    late = cert("el-org-auth-revoked-delta").serial_number
    assert _reason(delta, late) == x509.ReasonFlags.superseded
    assert base.get_revoked_certificate_by_serial_number(late) is None
    assert delta.last_update_utc > base.last_update_utc


def test_stale_crl_expired_before_the_fixed_instant(crl: LoadCrl) -> None:
    stale = crl("crl-ACI-EL-ORG-stale")
    assert stale.next_update_utc is not None
    assert stale.next_update_utc < FIXED_AT


def test_wrong_key_crl_does_not_verify_with_its_issuer(crl: LoadCrl, cert: Load) -> None:
    wrong = crl("crl-ACI-EL-ORG-wrong-key")
    genuine, decoy = cert("ACI-EL-ORG").public_key(), cert("ACI-EL-ORG-DECOY").public_key()
    assert isinstance(genuine, rsa.RSAPublicKey)
    assert isinstance(decoy, rsa.RSAPublicKey)
    assert not wrong.is_signature_valid(genuine)
    assert wrong.is_signature_valid(decoy)


def test_unknown_critical_crl_extension(crl: LoadCrl) -> None:
    ext = crl("crl-ACI-EL-ORG-unknown-critical").extensions.get_extension_for_oid(UNKNOWN)
    assert ext.critical


def test_root_arl_revokes_the_revoked_intermediate(crl: LoadCrl, cert: Load) -> None:
    arl = crl("arl-ACR-EL")
    intermediate = cert("ACI-EL-ORG-REVOKED")
    assert _reason(arl, intermediate.serial_number) == x509.ReasonFlags.ca_compromise
    assert arl.get_revoked_certificate_by_serial_number(cert("ACI-EL-ORG").serial_number) is None
    cert("revoked-ca-auth").verify_directly_issued_by(intermediate)


def test_serials_derive_from_names(fixed_index: PkiIndex) -> None:
    for artifact in (*fixed_index.of_kind("ca"), *fixed_index.of_kind("leaf")):
        assert artifact.serial == serial_for(artifact.name)
    assert len({a.serial for a in fixed_index.artifacts if a.serial}) == len(
        [a for a in fixed_index.artifacts if a.serial])


def test_p12_opens_with_its_password_and_holds_key_leaf_chain(
    fixed_index: PkiIndex, cert: Load
) -> None:
    artifact = fixed_index["p12-el-org-auth-valid"]
    assert artifact.password == "fixture-p12-password"
    data = fixed_index.path(artifact.name, "p12").read_bytes()
    p12 = pkcs12.load_pkcs12(data, b"fixture-p12-password")
    assert p12.cert is not None
    assert p12.key is not None
    assert p12.cert.certificate == cert("el-org-auth-valid")
    assert p12.key.public_key() == cert("el-org-auth-valid").public_key()
    assert [c.certificate for c in p12.additional_certs] == [cert("ACI-EL-ORG"), cert("ACR-EL")]
    with pytest.raises(ValueError, match="Invalid password"):
        pkcs12.load_pkcs12(data, b"wrong")


@pytest.mark.parametrize(("name", "pem"), [("chain", True), ("chain-der", False)])
def test_p7b_holds_the_trust_set(name: str, pem: bool, fixed_index: PkiIndex, cert: Load) -> None:
    data = fixed_index.path(name, "p7b").read_bytes()
    certs = (pkcs7.load_pem_pkcs7_certificates(data) if pem
             else pkcs7.load_der_pkcs7_certificates(data))
    expected = {cert(a.name) for a in fixed_index.of_kind("ca") if a.trusted}
    assert len(expected) == 9
    assert set(certs) == expected
    assert set(fixed_index[name].contents) == {a.name for a in fixed_index.of_kind("ca")
                                              if a.trusted}


def test_committed_set_is_small(fixed_index: PkiIndex) -> None:
    total = sum(p.stat().st_size for p in fixed_index.out_dir.rglob("*") if p.is_file())
    assert total < 2_000_000
