"""The trust material of the store, ready for a `certmgr.pki.validate.ValidationContext`.

    material = load_trust_material(session=session, environment=Environment.PRODUCTION)
    ctx = ValidationContext(trust_anchors=material.anchors, untrusted=material.intermediates,
                            crls=material.crls, at=at)

Which CAs serve an environment: its own (PRODUCTION never sees TEST CAs and the reverse),
plus the FIXTURE PKI's, which only the test suite and `certmgr demo` hold and which never
pass for production (their DNs say FIXTURE). OTHER CAs serve only `environment=None` (every
CA of the store) or OTHER itself. The rows are checked again through
`certmgr.pki.anchors.TrustStore` when read: a row that claims an ANS CA without a pinned
fingerprint (written by something else than certmgr's import) is left out and reported in
`trust_store_findings`, as is a row whose DER no longer parses. CRLs: the current (hence
verified) CRLs whose signing CA is among the CAs handed out (by issuer name when a row does
not record its signer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from sqlmodel import col, select

from certmgr.pki.anchors import TrustStore
from certmgr.pki.classify import Environment
from certmgr.pki.findings import Code, Finding, Severity
from certmgr.pki.load import LoadedCertificate
from certmgr.store.models import CACertificate, Crl

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["TrustMaterial", "environments_for", "load_trust_material"]


@dataclass(frozen=True, slots=True)
class TrustMaterial:
    """Anchors, intermediates and current CRLs (as `(crl, der)`) for one validation context."""

    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    crls: tuple[tuple[x509.CertificateRevocationList, bytes], ...]
    trust_store_findings: tuple[Finding, ...] = ()


def environments_for(environment: Environment | None) -> frozenset[str] | None:
    """The CA environments (stored values) that serve `environment`; None: all of them."""
    if environment is None:
        return None
    return frozenset({str(environment), str(Environment.FIXTURE)})


def _malformed(what: str, name: str) -> Finding:
    return Finding(Code.MALFORMED, Severity.ERROR,
                   f"the stored {what} of {name} cannot be read: left out", subject=name)


def load_trust_material(*, session: Session, environment: Environment | None = None,
                        ) -> TrustMaterial:
    """Read the CA and CRL store (see the module docstring); never writes."""
    query = select(CACertificate.fingerprint_sha256, CACertificate.subject, CACertificate.der,
                   CACertificate.is_anchor)
    envs = environments_for(environment)
    if envs is not None:
        query = query.where(col(CACertificate.environment).in_(sorted(envs)))
    findings: list[Finding] = []
    loaded: list[LoadedCertificate] = []
    anchor_rows: set[str] = set()
    for fingerprint, subject, der, is_anchor in session.execute(query):
        try:
            loaded.append(LoadedCertificate(x509.load_der_x509_certificate(der), der))
        except ValueError:
            findings.append(_malformed("CA certificate", subject))
            continue
        if is_anchor:
            anchor_rows.add(fingerprint)
    store = TrustStore.from_certificates(loaded)
    findings += store.findings
    anchors = tuple(e.certificate for e in store.entries
                    if e.facts.fingerprint_sha256 in anchor_rows)
    intermediates = tuple(e.certificate for e in store.entries
                          if e.facts.fingerprint_sha256 not in anchor_rows)
    accepted = {e.facts.fingerprint_sha256 for e in store.entries}
    subjects = {e.facts.subject for e in store.entries}
    crls: list[tuple[x509.CertificateRevocationList, bytes]] = []
    rows = session.execute(select(Crl.issuer, Crl.der, Crl.issuer_fingerprint).where(
        col(Crl.is_current).is_(True), col(Crl.verified).is_(True)))
    for issuer, der, signer in rows:
        # A row without a signer (written by another tool) is matched by issuer name; the
        # validator checks every CRL's signature anyway.
        if signer not in accepted and (signer is not None or issuer not in subjects):
            continue
        try:
            crls.append((x509.load_der_x509_crl(der), der))
        except ValueError:
            findings.append(_malformed("CRL", issuer))
    return TrustMaterial(anchors, intermediates, tuple(crls), tuple(findings))
