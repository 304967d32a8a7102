"""`certmgr crl refresh`: download the CRLs the inventory needs and store the valid ones.

URLs come from the CRL distribution points of the stored certificates and CA
certificates, plus the configured ones (settings extra `crl_urls`). URLs whose scheme
the policy does not download (the LDAP DPs of IGC Santé) are skipped with a reason;
a host outside the allow-list is refused by the policy before any network access.

Every downloaded CRL goes through `certmgr.services.crls.store_crl` (signature checked
against the stored CA, "keep the last valid CRL"): a failed download, an unreadable
body or a CRL that is not signed by its CA never replaces the current one. One URL's
failure never stops the others; the report has one line per URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from sqlmodel import col, select

from certmgr.errors import CertmgrError, NotAllowedError
from certmgr.pki.load import load_crls
from certmgr.services.crls import store_crl
from certmgr.store.models import CACertificate, Certificate, Crl

if TYPE_CHECKING:
    from certmgr.fetch.http import Fetcher
    from certmgr.fetch.policy import UrlPolicy
    from certmgr.store.session import Store

__all__ = ["CrlRefreshReport", "UrlOutcome", "collect_crl_urls", "refresh_crls"]


@dataclass(frozen=True, slots=True)
class UrlOutcome:
    """What happened to one URL. `status`: current (a new CRL became current), known (the
    same CRL again), kept (stored as history or unverified: the last valid one stays),
    skipped (scheme not downloaded), refused (outside the allow-list), failed."""

    url: str
    status: str
    issuer: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in {"current", "known", "skipped"}

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "issuer": self.issuer,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class CrlRefreshReport:
    """One `UrlOutcome` per URL, in URL order."""

    at: dt.datetime
    outcomes: tuple[UrlOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "ok": self.ok, "urls": [o.to_json() for o in self.outcomes]}


def _dps(der: bytes) -> list[str]:
    try:
        ext = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
            x509.CRLDistributionPoints)
    except (ValueError, x509.ExtensionNotFound):
        return []
    return [name.value for dp in ext.value for name in (dp.full_name or ())
            if isinstance(name, x509.UniformResourceIdentifier)]


def collect_crl_urls(*, store: Store, extra_urls: Iterable[str] = ()) -> list[str]:
    """The distinct CRL URLs of the stored certificates and CAs, plus `extra_urls`, sorted."""
    urls = {u.strip() for u in extra_urls if u.strip()}
    with store.sessions() as session:
        for crl_urls in session.scalars(select(Certificate.crl_urls)):
            urls.update(str(u) for u in crl_urls)
        for der in session.scalars(select(CACertificate.der)):
            urls.update(_dps(der))
    return sorted(urls)


def refresh_crls(*, store: Store, fetcher: Fetcher, policy: UrlPolicy, at: dt.datetime,
                 actor: str, urls: Sequence[str] | None = None,
                 extra_urls: Iterable[str] = ()) -> CrlRefreshReport:
    """Download every URL (default: `collect_crl_urls`) once and store what is valid."""
    targets = list(urls) if urls is not None else collect_crl_urls(store=store,
                                                                   extra_urls=extra_urls)
    return CrlRefreshReport(at=at, outcomes=tuple(
        _one(store, fetcher, policy, url, at=at, actor=actor) for url in targets))


def _one(store: Store, fetcher: Fetcher, policy: UrlPolicy, url: str, *, at: dt.datetime,
         actor: str) -> UrlOutcome:
    reason = policy.skip_reason(url)
    if reason is not None:
        return UrlOutcome(url, "skipped", detail=reason)
    try:
        result = fetcher.fetch(url, policy=policy)
        loaded = load_crls(result.body, source=url)
    except NotAllowedError as exc:
        return UrlOutcome(url, "refused", detail=str(exc))
    except CertmgrError as exc:
        return UrlOutcome(url, "failed", detail=str(exc))
    status, issuer, notes = "known", None, []
    for crl in loaded:
        with store.transaction() as session:
            outcome = store_crl(session, crl, source=url, at=at, actor=actor)
            if outcome.status == "known" and outcome.verified:
                # the same CRL again: record that this download succeeded (metrics)
                row = session.scalars(select(Crl).where(
                    col(Crl.fingerprint_sha256) == outcome.fingerprint)).one()
                row.fetched_at = at
                session.add(row)
        issuer = outcome.issuer
        if outcome.status != "known" and outcome.current:
            status = "current"
        elif outcome.status != "known" or not outcome.verified:
            status = "kept" if status != "current" else status
            notes.append(outcome.note or "not verified")
    return UrlOutcome(url, status, issuer=issuer, detail="; ".join(notes) or None)
