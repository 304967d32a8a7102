"""Intake of a certificate ANS issued: match it to our key, complete its renewal.

`match_issued_certificate` is the hook the importer calls, in its own transaction, for
every leaf certificate it stores: the certificate's public key (SPKI SHA-256) is looked
up among our keys, whatever name the file had. When it is one of ours, the key's renewal
moves CSR_READY/ORDERED -> ISSUED (`certificate.matched`) and, when the certificate
validates against the store's trust material and becomes the mailbox's CURRENT
certificate, ISSUED -> ACTIVE (`renewal.activated`; the old certificate becomes
PREVIOUS, still kept). A certificate for no key of ours is "no private key here".

`import_issued` is the "import the file I just downloaded for this mailbox" action of
the TUI: the importer, bound to the mailbox, and what happened to our renewal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from certmgr.services.renewal import (
    NO_KEY,
    IntakeOutcome,
    record_issued,
    try_activate,
)
from certmgr.store.models import KeyRecord, Mailbox, Renewal, RenewalState

if TYPE_CHECKING:
    import datetime as dt
    from pathlib import Path

    from sqlalchemy.orm import Session

    from certmgr.config import Settings
    from certmgr.services.importer import ImportReport
    from certmgr.store.models import Certificate
    from certmgr.store.session import Store

__all__ = ["NO_KEY", "IntakeOutcome", "IntakeReport", "import_issued",
           "match_issued_certificate"]


def match_issued_certificate(*, session: Session, certificate_row: Certificate,
                             at: dt.datetime, actor: str) -> IntakeOutcome:
    """Match a stored leaf (flushed: it has an id) to our keys and move its renewal on.

    Runs in the caller's transaction and never commits; idempotent (a second import of
    the same certificate says `known`, or retries the activation of an ISSUED renewal).
    Outcome statuses: `no-key`, `key-only` (our key, no renewal waiting for it),
    `issued` (with the reason it is not ACTIVE yet), `active`, `known`.
    """
    key = session.scalars(select(KeyRecord).where(
        col(KeyRecord.spki_sha256) == certificate_row.spki_sha256)).first()
    if key is None:
        return IntakeOutcome("no-key")
    renewal = session.scalars(select(Renewal).where(col(Renewal.key_id) == key.id).order_by(
        col(Renewal.id).desc())).first()
    if renewal is None:
        return IntakeOutcome("key-only")
    mailbox = session.get(Mailbox, renewal.mailbox_id)
    if mailbox is None:  # foreign key: cannot happen short of a damaged database
        return IntakeOutcome("key-only", renewal.id)
    state = RenewalState(renewal.state)
    same = renewal.certificate_id == certificate_row.id
    if state in (RenewalState.CSR_READY, RenewalState.ORDERED):
        record_issued(session, renewal=renewal, mailbox=mailbox, certificate=certificate_row,
                      key=key, at=at, actor=actor)
    elif state is not RenewalState.ISSUED or not same:
        # ACTIVE with this certificate: a re-import. Otherwise the renewal was closed
        # (REJECTED/ABANDONED) or holds another certificate for the same key: the
        # certificate is stored and bound by the importer's rules, the renewal untouched.
        return IntakeOutcome("known" if same else "key-only", renewal.id, mailbox.address)
    return try_activate(session, renewal=renewal, mailbox=mailbox, cert=certificate_row,
                        at=at, actor=actor)


@dataclass(frozen=True, slots=True)
class IntakeReport:
    """The import report and, per certificate, what happened to our renewal."""

    address: str
    report: ImportReport
    matches: tuple[IntakeOutcome, ...]

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def active(self) -> bool:
        return any(m.status == "active" for m in self.matches)

    def to_json(self) -> dict[str, Any]:
        return {"mailbox": self.address, "ok": self.ok, "active": self.active,
                "matches": [m.to_json() for m in self.matches],
                "import": self.report.to_json()}


def import_issued(*, store: Store, settings: Settings, address: str, path: Path,
                  at: dt.datetime, actor: str) -> IntakeReport:
    """Import `path` bound to `address`; raises NotFoundError/ConflictError for the mailbox.

    The matching happens inside the import (the importer calls the hook above)."""
    # The importer imports this module for the hook: import it at call time.
    from certmgr.services.binding import BindingRules  # noqa: PLC0415
    from certmgr.services.importer import LeafOutcome, import_paths  # noqa: PLC0415

    report = import_paths(store=store, paths=[path], at=at, actor=actor, mailbox=address,
                          rules=BindingRules.from_settings(settings))
    matches = tuple(i.match for f in report.files for i in f.items
                    if isinstance(i, LeafOutcome) and i.match is not None)
    return IntakeReport(address.strip().lower(), report, matches)
