"""Each committed leaf has its scenario's defining property, in the real ORG profile."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmgr.testpki import FIXED_AT, PkiIndex

Load = Callable[[str], x509.Certificate]

IGC_PROFILES = ("AUTH_CLI", "SIGN", "SERV_SSL")
PKUP = x509.ObjectIdentifier("2.5.29.16")
UNKNOWN = x509.ObjectIdentifier("1.2.250.1.213.1.7.999.9.1")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _idnat_ok(idnat: str) -> bool:
    """Check an idNatStruct: type digit + FINESS (9), SIREN (9), SIRET (14) or RPPS (11)."""
    kind, ident = idnat[0], idnat[1:]
    lengths = {"1": 9, "2": 9, "3": 14, "4": 11}
    return len(ident) == lengths[kind] and _luhn_ok(ident)


def _leaves(index: PkiIndex, *profiles: str) -> list[str]:
    return [a.name for a in index.of_kind("leaf") if a.profile in profiles]


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    return str(name.get_attributes_for_oid(oid)[0].value)


def test_luhn_helper_can_fail() -> None:
    assert _idnat_ok("1750999997")
    assert not _idnat_ok("1750999998")
    assert _idnat_ok("399990000400014")


def test_igc_leaves_have_the_org_profile(fixed_index: PkiIndex, cert: Load) -> None:
    names = _leaves(fixed_index, *IGC_PROFILES)
    assert len(names) >= 25
    for name in names:
        artifact, c = fixed_index[name], cert(name)
        key = c.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        assert key.key_size == 2048, name
        assert c.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
        # Three years, like the real ORG certificates.
        nb, na = c.not_valid_before_utc, c.not_valid_after_utc
        assert na == nb.replace(year=nb.year + 3), name
        oids = [a.oid for a in c.subject]
        assert oids == [NameOID.COUNTRY_NAME, NameOID.STATE_OR_PROVINCE_NAME,
                        NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME,
                        NameOID.COMMON_NAME], name
        assert re.fullmatch(r".+ \(\d{2}\)", _attr(c.subject, NameOID.STATE_OR_PROVINCE_NAME))
        with pytest.raises(x509.ExtensionNotFound):
            c.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert c.extensions.get_extension_for_class(x509.KeyUsage).critical
        assert not c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        policy = c.extensions.get_extension_for_class(x509.CertificatePolicies).value[0]
        assert policy.policy_identifier.dotted_string.startswith("1.2.250.1.213.1.7.999.")
        dp = c.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert dp[0].full_name is not None
        assert str(dp[0].full_name[0].value) == (
            f"http://igc-sante.esante.gouv.fr/CRL/FIXTURE/{artifact.issuer}.crl"
        )
        aia = c.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        assert [d.access_method._name for d in aia] == ["OCSP", "caIssuers"]
        pkup = asn1_x509.PrivateKeyUsagePeriod.load(c.extensions.get_extension_for_oid(PKUP)
                                                    .value.public_bytes())
        assert pkup["not_before"].native == nb
        assert pkup["not_after"].native == na


@pytest.mark.parametrize(
    ("profile", "usages", "eku"),
    [("AUTH_CLI", {"digital_signature"}, ExtendedKeyUsageOID.CLIENT_AUTH),
     ("SIGN", {"digital_signature", "content_commitment"}, ExtendedKeyUsageOID.EMAIL_PROTECTION),
     ("SERV_SSL", {"digital_signature", "key_encipherment"}, ExtendedKeyUsageOID.SERVER_AUTH)],
)
def test_profile_key_usages(
    profile: str, usages: set[str], eku: x509.ObjectIdentifier, fixed_index: PkiIndex, cert: Load
) -> None:
    flags = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign")
    for name in _leaves(fixed_index, profile):
        c = cert(name)
        ku = c.extensions.get_extension_for_class(x509.KeyUsage).value
        assert {f for f in flags if getattr(ku, f)} == usages, name
        assert list(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [eku]


def test_sign_leaf_extensions_match_the_real_test_org_sign(cert: Load, real_cert: Load) -> None:
    ours = cert("el-org-sign-valid")
    theirs = real_cert("test-leaves/asip-p12-EL-TEST-ORG-SIGN-20181116-141712.der")
    assert [(e.oid, e.critical) for e in ours.extensions] == [
        (e.oid, e.critical) for e in theirs.extensions
    ]
    assert [a.oid for a in ours.subject] == [a.oid for a in theirs.subject]


def test_identifiers_have_valid_check_digits_except_the_bad_one(
    fixed_index: PkiIndex, cert: Load
) -> None:
    for name in _leaves(fixed_index, *IGC_PROFILES):
        idnat = _attr(cert(name).subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
        bad = fixed_index[name].scenario == "bad-check-digit"
        assert _idnat_ok(idnat) is not bad, (name, idnat)


@pytest.mark.parametrize("days", [120, 90, 60, 30, 14, 7, 3, 1])
def test_expiring_leaves_sit_inside_their_alert_window(
    days: int, fixed_index: PkiIndex, cert: Load
) -> None:
    (artifact,) = fixed_index.with_scenario(f"expiring-{days}d")
    expected = FIXED_AT + dt.timedelta(days=days) - dt.timedelta(hours=1)
    assert artifact.not_after == expected
    assert cert(artifact.name).not_valid_after_utc == expected


def test_time_scenarios(fixed_index: PkiIndex, cert: Load) -> None:
    expired = cert("el-org-auth-expired")
    assert expired.not_valid_after_utc == FIXED_AT - dt.timedelta(seconds=1)
    future = cert("el-org-auth-not-yet-valid")
    assert future.not_valid_before_utc == FIXED_AT + dt.timedelta(days=1)
    valid = cert("el-org-auth-valid")
    assert valid.not_valid_before_utc < FIXED_AT < valid.not_valid_after_utc


def test_valid_leaves_chain_to_their_issuer(fixed_index: PkiIndex, cert: Load) -> None:
    broken = {"bad-signature", "legacy"}
    for artifact in fixed_index.of_kind("leaf"):
        if artifact.scenario in broken:
            continue
        assert artifact.issuer is not None
        cert(artifact.name).verify_directly_issued_by(cert(artifact.issuer))


def test_bad_signature_fails_against_its_issuer(cert: Load) -> None:
    with pytest.raises(InvalidSignature):
        cert("el-org-auth-bad-signature").verify_directly_issued_by(cert("ACI-EL-ORG"))


def test_decoy_leaf_does_not_verify_with_the_genuine_intermediate(cert: Load) -> None:
    leaf = cert("decoy-auth")
    assert leaf.issuer == cert("ACI-EL-ORG").subject
    with pytest.raises(InvalidSignature):
        leaf.verify_directly_issued_by(cert("ACI-EL-ORG"))


def test_wrong_usage_leaf_is_a_sign_cert_without_client_auth(
    fixed_index: PkiIndex, cert: Load
) -> None:
    assert fixed_index["el-org-sign-wrong-usage"].profile == "SIGN"
    eku = cert("el-org-sign-wrong-usage").extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert ExtendedKeyUsageOID.CLIENT_AUTH not in eku.value


def test_test_env_leaf_is_issued_by_a_test_ca(cert: Load) -> None:
    issuer = cert("test-el-org-auth").issuer
    assert "IGC-SANTE TEST" in issuer.rfc4514_string()
    assert _attr(issuer, NameOID.COMMON_NAME).startswith("TEST ")


def test_unknown_critical_extension_is_critical_and_unknown(cert: Load) -> None:
    ext = cert("el-org-auth-unknown-critical").extensions.get_extension_for_oid(UNKNOWN)
    assert ext.critical
    assert isinstance(ext.value, x509.UnrecognizedExtension)


def test_legacy_leaf_is_rsa1024_sha1_from_gip_cps(cert: Load, real_cert: Load) -> None:
    leaf, issuer = cert("legacy-classe4"), cert("GIP-CPS-CLASSE4")
    key = leaf.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 1024
    assert leaf.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA1
    real = real_cert("legacy/classe4.pem")
    assert leaf.issuer == real.issuer
    issuer_key = issuer.public_key()
    assert isinstance(issuer_key, rsa.RSAPublicKey)
    issuer_key.verify(leaf.signature, leaf.tbs_certificate_bytes, padding.PKCS1v15(),
                      hashes.SHA1())
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_der_copies_equal_the_pem(fixed_index: PkiIndex, cert: Load) -> None:
    with_der = [a.name for a in fixed_index.of_kind("leaf") if "der" in a.paths]
    assert {"el-org-auth-valid", "el-org-auth-bad-signature"} <= set(with_der)
    for name in with_der:
        der = fixed_index.path(name, "der").read_bytes()
        assert der == cert(name).public_bytes(serialization.Encoding.DER)
