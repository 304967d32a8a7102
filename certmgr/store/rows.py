"""Rows from values: `CertFacts` (certmgr.pki.facts) to `Certificate` / `CACertificate`.

The one place that maps the facts contract onto the certificate columns, so a
new fact means one edit here and one migration. Enum facts are stored as their
string values; the idNatStruct as its raw text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from certmgr.store.models import CACertificate, Certificate

if TYPE_CHECKING:
    import datetime as dt

    from certmgr.pki.facts import CertFacts

__all__ = ["ca_certificate_row", "certificate_row"]


def certificate_row(facts: CertFacts, *, der: bytes, imported_at: dt.datetime,
                    source: str | None = None) -> Certificate:
    """A new (unsaved) `Certificate` holding `der` and every field of `facts`."""
    return Certificate(
        der=der,
        fingerprint_sha256=facts.fingerprint_sha256,
        spki_sha256=facts.spki_sha256,
        serial_hex=facts.serial_hex,
        subject=facts.subject,
        issuer=facts.issuer,
        c=facts.country,
        st=facts.state,
        o=facts.organization,
        ou=facts.org_unit,
        cn=facts.common_name,
        not_before=facts.not_before,
        not_after=facts.not_after,
        key_type=facts.key_type,
        key_size=facts.key_size,
        signature_algorithm=facts.signature_algorithm,
        signature_hash=facts.signature_hash,
        key_usage=list(facts.key_usage),
        eku=list(facts.extended_key_usage),
        policies=list(facts.policies),
        crl_urls=list(facts.crl_urls),
        ocsp_urls=list(facts.ocsp_urls),
        ca_issuer_urls=list(facts.ca_issuer_urls),
        san=list(facts.san),
        is_ca=facts.is_ca,
        path_len=facts.path_len,
        ski=facts.ski,
        aki=facts.aki,
        self_issued=facts.self_issued,
        environment=facts.environment.value,
        gamme=None if facts.gamme is None else facts.gamme.value,
        domain=None if facts.domain is None else facts.domain.value,
        product=facts.product.value,
        legacy_gip_cps=facts.legacy_gip_cps,
        idnat=None if facts.idnat is None else facts.idnat.raw,
        imported_at=imported_at,
        source=source,
    )


def ca_certificate_row(facts: CertFacts, *, der: bytes, is_anchor: bool = False,
                       pinned: bool = False, source: str | None = None) -> CACertificate:
    """A new (unsaved) `CACertificate` for a CA certificate's `der` and `facts`."""
    return CACertificate(
        der=der,
        fingerprint_sha256=facts.fingerprint_sha256,
        subject=facts.subject,
        issuer=facts.issuer,
        ski=facts.ski,
        aki=facts.aki,
        environment=facts.environment.value,
        gamme=None if facts.gamme is None else facts.gamme.value,
        domain=None if facts.domain is None else facts.domain.value,
        is_anchor=is_anchor,
        pinned=pinned,
        source=source,
        not_before=facts.not_before,
        not_after=facts.not_after,
    )
