"""The CA store: CA certificates and trust anchors, with the ANS pins enforced.

`store_ca` is the one door into the `ca_certificate` table (used by `import`, `trust
import` and `trust sync`). It applies `certmgr.pki.anchors.TrustStore`'s rules: a CA
whose DN claims an ANS PRODUCTION or TEST CA must have a pinned fingerprint, otherwise it
is an impostor, refused and never stored; a FIXTURE/OTHER CA is accepted unpinned, as an
anchor when self-signed (with a warning that it is not IGC Santé production);
`pinned_only` (trust sync) refuses every unpinned CA. Non-CA certificates are refused.

`sync_trust` downloads ANS's published chain bundles through a `Fetcher` inside the
caller's `UrlPolicy`, and stores only the pinned CAs they hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from certmgr.errors import FetchError, InputError
from certmgr.pki.anchors import CARole, TrustStore
from certmgr.pki.findings import Code, Finding, Severity
from certmgr.pki.load import LoadedCertificate, load_bundle
from certmgr.store.audit import append_event
from certmgr.store.models import CACertificate
from certmgr.store.rows import ca_certificate_row

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.fetch import Fetcher, UrlPolicy
    from certmgr.store.session import Store

__all__ = [
    "BUNDLE_PATHS",
    "CaOutcome",
    "SyncSource",
    "TrustEntry",
    "TrustSyncReport",
    "bundle_urls",
    "list_trust",
    "store_ca",
    "sync_trust",
]

BUNDLE_PATHS = {
    "production": "/AC/Chaine_de_certification-IGC-Sante.p7b",
    "test": "/AC%20TEST/Chaine_de_certification-IGC-Sante-TEST.p7b",
}


@dataclass(frozen=True, slots=True)
class CaOutcome:
    """What happened to one CA certificate. `status`: added, known or refused."""

    fingerprint: str
    subject: str
    environment: str
    status: str
    anchor: bool = False
    pinned: bool = False
    finding: Finding | None = None
    """Why it was refused (IMPOSTOR_CA, NOT_A_CA, UNTRUSTED_ROOT)."""
    warning: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": "ca", "fingerprint": self.fingerprint, "subject": self.subject,
                "environment": self.environment, "status": self.status,
                "anchor": self.anchor, "pinned": self.pinned,
                "finding": None if self.finding is None else self.finding.to_json(),
                "warning": self.warning}


def _unpinned(subject: str) -> Finding:
    return Finding(Code.UNTRUSTED_ROOT, Severity.ERROR,
                   f"not a pinned ANS CA: trust sync accepts pinned fingerprints only ({subject})",
                   subject=subject)


def store_ca(session: Session, item: LoadedCertificate, *, source: str | None,
             at: dt.datetime, actor: str, pinned_only: bool = False) -> CaOutcome:
    """Add one CA certificate to the CA store by the module's rules, in the caller's
    transaction, with a `ca.imported` audit event when added."""
    trust = TrustStore.from_certificates([item])
    if not trust.entries:
        finding = trust.findings[0]
        from certmgr.pki.facts import certificate_facts  # noqa: PLC0415 - refusals are rare

        facts = certificate_facts(item.certificate, der=item.der)
        return CaOutcome(facts.fingerprint_sha256, facts.subject, str(facts.environment),
                         "refused", finding=finding)
    entry = trust.entries[0]
    facts = entry.facts
    env = str(facts.environment)
    if pinned_only and entry.pin is None:
        return CaOutcome(facts.fingerprint_sha256, facts.subject, env, "refused",
                         finding=_unpinned(facts.subject))
    anchor = entry.role is CARole.ROOT
    warning = None
    if entry.pin is None and anchor:
        warning = (f"{env} root accepted as a trust anchor: it is not IGC Santé production "
                   f"({facts.subject})")
    known = session.scalars(select(CACertificate.id).where(
        col(CACertificate.fingerprint_sha256) == facts.fingerprint_sha256)).first()
    if known is not None:
        return CaOutcome(facts.fingerprint_sha256, facts.subject, env, "known", anchor,
                         entry.pin is not None)
    row = ca_certificate_row(facts, der=item.der, is_anchor=anchor,
                             pinned=entry.pin is not None, source=source)
    session.add(row)
    session.flush()
    append_event(session, actor=actor, action="ca.imported", at=at, object_type="ca",
                 object_id=facts.fingerprint_sha256,
                 details={"subject": facts.subject, "environment": env, "anchor": anchor,
                          "pinned": row.pinned, "source": source})
    return CaOutcome(facts.fingerprint_sha256, facts.subject, env, "added", anchor,
                     row.pinned, warning=warning)


# ---------------------------------------------------------------------------- list
@dataclass(frozen=True, slots=True)
class TrustEntry:
    """One CA of the store, as `trust list` shows it."""

    subject: str
    role: str
    environment: str
    gamme: str | None
    domain: str | None
    pinned: bool
    not_after: dt.datetime
    fingerprint: str
    source: str | None

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "role": self.role, "environment": self.environment,
                "gamme": self.gamme, "domain": self.domain, "pinned": self.pinned,
                "not_after": self.not_after, "fingerprint": self.fingerprint,
                "source": self.source}


def list_trust(*, store: Store) -> tuple[TrustEntry, ...]:
    """Every CA of the store: anchors first, then intermediates, by environment and subject."""
    with store.sessions() as session:
        rows = session.scalars(select(CACertificate)).all()
    entries = [TrustEntry(r.subject, "anchor" if r.is_anchor else "intermediate",
                          r.environment, r.gamme, r.domain, r.pinned, r.not_after,
                          r.fingerprint_sha256, r.source) for r in rows]
    return tuple(sorted(entries, key=lambda e: (e.role != "anchor", e.environment, e.subject)))


# ---------------------------------------------------------------------------- sync
def bundle_urls(base_url: str, environments: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(environment, URL) of ANS's chain bundles under `base_url`."""
    base = base_url.rstrip("/")
    return tuple((env, base + BUNDLE_PATHS[env]) for env in environments)


@dataclass(frozen=True, slots=True)
class SyncSource:
    """One downloaded bundle: the CAs it held, or why it could not be used."""

    environment: str
    url: str
    outcomes: tuple[CaOutcome, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(o.status != "refused" for o in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "url": self.url, "error": self.error,
                "certificates": [o.to_json() for o in self.outcomes]}


@dataclass(frozen=True, slots=True)
class TrustSyncReport:
    at: dt.datetime
    sources: tuple[SyncSource, ...]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sources)

    def count(self, status: str) -> int:
        return sum(1 for s in self.sources for o in s.outcomes if o.status == status)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "ok": self.ok, "added": self.count("added"),
                "known": self.count("known"), "refused": self.count("refused"),
                "sources": [s.to_json() for s in self.sources]}


def _sync_one(store: Store, fetcher: Fetcher, policy: UrlPolicy, env: str, url: str, *,
              at: dt.datetime, actor: str) -> SyncSource:
    try:
        result = fetcher.fetch(url, policy=policy)
        bundle = load_bundle(result.body, source=url)
    except (FetchError, InputError) as exc:
        return SyncSource(env, url, error=str(exc))
    if not bundle.certificates:
        return SyncSource(env, url, error=f"{url}: holds no certificate")
    with store.transaction() as session:
        outcomes = tuple(store_ca(session, item, source=url, at=at, actor=actor,
                                  pinned_only=True) for item in bundle.certificates)
        append_event(session, actor=actor, action="trust.synced", at=at, object_type="url",
                     object_id=url, details={"environment": env, "added": sum(
                         1 for o in outcomes if o.status == "added"), "refused": sum(
                         1 for o in outcomes if o.status == "refused")})
    return SyncSource(env, url, outcomes)


def sync_trust(*, store: Store, fetcher: Fetcher, policy: UrlPolicy, base_url: str,
               environments: Sequence[str] = ("production", "test"), at: dt.datetime,
               actor: str) -> TrustSyncReport:
    """Download each environment's bundle and store its pinned CAs (one transaction per
    bundle); a download or parse failure is reported for that bundle, the others go on."""
    sources = tuple(_sync_one(store, fetcher, policy, env, url, at=at, actor=actor)
                    for env, url in bundle_urls(base_url, environments))
    return TrustSyncReport(at=at, sources=sources)
