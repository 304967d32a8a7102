"""Trust anchors: the pinned ANS CAs, and a trust store built from CA certificates.

certmgr does not ship ANS's certificates; it pins their SHA-256 fingerprints.
Users load the files (`trust import`, or ANS's published .p7b bundles) and
`TrustStore.from_certificates` keeps only what may be trusted:

- a certificate whose DN claims an ANS CA of PRODUCTION or TEST (subject OU
  "IGC-SANTE" or "IGC-SANTE TEST") must have a pinned fingerprint; otherwise it
  is an *impostor*: never added, reported as `Code.IMPOSTOR_CA`. The OU alone
  decides (not O=ASIP-SANTE) so that a look-alike with another O is caught too;
- other environments (certmgr's FIXTURE PKI, OTHER) are accepted unpinned when
  the caller allows them;
- environments never mix: `anchors_for(Environment.PRODUCTION)` holds no TEST CA,
  so a TEST chain cannot validate as production.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from certmgr.pki.classify import (
    ANS_ENVIRONMENTS,
    Domain,
    Environment,
    Gamme,
    environment_of_ca_name,
)
from certmgr.pki.facts import CertFacts, certificate_facts
from certmgr.pki.findings import Code, Finding, Severity
from certmgr.pki.load import LoadedCertificate

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cryptography import x509

__all__ = [
    "PINNED_CAS",
    "CARole",
    "PinnedCA",
    "TrustStore",
    "TrustedCA",
    "impostor_finding",
    "is_impostor",
    "pinned",
]


class CARole(enum.StrEnum):
    ROOT = "root"
    INTERMEDIATE = "intermediate"


@dataclass(frozen=True, slots=True)
class PinnedCA:
    name: str
    fingerprint_sha256: str
    """Lowercase hex."""
    role: CARole
    gamme: Gamme
    domain: Domain | None
    environment: Environment


def _pin(
    name: str, fingerprint: str, gamme: Gamme, domain: Domain | None, env: Environment
) -> PinnedCA:
    role = CARole.ROOT if "RACINE" in name else CARole.INTERMEDIATE
    return PinnedCA(name, fingerprint.lower(), role, gamme, domain, env)


_P, _T = Environment.PRODUCTION, Environment.TEST
_EL, _ST, _FO = Gamme.ELEMENTAIRE, Gamme.STANDARD, Gamme.FORT
_ORG, _PER = Domain.ORGANISATIONS, Domain.PERSONNES

# From /work/shared/igc-sante/README.md (ANS certificates issued 2013-06-25, valid to 2033).
PINNED_CAS: tuple[PinnedCA, ...] = (
    _pin("AC RACINE IGC-SANTE ELEMENTAIRE",
         "2D9E22CA19F777C6B745257C723ECB8DF3C35FA6F1F6EC36B83600C97346967F", _EL, None, _P),
    _pin("AC RACINE IGC-SANTE STANDARD",
         "5891815E864506C662AFB32F8DE5B8DE38BFFA1AF721780B69E19A0C050386C3", _ST, None, _P),
    _pin("AC RACINE IGC-SANTE FORT",
         "53D30A19570826BDE0C0762501F1F1C7A659F976C6C023123DF5239DF34A4EEA", _FO, None, _P),
    _pin("AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
         "D834EE5B40686B73573F60547BF6052C6D404D942A5665CDB2C0B9137B5D27B2", _EL, _ORG, _P),
    _pin("AC IGC-SANTE ELEMENTAIRE PERSONNES",
         "19C1EAEAB477B6FBC233CDA3B53FBDBC3F4E9BF6CF6973E46F7DFAEF89C06C6C", _EL, _PER, _P),
    _pin("AC IGC-SANTE STANDARD ORGANISATIONS",
         "C0520A2B14FB68836A807BF86AB2B3E07D1B6061D91BC9C7B86A6F8DE4B5638E", _ST, _ORG, _P),
    _pin("AC IGC-SANTE STANDARD PERSONNES",
         "6C339EBCB3E1B0102B143C9694225C2A4AB2EF6FEDF7D364DA8DB305E7F7D997", _ST, _PER, _P),
    _pin("AC IGC-SANTE FORT ORGANISATIONS",
         "23F69674002D1DD4B018BAECD908DC92687942BB48E5140FF895E2F56BC49C0D", _FO, _ORG, _P),
    _pin("AC IGC-SANTE FORT PERSONNES",
         "38284E4F6107456E70C7439C85DA7D564D0FE1FE1A968C9EB6D43E1FC0D63C3A", _FO, _PER, _P),
    _pin("TEST AC RACINE IGC-SANTE ELEMENTAIRE",
         "01325AEB193871EEC90FA89556804E4185CB362E0CA87A3D79939C71186DA805", _EL, None, _T),
    _pin("TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
         "DC528E3788691B3F7950164076F95B02C64334C68662BDEDE5750B4E0E5338F6", _EL, _ORG, _T),
)
_BY_FINGERPRINT = {ca.fingerprint_sha256: ca for ca in PINNED_CAS}


def pinned(fingerprint: str) -> PinnedCA | None:
    """The pinned ANS CA with this SHA-256 fingerprint (hex, any case, colons allowed)."""
    return _BY_FINGERPRINT.get(fingerprint.replace(":", "").strip().lower())


def is_impostor(cert: x509.Certificate, *, der: bytes | None = None) -> bool:
    """True when `cert`'s subject claims an ANS CA (PRODUCTION or TEST) it is not pinned as."""
    if environment_of_ca_name(cert.subject) not in ANS_ENVIRONMENTS:
        return False
    if der is None:
        der = cert.public_bytes(serialization.Encoding.DER)
    return pinned(hashlib.sha256(der).hexdigest()) is None


@dataclass(frozen=True, slots=True)
class TrustedCA:
    certificate: x509.Certificate
    der: bytes
    facts: CertFacts
    role: CARole
    pin: PinnedCA | None

    @property
    def environment(self) -> Environment:
        return self.facts.environment


@dataclass(frozen=True, slots=True)
class TrustStore:
    """Roots (anchors) and known intermediates, per environment; `findings` says what was
    refused while building it."""

    entries: tuple[TrustedCA, ...] = ()
    findings: tuple[Finding, ...] = ()

    @classmethod
    def from_certificates(
        cls,
        certs: Iterable[x509.Certificate | LoadedCertificate],
        *,
        allow_unpinned_environments: frozenset[Environment] = frozenset(
            {Environment.FIXTURE, Environment.OTHER}
        ),
    ) -> TrustStore:
        entries: dict[str, TrustedCA] = {}
        findings: list[Finding] = []
        for item in certs:
            cert, der = _cert_and_der(item)
            facts = certificate_facts(cert, der=der)
            pin = pinned(facts.fingerprint_sha256)
            refusal = _refusal(facts, pin, allow_unpinned_environments)
            if refusal is not None:
                findings.append(refusal)
                continue
            role = CARole.ROOT if facts.self_issued else CARole.INTERMEDIATE
            entries.setdefault(facts.fingerprint_sha256, TrustedCA(cert, der, facts, role, pin))
        return cls(entries=tuple(entries.values()), findings=tuple(findings))

    def entries_for(self, env: Environment) -> tuple[TrustedCA, ...]:
        return tuple(e for e in self.entries if e.environment is env)

    def anchors_for(self, env: Environment) -> tuple[x509.Certificate, ...]:
        """The roots of `env` only: other environments never serve as anchors."""
        return tuple(e.certificate for e in self.entries_for(env) if e.role is CARole.ROOT)

    def intermediates_for(self, env: Environment) -> tuple[x509.Certificate, ...]:
        return tuple(
            e.certificate for e in self.entries_for(env) if e.role is CARole.INTERMEDIATE
        )

    def environments(self) -> frozenset[Environment]:
        return frozenset(e.environment for e in self.entries)


def impostor_finding(facts: CertFacts) -> Finding:
    """The IMPOSTOR_CA finding for a CA certificate that `is_impostor`."""
    return Finding(
        Code.IMPOSTOR_CA,
        Severity.ERROR,
        f"This certificate claims to be an ANS {facts.environment.lower()} CA but its "
        f"SHA-256 fingerprint {facts.fingerprint_sha256} is not one of the pinned ANS "
        f"CAs: refused. Get the CA certificates from ANS's publication point. "
        f"({facts.subject})",
        subject=facts.subject,
    )


def _cert_and_der(item: x509.Certificate | LoadedCertificate) -> tuple[x509.Certificate, bytes]:
    if isinstance(item, LoadedCertificate):
        return item.certificate, item.der
    return item, item.public_bytes(serialization.Encoding.DER)


def _refusal(
    facts: CertFacts, pin: PinnedCA | None, allowed: frozenset[Environment]
) -> Finding | None:
    who = facts.subject
    if not facts.is_ca:
        return Finding(
            Code.NOT_A_CA,
            Severity.WARNING,
            f"Not a CA certificate (no basicConstraints CA:TRUE), not added to the trust "
            f"store: {who}",
            subject=who,
        )
    if facts.environment in ANS_ENVIRONMENTS and pin is None:
        return impostor_finding(facts)
    if pin is None and facts.environment not in allowed:
        return Finding(
            Code.UNTRUSTED_ROOT,
            Severity.WARNING,
            f"CA of the {facts.environment.lower()} environment is not pinned and that "
            f"environment only accepts pinned CAs: not added ({who})",
            subject=who,
        )
    return None
