"""NIST PKITS (Public Key Interoperability Test Suite) conformance, sections 4.1-4.16.

The certificates and CRLs are NIST's public test data; the case list (`pkits.json`, expected
outcome and parameters per case) comes from pyhanko-certvalidator 0.33.0 (MIT), see README.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from certmgr.pki.validate import RevocationMode, ValidationContext, Validator

DATA = Path(__file__).parent / "pkits"
AT = dt.datetime(2022, 5, 1, tzinfo=dt.UTC)
# cases the engine cannot run, with the reason
SKIP = {
    "valid_dsa_parameter_inheritance_test5": "cryptography cannot load a DSA key without "
    "parameters (inherited from the issuer)",
}


@cache
def _cert(name: str) -> x509.Certificate:
    with warnings.catch_warnings():  # PKITS 4.4.14-15 carry negative serial numbers on purpose
        warnings.simplefilter("ignore")
        return x509.load_der_x509_certificate((DATA / "certs" / name).read_bytes())


@cache
def _crl(name: str) -> tuple[x509.CertificateRevocationList, bytes]:
    der = (DATA / "crls" / name).read_bytes()
    return x509.load_der_x509_crl(der), der


def _cases() -> list[Any]:
    cases = json.loads((DATA / "pkits.json").read_text(encoding="utf-8"))
    out = []
    for case in cases:
        marks = [pytest.mark.skip(reason=SKIP[case["name"]])] if case["name"] in SKIP else []
        out.append(pytest.param(case, id=f"{case['id']}-{case['name']}", marks=marks))
    return out


@pytest.mark.parametrize("case", _cases())
def test_pkits(case: dict[str, Any]) -> None:
    params = case.get("params", {})
    ctx = ValidationContext(
        trust_anchors=(_cert("TrustAnchorRootCertificate.crt"),),
        untrusted=tuple(_cert(n) for n in case.get("other_certs", ())),
        crls=(_crl("TrustAnchorRootCRL.crl"), *(_crl(n) for n in case.get("crls", ()))),
        at=AT,
        revocation=RevocationMode.HARD_FAIL,
        initial_policy_set=frozenset(params.get("user_initial_policy_set", ["2.5.29.32.0"])),
        require_explicit_policy=params.get("initial_explicit_policy", False),
        inhibit_policy_mapping=params.get("initial_policy_mapping_inhibit", False),
        inhibit_any_policy=params.get("initial_any_policy_inhibit", False),
    )
    with warnings.catch_warnings():  # negative serial numbers again, read during validation
        warnings.simplefilter("ignore")
        result = Validator(ctx).validate(_cert(case["cert"]))
    expected_valid = "error" not in case
    assert result.valid is expected_valid, result.findings
    if expected_valid:
        assert len(result.path) == case["path_len"]
