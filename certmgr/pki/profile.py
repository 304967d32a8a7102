"""IGC Santé profile checks: is this certificate the product it is meant to be?

Kept apart from path validation on purpose: a certificate may chain perfectly to
an ANS root and still be the wrong product for an MSSanté mailbox (a signature
certificate, a TEST certificate, a legacy GIP-CPS one...). `check_profile`
returns findings, never raises for a certificate; ERROR marks what makes the
certificate unusable for the profile, WARNING what is off but workable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certmgr.errors import InputError
from certmgr.pki.classify import Domain, Environment, Gamme, Product
from certmgr.pki.findings import Code, Finding, Severity

if TYPE_CHECKING:
    from certmgr.pki.facts import CertFacts

__all__ = ["ALIASES", "DEFAULT_PROFILE", "PROFILES", "Profile", "check_profile", "get_profile"]

_STRONG_HASHES = frozenset({"sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512"})
_STATE_SHAPE = re.compile(r".+ \((?:\d{2,3}|2[AB])\)")
_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO


@dataclass(frozen=True, slots=True)
class Profile:
    """What one IGC Santé product must carry.

    `key_usage_all`: every one required; `key_usage_any`: at least one;
    `key_usage_only`: when set, any other key usage is a warning.
    """

    name: str
    product: Product
    description: str
    gamme: Gamme | None = None
    key_usage_all: frozenset[str] = frozenset()
    key_usage_any: frozenset[str] = frozenset()
    key_usage_only: frozenset[str] | None = None
    eku_required: frozenset[str] = frozenset()
    email_san: bool = False


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "ORG_AUTH_CLI",
            Product.ORG_AUTH_CLI,
            "organisation client-authentication certificate (MSSanté applicative mailbox)",
            gamme=Gamme.ELEMENTAIRE,
            key_usage_all=frozenset({"digitalSignature"}),
            key_usage_only=frozenset({"digitalSignature"}),
            eku_required=frozenset({"clientAuth"}),
        ),
        Profile(
            "ORG_SIGN",
            Product.ORG_SIGN,
            "organisation signature certificate",
            key_usage_all=frozenset({"digitalSignature", "nonRepudiation"}),
            eku_required=frozenset({"emailProtection"}),
        ),
        Profile(
            "ORG_CONF",
            Product.ORG_CONF,
            "organisation confidentiality (encryption) certificate",
            key_usage_any=frozenset({"keyEncipherment", "dataEncipherment"}),
        ),
        Profile(
            "SERV_SSL",
            Product.SERV_SSL,
            "server TLS certificate",
            key_usage_all=frozenset({"digitalSignature"}),
            eku_required=frozenset({"serverAuth"}),
        ),
        Profile(
            "SERV_SMIME",
            Product.SERV_SMIME,
            "server S/MIME certificate",
            key_usage_all=frozenset({"digitalSignature"}),
            eku_required=frozenset({"emailProtection"}),
            email_san=True,
        ),
    )
}
ALIASES = {"mailbox": "ORG_AUTH_CLI"}
DEFAULT_PROFILE = "ORG_AUTH_CLI"


def get_profile(name: str) -> Profile:
    """The profile called `name` (case-insensitive, aliases allowed); InputError otherwise."""
    key = ALIASES.get(name.strip().lower(), name.strip().upper())
    profile = PROFILES.get(key)
    if profile is None:
        valid = ", ".join([*PROFILES, *ALIASES])
        raise InputError(f"unknown profile {name!r}; valid profiles: {valid}")
    return profile


def check_profile(
    facts: CertFacts, *, profile: str, expected_environment: Environment | None = None
) -> tuple[Finding, ...]:
    """Check `facts` against the IGC Santé profile named `profile`."""
    spec = get_profile(profile)
    found: list[Finding] = []
    found += _environment(facts, expected_environment)
    found += _issuer(facts, spec)
    found += _usages(facts, spec)
    found += _crypto(facts)
    found += _subject(facts, spec)
    return tuple(found)


def _a(noun: str, *, start: bool = False) -> str:
    article = "an " if noun[:1] in "aeiou" else "a "
    return (article.capitalize() if start else article) + noun


def _f(code: Code, severity: Severity, message: str) -> Finding:
    return Finding(code=code, severity=severity, message=message)


def _environment(facts: CertFacts, expected: Environment | None) -> list[Finding]:
    out: list[Finding] = []
    env = facts.environment
    if facts.legacy_gip_cps:
        out.append(_f(Code.LEGACY_GIP_CPS, _E,
                      "This certificate comes from the old GIP-CPS PKI (replaced by IGC Santé); "
                      "it is obsolete and must be replaced by an IGC Santé certificate."))
    if env is Environment.TEST:
        if expected is Environment.PRODUCTION:
            out.append(_f(Code.TEST_ENVIRONMENT, _E,
                          "This is an IGC Santé TEST certificate; production MSSanté services "
                          "refuse it. Order a production certificate."))
        else:
            out.append(_f(Code.TEST_ENVIRONMENT, _I,
                          "This is an IGC Santé TEST certificate (test environment only)."))
    if expected is not None and env is not expected and not (
        env is Environment.TEST and expected is Environment.PRODUCTION
    ):
        out.append(_f(Code.ENVIRONMENT_MISMATCH, _E,
                      f"The certificate belongs to the {env.lower()} environment but "
                      f"{expected.lower()} was expected."))
    return out


def _issuer(facts: CertFacts, spec: Profile) -> list[Finding]:
    if facts.is_ca:
        return [_f(Code.PROFILE_ISSUER, _E,
                   f"This is a CA certificate, not {_a(spec.description)}.")]
    wanted = (
        f"AC IGC-SANTE {spec.gamme} ORGANISATIONS"
        if spec.gamme
        else "an AC IGC-SANTE <gamme> ORGANISATIONS CA"
    )
    if facts.domain is not Domain.ORGANISATIONS or (
        spec.gamme is not None and facts.gamme is not spec.gamme
    ):
        return [_f(Code.PROFILE_ISSUER, _E,
                   f"{_a(spec.description, start=True)} must be issued by {wanted}; "
                   f"this one was issued by {facts.issuer}.")]
    return []


def _usages(facts: CertFacts, spec: Profile) -> list[Finding]:
    out: list[Finding] = []
    ku, eku = set(facts.key_usage), set(facts.extended_key_usage)
    shown = ", ".join(facts.key_usage) or "none"
    missing = sorted(spec.key_usage_all - ku)
    if missing:
        out.append(_f(Code.PROFILE_KEY_USAGE, _E,
                      f"Key usage {', '.join(missing)} is required for {_a(spec.description)} "
                      f"(the certificate has: {shown})."))
    if spec.key_usage_any and not spec.key_usage_any & ku:
        out.append(_f(Code.PROFILE_KEY_USAGE, _E,
                      f"{_a(spec.description, start=True)} needs one of "
                      f"{' or '.join(sorted(spec.key_usage_any))} (the certificate has: {shown})."))
    if spec.key_usage_only is not None and not missing and ku - spec.key_usage_only:
        extra = ", ".join(sorted(ku - spec.key_usage_only))
        out.append(_f(Code.PROFILE_KEY_USAGE, _W,
                      f"Unexpected key usage {extra} for {_a(spec.description)}, which carries "
                      f"{', '.join(sorted(spec.key_usage_only))} only."))
    missing_eku = sorted(spec.eku_required - eku)
    if missing_eku:
        out.append(_f(Code.PROFILE_EKU, _E,
                      f"Extended key usage {', '.join(missing_eku)} is required for "
                      f"{_a(spec.description)} (the certificate has: "
                      f"{', '.join(facts.extended_key_usage) or 'none'})."))
    return out


def _crypto(facts: CertFacts) -> list[Finding]:
    out: list[Finding] = []
    weak_rsa = facts.key_type == "RSA" and facts.key_size < 2048
    weak_ec = facts.key_type == "EC" and facts.key_size < 256
    if weak_rsa or weak_ec or facts.key_type not in {"RSA", "EC"}:
        out.append(_f(Code.PROFILE_KEY_SIZE, _E,
                      f"The key is {facts.key_type}-{facts.key_size}; at least RSA-2048 "
                      "(or EC P-256) is required."))
    if facts.signature_hash not in _STRONG_HASHES:
        out.append(_f(Code.PROFILE_SIGNATURE_HASH, _E,
                      f"The certificate is signed with {facts.signature_algorithm}; SHA-256 or "
                      "stronger is required."))
    return out


def _subject(facts: CertFacts, spec: Profile) -> list[Finding]:
    out: list[Finding] = []

    def subject_issue(severity: Severity, text: str) -> None:
        out.append(_f(Code.PROFILE_SUBJECT, severity, f"Subject: {text} ({facts.subject})."))

    if facts.country != "FR":
        subject_issue(_W, f"country must be FR, found {facts.country or 'none'}")
    if facts.state is None or _STATE_SHAPE.fullmatch(facts.state) is None:
        subject_issue(_W, f"state must read 'Department (nn)', found {facts.state or 'none'}")
    if not facts.organization:
        subject_issue(_W, "the organisation (O) is missing")
    if not facts.common_name:
        subject_issue(_E, "the common name (CN) is missing")
    if facts.idnat is None:
        subject_issue(_W, "the OU must be the structure's national identifier (idNatStruct, "
                          f"e.g. 3 + SIRET), found {facts.org_unit or 'none'}")
    elif facts.idnat.check_digit_ok is False:
        out.append(_f(Code.IDNAT_CHECK_DIGIT, _W,
                      f"The {facts.idnat.kind.name} {facts.idnat.value} in the OU has a wrong "
                      "check digit; check the identifier with ANS."))
    if spec.email_san and not any(entry.startswith("email:") for entry in facts.san):
        subject_issue(_E, f"{_a(spec.description)} needs an e-mail address in subjectAltName")
    return out
