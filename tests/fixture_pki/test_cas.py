"""The committed fixture CAs mirror the real IGC Santé CAs and can't pass for production."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from certmgr.testpki import FIXED_AT, PkiIndex

Load = Callable[[str], x509.Certificate]

# Pinned fingerprints of the real CAs (shared/igc-sante/README.md): no fixture may match.
REAL_FINGERPRINTS = {
    "2D9E22CA19F777C6B745257C723ECB8DF3C35FA6F1F6EC36B83600C97346967F",  # ACR EL
    "D834EE5B40686B73573F60547BF6052C6D404D942A5665CDB2C0B9137B5D27B2",  # ACI EL ORG
    "01325AEB193871EEC90FA89556804E4185CB362E0CA87A3D79939C71186DA805",  # TEST ACR EL
    "DC528E3788691B3F7950164076F95B02C64334C68662BDEDE5750B4E0E5338F6",  # TEST ACI EL ORG
}
TRUSTED = ["ACR-EL", "ACR-ST", "ACR-FO", "ACI-EL-ORG", "ACI-EL-PER", "ACI-ST-ORG",
           "ACI-ST-PER", "ACI-FO-ORG", "ACI-FO-PER"]
PROD_ROOT_EL = "CN=AC RACINE IGC-SANTE ELEMENTAIRE,OU=IGC-SANTE,OU=0002 187512751,O=ASIP-SANTE,C=FR"


def _ous(name: x509.Name) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]


def test_index_is_at_the_fixed_instant(fixed_index: PkiIndex) -> None:
    assert fixed_index.at == FIXED_AT == dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


def test_every_file_in_the_index_exists_and_matches_its_fingerprint(
    fixed_index: PkiIndex, cert: Load
) -> None:
    for artifact in fixed_index.artifacts:
        for rel in artifact.paths.values():
            assert (fixed_index.out_dir / rel).is_file(), rel
        if artifact.kind in ("ca", "leaf"):
            der = cert(artifact.name).public_bytes(serialization.Encoding.DER)
            assert hashlib.sha256(der).hexdigest().upper() == artifact.sha256
            assert cert(artifact.name).serial_number == artifact.serial


def test_the_trust_set_is_the_nine_fixture_cas(fixed_index: PkiIndex) -> None:
    trusted = [a.name for a in fixed_index.of_kind("ca") if a.trusted]
    assert sorted(trusted) == sorted(TRUSTED)
    assert sorted(a.name for a in fixed_index.trust_anchors()) == ["ACR-EL", "ACR-FO", "ACR-ST"]


def test_no_fixture_ca_is_named_like_production_except_the_impostor(
    fixed_index: PkiIndex, cert: Load
) -> None:
    for artifact in fixed_index.of_kind("ca"):
        c = cert(artifact.name)
        fingerprint = hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest()
        assert fingerprint.upper() not in REAL_FINGERPRINTS
        ous = _ous(c.subject)
        if artifact.scenario == "impostor":
            assert "IGC-SANTE" in ous
            continue
        assert "IGC-SANTE" not in ous, artifact.name
        assert any(m in c.subject.rfc4514_string() for m in ("FIXTURE", "TEST")), artifact.name
        if "IGC-SANTE" in c.subject.rfc4514_string():
            assert {"IGC-SANTE FIXTURE", "IGC-SANTE TEST"} & set(ous), artifact.name


@pytest.mark.parametrize("name", TRUSTED)
def test_trusted_cas_have_the_real_ca_profile(name: str, cert: Load) -> None:
    c = cert(name)
    root = name.startswith("ACR-")
    key = c.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 4096
    assert c.signature_hash_algorithm is not None
    assert c.signature_hash_algorithm.name == "sha256"
    assert c.not_valid_before_utc == dt.datetime(2013, 6, 25, tzinfo=dt.UTC)
    assert c.not_valid_after_utc == dt.datetime(2033, 6, 25 if root else 24, tzinfo=dt.UTC)
    assert _ous(c.subject) == ["0002 187512751", "IGC-SANTE FIXTURE"]
    bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca
    assert bc.value.path_length == (None if root else 0)
    ku = c.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.key_cert_sign
    assert ku.value.crl_sign
    assert not ku.value.digital_signature
    policy = c.extensions.get_extension_for_class(x509.CertificatePolicies).value[0]
    assert policy.policy_identifier.dotted_string == "2.5.29.32.0"
    assert policy.policy_qualifiers == ["http://igc-sante.esante.gouv.fr/PC%20FIXTURE"]
    ski = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = c.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    if root:
        assert aki.key_identifier == ski.digest
        assert c.subject == c.issuer
        c.verify_directly_issued_by(c)
    else:
        level = name.split("-")[1]
        dp = c.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        urls = [str(p.full_name[0].value) for p in dp if p.full_name]
        assert urls[0] == f"http://igc-sante.esante.gouv.fr/CRL/FIXTURE/ACR-{level}.crl"
        assert urls[1].startswith("ldap://annuaire-igc.esante.gouv.fr/CN=AC%20RACINE")
        c.verify_directly_issued_by(cert(f"ACR-{level}"))


@pytest.mark.parametrize(
    ("fixture", "real"),
    [("ACR-EL", "production/ACR_ELEMENTAIRE_20130625.cer"),
     ("ACI-EL-ORG", "production/AC_ELEMENTAIRE_ORGANISATIONS_20130625.cer")],
)
def test_ca_extensions_match_the_real_ones(
    fixture: str, real: str, cert: Load, real_cert: Load
) -> None:
    ours, theirs = cert(fixture), real_cert(real)
    assert [(e.oid, e.critical) for e in ours.extensions] == [
        (e.oid, e.critical) for e in theirs.extensions
    ]
    # Same DN shape: only the environment OU differs.
    assert ours.subject.rfc4514_string().replace("IGC-SANTE FIXTURE", "IGC-SANTE") == (
        theirs.subject.rfc4514_string()
    )


def test_test_environment_cas_look_like_the_real_test_ones(cert: Load) -> None:
    for name in ("TEST-ACR-EL", "TEST-ACI-EL-ORG"):
        c = cert(name)
        assert "IGC-SANTE TEST" in _ous(c.subject)
        cn = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert str(cn).startswith("TEST AC ")
    cert("TEST-ACI-EL-ORG").verify_directly_issued_by(cert("TEST-ACR-EL"))


def test_the_impostor_claims_the_production_root_dn_with_another_key(
    cert: Load, real_cert: Load
) -> None:
    impostor = cert("IMPOSTOR-ACR-EL")
    assert impostor.subject.rfc4514_string() == PROD_ROOT_EL
    real = real_cert("production/ACR_ELEMENTAIRE_20130625.cer")
    assert impostor.subject == real.subject
    assert impostor.public_key() != real.public_key()


def test_the_decoy_has_aci_el_org_dn_but_another_key(cert: Load) -> None:
    decoy, genuine = cert("ACI-EL-ORG-DECOY"), cert("ACI-EL-ORG")
    assert decoy.subject == genuine.subject
    assert decoy.public_key() != genuine.public_key()
    with pytest.raises(InvalidSignature):
        decoy.verify_directly_issued_by(cert("ACR-EL"))


def test_the_sub_ca_is_issued_under_a_pathlen_zero_intermediate(cert: Load) -> None:
    sub, parent = cert("SUBCA-PATHLEN"), cert("ACI-EL-ORG")
    assert parent.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert sub.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    sub.verify_directly_issued_by(parent)
    cert("pathlen-subca-auth").verify_directly_issued_by(sub)


def test_the_no_keycertsign_ca_is_a_ca_without_keycertsign(cert: Load) -> None:
    c = cert("ACI-EL-NOKCS")
    assert c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not c.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    cert("no-keycertsign-auth").verify_directly_issued_by(c)


def test_the_unknown_ca_is_outside_the_trust_set(fixed_index: PkiIndex, cert: Load) -> None:
    leaf = fixed_index["unknown-ca-auth"]
    assert leaf.issuer is not None
    assert not fixed_index[leaf.issuer].trusted
    trusted_subjects = {cert(a.name).subject for a in fixed_index.of_kind("ca") if a.trusted}
    assert cert("unknown-ca-auth").issuer not in trusted_subjects
