"""IGC Santé profile checks: one test per finding code, and a clean certificate."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from certmgr.errors import InputError
from certmgr.pki.facts import CertFacts, Environment, Product, certificate_facts
from certmgr.pki.findings import Code, Severity
from certmgr.pki.load import load_certificates
from certmgr.pki.profile import PROFILES, check_profile

from .conftest import MakeCert, ca_dn, leaf_dn

_ORG_EL = ca_dn("AC IGC-SANTE ELEMENTAIRE ORGANISATIONS")


def _codes(facts: CertFacts, profile: str = "mailbox",
           env: Environment | None = Environment.PRODUCTION) -> dict[Code, Severity]:
    return {f.code: f.severity for f in check_profile(facts, profile=profile,
                                                       expected_environment=env)}


def test_clean_mailbox_certificate(make_cert: MakeCert) -> None:
    facts = certificate_facts(make_cert(issuer=_ORG_EL))
    assert facts.product is Product.ORG_AUTH_CLI
    assert check_profile(facts, profile="ORG_AUTH_CLI",
                         expected_environment=Environment.PRODUCTION) == ()
    assert check_profile(facts, profile="mailbox") == ()


def test_unknown_profile_lists_names(make_cert: MakeCert) -> None:
    with pytest.raises(InputError, match=r"ORG_AUTH_CLI, ORG_SIGN.*mailbox"):
        check_profile(certificate_facts(make_cert()), profile="nope")
    assert set(PROFILES) == {"ORG_AUTH_CLI", "ORG_SIGN", "ORG_CONF", "SERV_SSL", "SERV_SMIME"}


def test_profile_issuer(make_cert: MakeCert) -> None:
    facts = certificate_facts(make_cert(issuer=ca_dn("AC IGC-SANTE STANDARD ORGANISATIONS")))
    assert _codes(facts)[Code.PROFILE_ISSUER] is Severity.ERROR
    assert Code.PROFILE_ISSUER not in _codes(facts, "ORG_SIGN")  # any gamme for ORG_SIGN


def test_profile_key_usage(make_cert: MakeCert) -> None:
    missing = certificate_facts(make_cert(issuer=_ORG_EL, ku=("keyEncipherment",)))
    assert _codes(missing)[Code.PROFILE_KEY_USAGE] is Severity.ERROR
    extra = certificate_facts(make_cert(issuer=_ORG_EL,
                                        ku=("digitalSignature", "keyEncipherment")))
    assert _codes(extra)[Code.PROFILE_KEY_USAGE] is Severity.WARNING


def test_profile_eku(make_cert: MakeCert) -> None:
    facts = certificate_facts(make_cert(issuer=_ORG_EL, eku=("serverAuth",)))
    assert _codes(facts)[Code.PROFILE_EKU] is Severity.ERROR
    assert Code.PROFILE_EKU not in _codes(facts, "SERV_SSL")


def test_profile_key_size(make_cert: MakeCert) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    facts = certificate_facts(make_cert(issuer=_ORG_EL, key=small))
    assert _codes(facts)[Code.PROFILE_KEY_SIZE] is Severity.ERROR


def test_profile_signature_hash(make_cert: MakeCert) -> None:
    # cryptography no longer signs with SHA-1: SHA-224 is weak enough for the profile.
    facts = certificate_facts(make_cert(issuer=_ORG_EL, hash_alg=hashes.SHA224()))
    assert facts.signature_hash == "sha224"
    assert _codes(facts)[Code.PROFILE_SIGNATURE_HASH] is Severity.ERROR


def test_real_sha1_legacy_certificate(igc: Path) -> None:
    cert = load_certificates((igc / "legacy/classe4.pem").read_bytes(), source="classe4")[0]
    codes = _codes(certificate_facts(cert.certificate), "SERV_SSL")
    for code in (Code.PROFILE_SIGNATURE_HASH, Code.PROFILE_KEY_SIZE, Code.LEGACY_GIP_CPS):
        assert codes[code] is Severity.ERROR


@pytest.mark.parametrize(
    ("drop", "severity"),
    [
        (NameOID.COUNTRY_NAME, Severity.WARNING),
        (NameOID.STATE_OR_PROVINCE_NAME, Severity.WARNING),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, Severity.WARNING),
        (NameOID.COMMON_NAME, Severity.ERROR),
    ],
)
def test_profile_subject(make_cert: MakeCert, drop: object, severity: Severity) -> None:
    subject = [(oid, value) for oid, value in leaf_dn() if oid != drop]
    facts = certificate_facts(make_cert(issuer=_ORG_EL, subject=subject))
    assert _codes(facts)[Code.PROFILE_SUBJECT] is severity


def test_smime_needs_email_san(make_cert: MakeCert) -> None:
    bare = certificate_facts(make_cert(issuer=_ORG_EL, eku=("emailProtection",)))
    assert _codes(bare, "SERV_SMIME")[Code.PROFILE_SUBJECT] is Severity.ERROR
    with_san = certificate_facts(make_cert(issuer=_ORG_EL, eku=("emailProtection",),
                                           san_email="bal@test.mssante.fr"))
    assert with_san.product is Product.SERV_SMIME
    assert Code.PROFILE_SUBJECT not in _codes(with_san, "SERV_SMIME")


def test_idnat_check_digit(make_cert: MakeCert) -> None:
    facts = certificate_facts(make_cert(issuer=_ORG_EL, subject=leaf_dn("318751275100021")))
    assert facts.idnat is not None
    assert facts.idnat.check_digit_ok is False
    assert _codes(facts)[Code.IDNAT_CHECK_DIGIT] is Severity.WARNING


def test_legacy_gip_cps(make_cert: MakeCert) -> None:
    issuer = [(NameOID.COUNTRY_NAME, "FR"), (NameOID.ORGANIZATION_NAME, "GIP-CPS"),
              (NameOID.ORGANIZATIONAL_UNIT_NAME, "AC-CLASSE-4")]
    facts = certificate_facts(make_cert(issuer=issuer))
    assert facts.legacy_gip_cps
    assert _codes(facts)[Code.LEGACY_GIP_CPS] is Severity.ERROR


def test_test_environment(make_cert: MakeCert) -> None:
    facts = certificate_facts(make_cert(issuer=ca_dn(
        "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", "IGC-SANTE TEST")))
    assert facts.environment is Environment.TEST
    codes = _codes(facts)
    assert codes[Code.TEST_ENVIRONMENT] is Severity.ERROR
    assert Code.ENVIRONMENT_MISMATCH not in codes
    assert _codes(facts, env=None)[Code.TEST_ENVIRONMENT] is Severity.INFO
    assert _codes(facts, env=Environment.TEST) == {Code.TEST_ENVIRONMENT: Severity.INFO}


def test_environment_mismatch(make_cert: MakeCert) -> None:
    facts = certificate_facts(make_cert(issuer=_ORG_EL))
    assert _codes(facts, env=Environment.FIXTURE)[Code.ENVIRONMENT_MISMATCH] is Severity.ERROR


def test_messages_are_sentences(make_cert: MakeCert) -> None:
    facts = certificate_facts(make_cert(issuer=ca_dn("AC IGC-SANTE FORT PERSONNES"),
                                        eku=("serverAuth",)))
    for finding in check_profile(facts, profile="mailbox"):
        assert finding.message[0].isupper()
        assert finding.message.endswith(".")
        assert " a organisation" not in finding.message
