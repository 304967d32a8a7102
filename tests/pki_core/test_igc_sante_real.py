"""The real ANS certificates: classification, pinned fingerprints, trust store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509

from certmgr.pki.anchors import PINNED_CAS, CARole, TrustStore, is_impostor, pinned
from certmgr.pki.facts import CertFacts, Domain, Environment, Gamme, Product, certificate_facts
from certmgr.pki.findings import Code
from certmgr.pki.idnat import IdKind
from certmgr.pki.load import load_bundle, load_certificates

from .conftest import MakeCert, ca_dn

_CAS = [
    ("production/ACR_ELEMENTAIRE_20130625.cer", Environment.PRODUCTION, Gamme.ELEMENTAIRE, None),
    ("production/ACR_STANDARD_20130625.cer", Environment.PRODUCTION, Gamme.STANDARD, None),
    ("production/ACR_FORT_20130625.cer", Environment.PRODUCTION, Gamme.FORT, None),
    ("production/AC_ELEMENTAIRE_ORGANISATIONS_20130625.cer", Environment.PRODUCTION,
     Gamme.ELEMENTAIRE, Domain.ORGANISATIONS),
    ("production/AC_ELEMENTAIRE_PERSONNES_20130625.cer", Environment.PRODUCTION,
     Gamme.ELEMENTAIRE, Domain.PERSONNES),
    ("production/AC_STANDARD_ORGANISATIONS_20130625.cer", Environment.PRODUCTION,
     Gamme.STANDARD, Domain.ORGANISATIONS),
    ("production/AC_STANDARD_PERSONNES_20130625.cer", Environment.PRODUCTION,
     Gamme.STANDARD, Domain.PERSONNES),
    ("production/AC_FORT_ORGANISATIONS_20130625.cer", Environment.PRODUCTION,
     Gamme.FORT, Domain.ORGANISATIONS),
    ("production/AC_FORT_PERSONNES_20130625.cer", Environment.PRODUCTION,
     Gamme.FORT, Domain.PERSONNES),
    ("test-env/ACR-EL-TEST.cer", Environment.TEST, Gamme.ELEMENTAIRE, None),
    ("test-env/ACI-EL-ORG-TEST.cer", Environment.TEST, Gamme.ELEMENTAIRE, Domain.ORGANISATIONS),
]


def _facts(igc: Path, rel: str) -> tuple[x509.Certificate, CertFacts]:
    loaded = load_certificates((igc / rel).read_bytes(), source=rel)[0]
    return loaded.certificate, certificate_facts(loaded.certificate, der=loaded.der)


@pytest.mark.parametrize(("rel", "env", "gamme", "domain"), _CAS)
def test_ans_cas(igc: Path, rel: str, env: Environment, gamme: Gamme,
                 domain: Domain | None) -> None:
    cert, facts = _facts(igc, rel)
    assert (facts.environment, facts.gamme, facts.domain, facts.product) == (
        env, gamme, domain, Product.CA,
    )
    assert facts.is_ca
    assert facts.key_type == "RSA"
    assert facts.key_size == 4096
    assert facts.signature_hash == "sha256"
    assert facts.parse_errors == ()
    pin = pinned(facts.fingerprint_sha256)
    assert pin is not None
    assert (pin.environment, pin.gamme, pin.domain) == (env, gamme, domain)
    assert pin.role is (CARole.INTERMEDIATE if domain else CARole.ROOT)
    assert pin.name == facts.common_name
    assert not is_impostor(cert)


def test_pins_match_files(igc: Path) -> None:
    digests = {hashlib.sha256((igc / rel).read_bytes()).hexdigest() for rel, *_ in _CAS}
    assert digests == {ca.fingerprint_sha256 for ca in PINNED_CAS}


def test_pinned_accepts_colons_and_case() -> None:
    fp = PINNED_CAS[0].fingerprint_sha256.upper()
    assert pinned(":".join(fp[i : i + 2] for i in range(0, len(fp), 2))) is PINNED_CAS[0]
    assert pinned("00" * 32) is None


@pytest.mark.parametrize(
    ("rel", "siret"),
    [
        ("test-leaves/asip-p12-EL-TEST-ORG-SIGN-20181116-141712.pem", "00000000077081"),
        ("test-leaves/asip-p12-EL-TEST-ORG-SIGN-20181116-141712.der", "18751275100020"),
        ("test-leaves/rpps.tra.henix.asipsante.fr-sign-expire.pem", "18751275100020"),
    ],
)
def test_test_org_sign_leaves(igc: Path, rel: str, siret: str) -> None:
    _, facts = _facts(igc, rel)
    assert facts.environment is Environment.TEST
    assert (facts.gamme, facts.domain) == (Gamme.ELEMENTAIRE, Domain.ORGANISATIONS)
    assert facts.product is Product.ORG_SIGN
    assert facts.key_usage == ("digitalSignature", "nonRepudiation")
    assert facts.extended_key_usage == ("emailProtection",)
    assert facts.policies == ("1.2.250.1.213.1.7.2.1.1.1.1",)
    assert "http://ocsp.esante.gouv.fr" in facts.ocsp_urls
    assert any(url.startswith("http") for url in facts.crl_urls)
    assert facts.san == ()
    assert facts.idnat is not None
    assert (facts.idnat.kind, facts.idnat.value, facts.idnat.check_digit_ok) == (
        IdKind.SIRET, siret, True,
    )
    assert facts.ski
    assert facts.aki
    assert not facts.self_issued


def test_cpx_card_is_person(igc: Path) -> None:
    _, facts = _facts(igc, "test-leaves/2600301752-Auth.crt")
    assert facts.product is Product.PERSON
    assert (facts.environment, facts.gamme, facts.domain) == (
        Environment.TEST, Gamme.STANDARD, Domain.PERSONNES,
    )
    assert facts.san == ("upn:30B0057881/CPET0002@carte-cps.fr",)


def test_classe4_is_legacy(igc: Path) -> None:
    _, facts = _facts(igc, "legacy/classe4.pem")
    assert facts.legacy_gip_cps
    assert facts.environment is Environment.OTHER
    assert (facts.key_size, facts.signature_hash) == (1024, "sha1")


def test_trust_store_separates_environments(igc: Path) -> None:
    certs = [c for rel, *_ in _CAS
             for c in load_bundle((igc / rel).read_bytes(), source=rel).certificates]
    store = TrustStore.from_certificates(certs)
    assert store.findings == ()
    assert len(store.anchors_for(Environment.PRODUCTION)) == 3
    assert len(store.intermediates_for(Environment.PRODUCTION)) == 6
    assert len(store.anchors_for(Environment.TEST)) == 1
    assert len(store.intermediates_for(Environment.TEST)) == 1
    test_root = store.anchors_for(Environment.TEST)[0]
    assert test_root not in store.anchors_for(Environment.PRODUCTION)


class TestImpostor:
    """A look-alike of an ANS CA is refused; fixture CAs are accepted unpinned."""

    def test_impostor_refused(self, make_cert: MakeCert) -> None:
        fake = make_cert(subject=ca_dn("AC RACINE IGC-SANTE ELEMENTAIRE"),
                         issuer=ca_dn("AC RACINE IGC-SANTE ELEMENTAIRE"),
                         ku=("keyCertSign", "cRLSign"), eku=(), ca=True)
        assert is_impostor(fake)
        store = TrustStore.from_certificates([fake])
        assert store.entries == ()
        assert [f.code for f in store.findings] == [Code.IMPOSTOR_CA]
        assert store.anchors_for(Environment.PRODUCTION) == ()

    def test_test_impostor_refused(self, make_cert: MakeCert) -> None:
        fake = make_cert(subject=ca_dn("TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
                                       "IGC-SANTE TEST"),
                         ku=("keyCertSign",), eku=(), ca=True)
        store = TrustStore.from_certificates([fake])
        assert [f.code for f in store.findings] == [Code.IMPOSTOR_CA]

    def test_fixture_accepted(self, make_cert: MakeCert) -> None:
        dn = ca_dn("FIXTURE AC RACINE IGC-SANTE ELEMENTAIRE", "IGC-SANTE FIXTURE")
        root = make_cert(subject=dn, issuer=dn, ku=("keyCertSign",), eku=(), ca=True)
        assert not is_impostor(root)
        store = TrustStore.from_certificates([root, root])
        assert store.anchors_for(Environment.FIXTURE) == (root,)
        refused = TrustStore.from_certificates([root], allow_unpinned_environments=frozenset())
        assert [f.code for f in refused.findings] == [Code.UNTRUSTED_ROOT]

    def test_leaf_not_added(self, make_cert: MakeCert) -> None:
        store = TrustStore.from_certificates([make_cert()])
        assert [f.code for f in store.findings] == [Code.NOT_A_CA]
