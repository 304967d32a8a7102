"""`certmgr crl refresh`: download the CRLs the inventory needs and store the valid ones.

URLs come from the CRL distribution points of the stored certificates and CA
certificates, plus the configured ones (settings extra `crl_urls`, always downloaded).
A distribution point is downloaded only for the CRLs validation can use: it must be
named by a stored IGC Santé CA certificate (production or TEST), or by a production or
TEST leaf whose issuing CA is stored (else the CRL could not be verified). The others
are skipped with a reason and never requested: certmgr's own FIXTURE PKI (the demo and
the tests; its CRLs are published nowhere, although its DPs mirror the real host),
certificates of other CAs, leaves whose CA is missing. URLs whose scheme the policy
does not download (the LDAP DPs of IGC Santé) are skipped too; a host outside the
allow-list is refused by the policy before any network access.

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
from certmgr.pki.classify import Environment
from certmgr.pki.load import load_crls
from certmgr.services.crls import store_crl
from certmgr.store.models import CACertificate, Certificate, Crl

if TYPE_CHECKING:
    from certmgr.fetch.http import Fetcher
    from certmgr.fetch.policy import UrlPolicy
    from certmgr.store.session import Store

__all__ = ["CrlRefreshReport", "UrlOutcome", "collect_crl_urls", "plan_crl_urls",
           "refresh_crls"]


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


_FIXTURE = ("certmgr's FIXTURE test PKI: its CRLs are published nowhere "
            "(`certmgr crl import` them)")
_OTHER = "not an IGC Santé certificate: add the URL to crl_urls to download it"
_NO_ISSUER = ("its issuing CA is not in the store, so its CRL could not be verified "
              "(`certmgr trust sync` or `trust import` first)")
_IGC_SANTE = frozenset({str(Environment.PRODUCTION), str(Environment.TEST)})
# When no certificate makes a URL worth downloading, the reason shown is the first of these
# that applies: the one the operator can act on comes first.
_PRECEDENCE = (_NO_ISSUER, _OTHER, _FIXTURE)


def _env_reason(environment: str) -> str | None:
    if environment in _IGC_SANTE:
        return None
    return _FIXTURE if environment == str(Environment.FIXTURE) else _OTHER


def plan_crl_urls(*, store: Store, extra_urls: Iterable[str] = ()) -> list[tuple[str, str | None]]:
    """Every distinct CRL URL of the stored certificates and CAs, plus `extra_urls`, sorted,
    each with the reason it is not downloaded (None: download it). See the module doc."""
    reasons: dict[str, set[str | None]] = {}

    def note(urls: Iterable[str], reason: str | None) -> None:
        for url in urls:
            reasons.setdefault(str(url).strip(), set()).add(reason)

    if isinstance(extra_urls, str):  # `crl_urls = "http://..."` in config.toml: one URL
        extra_urls = [extra_urls]
    note((u for u in extra_urls if u.strip()), None)
    with store.sessions() as session:
        cas = session.execute(select(col(CACertificate.der), col(CACertificate.environment),
                                     col(CACertificate.ski), col(CACertificate.subject))).all()
        keys = {ski for _der, _env, ski, _subject in cas if ski}
        names = {subject for _der, _env, _ski, subject in cas}
        for der, environment, _ski, _subject in cas:
            note(_dps(der), _env_reason(environment))
        for urls, environment, aki, issuer in session.execute(select(
                col(Certificate.crl_urls), col(Certificate.environment), col(Certificate.aki),
                col(Certificate.issuer))):
            reason = _env_reason(environment)
            if reason is None and not (aki in keys if aki else issuer in names):
                reason = _NO_ISSUER
            note(urls, reason)
    reasons.pop("", None)
    return [(url, None if None in why else next(r for r in _PRECEDENCE if r in why))
            for url, why in sorted(reasons.items())]


def collect_crl_urls(*, store: Store, extra_urls: Iterable[str] = ()) -> list[str]:
    """The distinct CRL URLs of the stored certificates and CAs, plus `extra_urls`, sorted
    (all of them: `plan_crl_urls` says which are downloaded)."""
    return [url for url, _reason in plan_crl_urls(store=store, extra_urls=extra_urls)]


def refresh_crls(*, store: Store, fetcher: Fetcher, policy: UrlPolicy, at: dt.datetime,
                 actor: str, urls: Sequence[str] | None = None,
                 extra_urls: Iterable[str] = ()) -> CrlRefreshReport:
    """Download each URL once and store what is valid. `urls` are downloaded as given;
    by default the URLs are `plan_crl_urls`, and those it rules out are reported as
    skipped, with its reason, without any network access."""
    plan = ([(url, None) for url in urls] if urls is not None
            else plan_crl_urls(store=store, extra_urls=extra_urls))
    return CrlRefreshReport(at=at, outcomes=tuple(
        UrlOutcome(url, "skipped", detail=policy.skip_reason(url) or reason)
        if reason is not None
        else _one(store, fetcher, policy, url, at=at, actor=actor) for url, reason in plan))


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
