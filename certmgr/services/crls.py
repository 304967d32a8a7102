"""The CRL store: keep every CRL, mark the last valid one per issuer as current.

Rules ("keep the last valid CRL"):
- a CRL is `verified` when a CA certificate of the store with the CRL's issuer name signed
  it (CAs added earlier in the same import run count: see `reverify`); otherwise it is
  kept with `verified=False`, for the record, and is never used;
- a verified, usable CRL (no unknown critical extension) becomes `is_current` for its
  (issuer, AKI, base-or-delta) when there is no current one, or when it is newer: a later
  thisUpdate, or the same thisUpdate and a larger CRL number. A stale CRL can still
  become current when it is newer than the current one (it is then the best there is);
  an older one, stale or not, never replaces the current one;
- an unverified CRL never replaces a current one. A CRL row is never deleted here.

Crash safety: verifying the new CRL, demoting the old current one and promoting the new
one happen in the caller's ONE transaction (the importer's, or `crl refresh`'s per CRL),
so a SIGKILL between them leaves the old CRL current. Fault points: `crl:after-verify`,
`crl:after-demote`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography import x509
from sqlmodel import col, select

from certmgr.pki.crl import CrlIndex
from certmgr.pki.load import LoadedCRL
from certmgr.store.audit import append_event
from certmgr.store.keyfiles import fault
from certmgr.store.models import CACertificate, Crl

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.store.session import Store

__all__ = ["CrlOutcome", "CrlView", "freshness", "list_crls", "reverify", "store_crl"]


@dataclass(frozen=True, slots=True)
class CrlOutcome:
    """What storing one CRL did. `status`: added, known or verified (a known unverified CRL
    whose issuer is now in the store)."""

    fingerprint: str
    issuer: str
    number: int | None
    is_delta: bool
    status: str
    verified: bool
    current: bool
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": "crl", "fingerprint": self.fingerprint, "issuer": self.issuer,
                "number": self.number, "delta": self.is_delta, "status": self.status,
                "verified": self.verified, "current": self.current, "note": self.note}


def _aki(crl: x509.CertificateRevocationList) -> str | None:
    try:
        value = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    return None if value.key_identifier is None else value.key_identifier.hex()


def _signer(session: Session, idx: CrlIndex, aki: str | None) -> CACertificate | None:
    """The CA of the store (same name; same key id when both have one) that signed the CRL."""
    subject = idx.crl.issuer.rfc4514_string()
    for ca in session.scalars(select(CACertificate).where(col(CACertificate.subject) == subject)):
        if aki and ca.ski and ca.ski.lower() != aki:
            continue
        try:
            key = x509.load_der_x509_certificate(ca.der).public_key()
            if idx.signed_by(key):
                return ca
        except (ValueError, TypeError):  # an unreadable or unsupported CA key: not the signer
            continue
    return None


def _newer(row: Crl, than: Crl) -> bool:
    return (row.this_update, row.crl_number or -1) > (than.this_update, than.crl_number or -1)


def _make_current(session: Session, row: Crl) -> str | None:
    """Make `row` current if the rules allow; returns the fingerprint it replaced, or "" when
    it became current with nothing to replace, or None when it did not become current."""
    current = session.scalars(select(Crl).where(
        col(Crl.issuer) == row.issuer, col(Crl.aki) == row.aki if row.aki else
        col(Crl.aki).is_(None), col(Crl.is_delta) == row.is_delta,
        col(Crl.is_current).is_(True), col(Crl.id) != row.id)).first()
    if current is not None and not _newer(row, current):
        return None
    replaced = ""
    if current is not None:
        current.is_current = False
        session.add(current)
        session.flush()  # the one-current-per-issuer index must see the old row demoted first
        replaced = current.fingerprint_sha256
        fault("crl:after-demote")  # no current CRL for this issuer, inside the transaction
    row.is_current = True
    session.add(row)
    session.flush()
    return replaced


def _settle(session: Session, row: Crl, idx: CrlIndex) -> tuple[str | None, str | None]:
    """Verify `row` and apply the current rule: (replaced fingerprint or "", note)."""
    signer = _signer(session, idx, row.aki)
    if signer is None:
        return None, "issuer CA not in the store (or signature invalid): kept unverified"
    row.verified, row.issuer_fingerprint = True, signer.fingerprint_sha256
    session.add(row)
    session.flush()
    fault("crl:after-verify")
    if idx.unusable is not None:
        return None, f"not used: {idx.unusable}"
    replaced = _make_current(session, row)
    if replaced is None:
        return None, "an equal or newer CRL of this issuer is current: kept as history"
    return replaced, None


def store_crl(session: Session, loaded: LoadedCRL, *, source: str | None, at: dt.datetime,
              actor: str) -> CrlOutcome:
    """Add one CRL to the store (or re-check a known unverified one), in the caller's
    transaction, with a `crl.imported` (or `crl.verified`) audit event."""
    idx = CrlIndex.build(loaded.crl, loaded.der)
    fingerprint = hashlib.sha256(loaded.der).hexdigest()
    row = session.scalars(select(Crl).where(col(Crl.fingerprint_sha256) == fingerprint)).first()
    if row is not None and row.verified:
        return _outcome(row, "known", None)
    status, action = ("verified", "crl.verified") if row is not None else ("added",
                                                                           "crl.imported")
    if row is None:
        row = Crl(der=loaded.der, fingerprint_sha256=fingerprint,
                  issuer=loaded.crl.issuer.rfc4514_string(), aki=_aki(loaded.crl),
                  crl_number=idx.number, this_update=idx.this_update,
                  next_update=idx.next_update, is_delta=idx.delta_base is not None,
                  base_crl_number=idx.delta_base, entries=len(loaded.crl), source=source,
                  fetched_at=at)
        session.add(row)
        session.flush()
    replaced, note = _settle(session, row, idx)
    if status == "verified" and not row.verified:
        return _outcome(row, "known", note)
    details: dict[str, Any] = {"issuer": row.issuer, "number": row.crl_number,
                               "delta": row.is_delta, "verified": row.verified,
                               "current": row.is_current, "source": source}
    if replaced:
        details["replaced"] = replaced
    append_event(session, actor=actor, action=action, at=at, object_type="crl",
                 object_id=fingerprint, details=details)
    return _outcome(row, status, note)


def _outcome(row: Crl, status: str, note: str | None) -> CrlOutcome:
    return CrlOutcome(row.fingerprint_sha256, row.issuer, row.crl_number, row.is_delta,
                      status, row.verified, row.is_current, note)


def reverify(session: Session, fingerprints: Sequence[str], *, at: dt.datetime,
             actor: str) -> list[CrlOutcome]:
    """Re-check the unverified CRLs among `fingerprints` (e.g. after CAs were imported later
    in the same run); returns the outcomes of those that became verified."""
    out: list[CrlOutcome] = []
    for fingerprint in fingerprints:
        row = session.scalars(select(Crl).where(col(Crl.fingerprint_sha256) == fingerprint)).first()
        if row is None or row.verified:
            continue
        crl = x509.load_der_x509_crl(row.der)
        outcome = store_crl(session, LoadedCRL(crl, row.der), source=row.source, at=at,
                            actor=actor)
        if outcome.verified:
            out.append(outcome)
    return out


def freshness(this_update: dt.datetime, next_update: dt.datetime | None,
              *, now: dt.datetime) -> str:
    """`fresh`, `stale` (nextUpdate passed), `not-yet-valid` or `no-next-update`."""
    if this_update > now:
        return "not-yet-valid"
    if next_update is None:
        return "no-next-update"
    return "stale" if next_update < now else "fresh"


@dataclass(frozen=True, slots=True)
class CrlView:
    """One CRL of the store, as `crl list` shows it."""

    issuer: str
    this_update: dt.datetime
    next_update: dt.datetime | None
    entries: int
    number: int | None
    is_delta: bool
    verified: bool
    current: bool
    freshness: str
    fingerprint: str
    source: str | None

    def to_json(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "this_update": self.this_update,
                "next_update": self.next_update, "entries": self.entries,
                "number": self.number, "delta": self.is_delta, "verified": self.verified,
                "current": self.current, "freshness": self.freshness,
                "fingerprint": self.fingerprint, "source": self.source}


def list_crls(*, store: Store, now: dt.datetime, current_only: bool = False,
              ) -> tuple[CrlView, ...]:
    """The CRLs of the store by issuer, newest first; freshness judged at `now`."""
    # sqlalchemy's select: sqlmodel's is typed for at most four columns.
    query = sa.select(col(Crl.issuer), col(Crl.this_update), col(Crl.next_update),
                      col(Crl.entries), col(Crl.crl_number), col(Crl.is_delta),
                      col(Crl.verified), col(Crl.is_current), col(Crl.fingerprint_sha256),
                      col(Crl.source)).order_by(col(Crl.issuer), col(Crl.this_update).desc())
    if current_only:
        query = query.where(col(Crl.is_current).is_(True))
    with store.sessions() as session:
        rows = session.execute(query).all()
    return tuple(CrlView(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                         freshness(r[1], r[2], now=now), r[8], r[9]) for r in rows)
