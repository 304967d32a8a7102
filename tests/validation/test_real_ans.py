"""The engine on the real ANS certificates (`../shared/igc-sante`, skipped when absent).

Real RSA-4096 signatures, the real extensions (critical keyUsage, anyPolicy CA policies,
privateKeyUsagePeriod, ANS private extensions), the real TEST leaves; each CA is known by its
pinned fingerprint, and the TEST and production environments never validate each other.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from certmgr.pki.anchors import PINNED_CAS, CARole
from certmgr.pki.classify import Environment
from certmgr.pki.findings import Code, Severity
from certmgr.pki.load import load_certificates
from certmgr.pki.validate import RevocationMode, ValidationContext, Validator
from certmgr.services.verify import VerifyRequest, verify_files

_REPO = Path(__file__).resolve().parents[2]
_CANDIDATES = (_REPO.parent / "shared" / "igc-sante", Path("/work/shared/igc-sante"))
IN_2022 = dt.datetime(2022, 6, 1, tzinfo=dt.UTC)
_PROD_INTERMEDIATES = [f"production/AC_{g}_{d}_20130625.cer" for g in
                       ("ELEMENTAIRE", "STANDARD", "FORT") for d in ("ORGANISATIONS", "PERSONNES")]
_PROD_ROOTS = [f"production/ACR_{g}_20130625.cer" for g in ("ELEMENTAIRE", "STANDARD", "FORT")]
_TEST_ROOT, _TEST_INTER = "test-env/ACR-EL-TEST.cer", "test-env/ACI-EL-ORG-TEST.cer"
_TEST_SIGN_LEAVES = ["test-leaves/asip-p12-EL-TEST-ORG-SIGN-20181116-141712.pem",
                     "test-leaves/asip-p12-EL-TEST-ORG-SIGN-20181116-141712.der"]
_PINS = {ca.fingerprint_sha256: ca for ca in PINNED_CAS}


@pytest.fixture(scope="module")
def igc() -> Path:
    for folder in _CANDIDATES:
        if folder.is_dir():
            return folder
    pytest.skip("reference IGC Santé certificates absent")


def _cert(igc: Path, rel: str) -> x509.Certificate:
    return load_certificates((igc / rel).read_bytes(), source=rel)[0].certificate


def _validator(igc: Path, anchors: list[str], pool: list[str], at: dt.datetime,
               eku: str | None = None) -> Validator:
    return Validator(ValidationContext(
        trust_anchors=tuple(_cert(igc, r) for r in anchors),
        untrusted=tuple(_cert(igc, r) for r in pool), at=at,
        revocation=RevocationMode.OFF, required_eku=eku))


@pytest.mark.parametrize("rel", _PROD_INTERMEDIATES)
def test_production_intermediates_chain_to_their_pinned_root(igc: Path, rel: str) -> None:
    result = _validator(igc, _PROD_ROOTS, [], IN_2022).validate(_cert(igc, rel))
    assert result.valid, result.findings
    inter, root = (_PINS[e.fingerprint_sha256] for e in result.path)
    assert (inter.role, root.role) == (CARole.INTERMEDIATE, CARole.ROOT)
    assert inter.environment is root.environment is Environment.PRODUCTION
    assert inter.gamme is root.gamme


@pytest.mark.parametrize("rel", _TEST_SIGN_LEAVES)
def test_real_test_leaves_validate_under_the_test_cas(igc: Path, rel: str) -> None:
    v = _validator(igc, [_TEST_ROOT], [_TEST_INTER], IN_2022, eku="emailProtection")
    result = v.validate(_cert(igc, rel))
    assert result.valid, result.findings
    assert [_PINS[e.fingerprint_sha256].name for e in result.path[1:]] == [
        "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", "TEST AC RACINE IGC-SANTE ELEMENTAIRE"]
    # a signature certificate is not a client-authentication one
    wrong = _validator(igc, [_TEST_ROOT], [_TEST_INTER], IN_2022, eku="clientAuth")
    assert wrong.validate(_cert(igc, rel)).codes() == {Code.EKU}


def test_real_expired_test_leaf(igc: Path) -> None:
    leaf = _cert(igc, "test-leaves/rpps.tra.henix.asipsante.fr-sign-expire.pem")
    not_after = leaf.not_valid_after_utc
    sec = dt.timedelta(seconds=1)
    for at, codes in ((not_after - sec, set()), (not_after, set()),
                      (not_after + sec, {Code.EXPIRED})):
        assert _validator(igc, [_TEST_ROOT], [_TEST_INTER], at).validate(leaf).codes() == codes


def test_a_test_chain_never_validates_as_production(igc: Path) -> None:
    leaf = _cert(igc, _TEST_SIGN_LEAVES[0])
    pool = [*_PROD_INTERMEDIATES, _TEST_INTER, _TEST_ROOT]  # even with every CA at hand
    result = _validator(igc, _PROD_ROOTS, pool, IN_2022).validate(leaf)
    assert not result.valid
    assert result.codes() == {Code.UNTRUSTED_ROOT}
    assert result.path[-1].fingerprint_sha256 == next(
        ca.fingerprint_sha256 for ca in PINNED_CAS if ca.name.startswith("TEST AC RACINE"))


def test_verify_files_with_trust_directories(igc: Path) -> None:
    leaf = igc / _TEST_SIGN_LEAVES[0]
    test_env = verify_files(VerifyRequest(
        certificates=(leaf,), trust=(igc / "test-env",), profile="ORG_SIGN",
        revocation=RevocationMode.OFF), at=IN_2022)
    [verdict] = test_env.verdicts
    assert verdict.valid, verdict.findings
    assert [(f.code, f.severity) for f in verdict.findings
            if f.code is Code.TEST_ENVIRONMENT] == [(Code.TEST_ENVIRONMENT, Severity.INFO)]
    production = verify_files(VerifyRequest(
        certificates=(leaf,), trust=(igc / "production",), revocation=RevocationMode.OFF),
        at=IN_2022)
    assert production.trust_findings == ()
    assert not production.verdicts[0].valid
