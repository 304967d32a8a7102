"""The renewal workflow: CSR_READY -> ORDERED -> ISSUED -> ACTIVE, or REJECTED / ABANDONED.

- `mark_ordered`: CSR_READY -> ORDERED, with who, when and the ANS order reference;
- `record_issued` (CSR_READY or ORDERED -> ISSUED) and `try_activate` (ISSUED -> ACTIVE):
  the steps `certmgr.services.intake.match_issued_certificate` takes when an imported
  certificate's public key is one of ours. ACTIVE needs the certificate valid against the
  store's trust material and bound as CURRENT (the old certificate becoming PREVIOUS,
  still kept, see `certmgr.services.binding`); a certificate valid only later (bound
  NEXT) or invalid stays ISSUED, and `activate` (`certmgr order activate`) tries again;
- on ACTIVE the mailbox is re-validated in the same transaction
  (`certmgr.services.scan.revalidate_mailboxes`, the scan's rules): `status`, `report`
  and `mailbox show` show the new certificate's status at once, not at the next scan;
- `reject` (ORDERED -> REJECTED: ANS refused the request) and `abandon` (any open state).
Any other transition raises ConflictError naming the state and what is allowed.

Crash safety: an activation (bind CURRENT, old binding PREVIOUS, renewal ACTIVE, the
mailbox re-validated, audit events) is one transaction; fault points `renewal:after-bind`,
`renewal:after-activate` (inside it) and `renewal:after-commit` (`activate` only) let
tests SIGKILL it there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from sqlmodel import col, select

from certmgr.errors import ConflictError, NotFoundError, PKIError
from certmgr.pki.classify import Environment
from certmgr.pki.validate import RevocationMode, ValidationContext, Validator
from certmgr.services.binding import bind_certificate
from certmgr.services.mailboxes import normalize_address
from certmgr.services.scan import ACTIVATION_TRIGGER, revalidate_mailboxes
from certmgr.services.trustctx import load_trust_material
from certmgr.store.audit import append_event
from certmgr.store.enums import BindingRole, MailboxEnvironment
from certmgr.store.keyfiles import fault
from certmgr.store.models import (
    OPEN_RENEWAL_STATES,
    Binding,
    Certificate,
    KeyRecord,
    Mailbox,
    Renewal,
    RenewalState,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.services.status import Thresholds
    from certmgr.store.session import Store

__all__ = [
    "DEFAULT_STALE_DAYS",
    "NO_KEY",
    "IntakeOutcome",
    "RenewalView",
    "abandon",
    "activate",
    "activate_due",
    "list_renewals",
    "mark_ordered",
    "open_renewal",
    "record_issued",
    "reject",
    "try_activate",
]

DEFAULT_STALE_DAYS = 14
NO_KEY = "no private key here"
_PKI_ENV = {MailboxEnvironment.PRODUCTION: Environment.PRODUCTION,
            MailboxEnvironment.TEST: Environment.TEST}


@dataclass(frozen=True, slots=True)
class RenewalView:
    """One renewal as the CLI and the TUI show it."""

    id: int
    address: str
    state: RenewalState
    profile: str
    created_at: dt.datetime
    ordered_at: dt.datetime | None
    ordered_by: str | None
    order_ref: str | None
    certificate: str | None
    activated_at: dt.datetime | None
    stale: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "address": self.address, "state": str(self.state),
                "profile": self.profile, "created_at": self.created_at,
                "ordered_at": self.ordered_at, "ordered_by": self.ordered_by,
                "order_ref": self.order_ref, "certificate": self.certificate,
                "activated_at": self.activated_at, "stale": self.stale}


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    """What `certmgr.services.intake.match_issued_certificate` did for one certificate.

    status: `no-key` (no key of ours: "no private key here"), `key-only` (our key but no
    open renewal: `reason` says why, or, from the importer, what became of a certificate
    whose key came in the same PKCS#12), `issued`, `active`, `known` (already matched).
    `mailbox_status`: the mailbox's status once re-validated on ACTIVE."""

    status: str
    renewal_id: int | None = None
    address: str | None = None
    reason: str | None = None
    mailbox_status: str | None = None

    @property
    def note(self) -> str:
        if self.status == "no-key":
            return NO_KEY
        if self.status == "key-only" and self.renewal_id is None:  # no renewal used it
            return self.reason or "our private key, no renewal waiting for it"
        if self.status == "key-only":
            return (f"our private key; renewal #{self.renewal_id} of {self.address} left as "
                    f"it is ({self.reason})")
        text = f"renewal #{self.renewal_id} of {self.address}: {self.status}"
        if self.mailbox_status:
            text += f", mailbox now {self.mailbox_status}"
        return f"{text} ({self.reason})" if self.reason else text

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "renewal": self.renewal_id, "mailbox": self.address,
                "reason": self.reason, "mailbox_status": self.mailbox_status,
                "note": self.note}


def _view(renewal: Renewal, address: str, cert: str | None, *, at: dt.datetime,
          stale_days: int) -> RenewalView:
    assert renewal.id is not None
    stale = (renewal.state is RenewalState.ORDERED and renewal.ordered_at is not None
             and at - renewal.ordered_at > dt.timedelta(days=stale_days))
    return RenewalView(renewal.id, address, RenewalState(renewal.state), renewal.profile,
                       renewal.created_at, renewal.ordered_at, renewal.ordered_by,
                       renewal.order_ref, cert, renewal.activated_at, stale)


def open_renewal(session: Session, address: str) -> tuple[Mailbox, Renewal]:
    """The mailbox and its open renewal; NotFoundError when either is missing."""
    wanted = normalize_address(address)
    mailbox = session.scalars(select(Mailbox).where(col(Mailbox.address) == wanted)).first()
    if mailbox is None:
        raise NotFoundError(f"no mailbox {wanted}")
    renewal = session.scalars(select(Renewal).where(
        col(Renewal.mailbox_id) == mailbox.id,
        col(Renewal.state).in_([str(s) for s in OPEN_RENEWAL_STATES]))).first()
    if renewal is None:
        raise NotFoundError(f"mailbox {wanted} has no renewal under way "
                            f"(start one: certmgr csr new {wanted})")
    return mailbox, renewal


def _move(session: Session, renewal: Renewal, mailbox: Mailbox, new: RenewalState, *,
          allowed_from: frozenset[RenewalState], at: dt.datetime, actor: str, action: str,
          details: dict[str, Any]) -> None:
    current = RenewalState(renewal.state)
    if current not in allowed_from:
        names = ", ".join(sorted(str(s) for s in allowed_from))
        raise ConflictError(f"renewal #{renewal.id} of {mailbox.address} is {current}: "
                            f"it cannot become {new} (only from {names})")
    renewal.state = new
    renewal.updated_at = at
    session.add(renewal)
    session.flush()
    append_event(session, actor=actor, action=action, at=at, object_type="renewal",
                 object_id=renewal.id, details={"mailbox": mailbox.address, "from": str(current),
                                                "to": str(new), **details})


def _cert_fp(session: Session, renewal: Renewal) -> str | None:
    if renewal.certificate_id is None:
        return None
    cert = session.get(Certificate, renewal.certificate_id)
    return None if cert is None else cert.fingerprint_sha256


def mark_ordered(*, store: Store, address: str, at: dt.datetime, actor: str,
                 ref: str | None = None) -> RenewalView:
    """CSR_READY -> ORDERED (audited `order.marked` with the reference)."""
    with store.transaction() as session:
        mailbox, renewal = open_renewal(session, address)
        renewal.ordered_at = at
        renewal.ordered_by = actor
        renewal.order_ref = ref
        _move(session, renewal, mailbox, RenewalState.ORDERED,
              allowed_from=frozenset({RenewalState.CSR_READY}), at=at, actor=actor,
              action="order.marked", details={"ref": ref})
        return _view(renewal, mailbox.address, None, at=at, stale_days=DEFAULT_STALE_DAYS)


def reject(*, store: Store, address: str, at: dt.datetime, actor: str,
           reason: str | None = None) -> RenewalView:
    """ORDERED -> REJECTED (ANS refused the request); the key stays, unused."""
    with store.transaction() as session:
        mailbox, renewal = open_renewal(session, address)
        _move(session, renewal, mailbox, RenewalState.REJECTED,
              allowed_from=frozenset({RenewalState.ORDERED}), at=at, actor=actor,
              action="order.rejected", details={"reason": reason})
        return _view(renewal, mailbox.address, _cert_fp(session, renewal), at=at,
                     stale_days=DEFAULT_STALE_DAYS)


def abandon(*, store: Store, address: str, at: dt.datetime, actor: str,
            reason: str | None = None) -> RenewalView:
    """Any open state -> ABANDONED (a new `csr new` is then possible)."""
    with store.transaction() as session:
        mailbox, renewal = open_renewal(session, address)
        _move(session, renewal, mailbox, RenewalState.ABANDONED,
              allowed_from=OPEN_RENEWAL_STATES, at=at, actor=actor,
              action="renewal.abandoned", details={"reason": reason})
        return _view(renewal, mailbox.address, _cert_fp(session, renewal), at=at,
                     stale_days=DEFAULT_STALE_DAYS)


def list_renewals(*, store: Store, at: dt.datetime, stale_days: int = DEFAULT_STALE_DAYS,
                  include_closed: bool = False) -> tuple[RenewalView, ...]:
    """Renewals (open ones only unless `include_closed`), by address then id."""
    with store.sessions() as session:
        query = select(Renewal, Mailbox.address).join(
            Mailbox, col(Mailbox.id) == col(Renewal.mailbox_id))
        if not include_closed:
            query = query.where(col(Renewal.state).in_([str(s) for s in OPEN_RENEWAL_STATES]))
        rows = session.execute(query.order_by(col(Mailbox.address), col(Renewal.id))).all()
        return tuple(_view(r, a, _cert_fp(session, r), at=at, stale_days=stale_days)
                     for r, a in rows)


# ---------------------------------------------------------------------------- intake
def record_issued(session: Session, *, renewal: Renewal, mailbox: Mailbox,
                  certificate: Certificate, key: KeyRecord, at: dt.datetime,
                  actor: str) -> None:
    """CSR_READY or ORDERED -> ISSUED with `certificate` (audited `certificate.matched`)."""
    renewal.certificate_id = certificate.id
    _move(session, renewal, mailbox, RenewalState.ISSUED,
          allowed_from=frozenset({RenewalState.CSR_READY, RenewalState.ORDERED}), at=at,
          actor=actor, action="certificate.matched",
          details={"fingerprint": certificate.fingerprint_sha256, "key": key.spki_sha256})


def _validate(session: Session, mailbox: Mailbox, cert: Certificate, *,
              at: dt.datetime) -> str | None:
    """None when `cert` is valid at `at` against the store's trust; else the reason."""
    fixture = cert.environment == str(Environment.FIXTURE)
    environment = None if fixture else _PKI_ENV[MailboxEnvironment(mailbox.environment)]
    material = load_trust_material(session=session, environment=environment)
    try:
        ctx = ValidationContext(trust_anchors=tuple(material.anchors), at=at,
                                untrusted=tuple(material.intermediates),
                                crls=tuple(material.crls),
                                revocation=RevocationMode.HARD_FAIL, accept_stale_crl=True,
                                required_eku="clientAuth")
    except PKIError as exc:
        return f"cannot validate: {exc}"
    result = Validator(ctx).validate(x509.load_der_x509_certificate(cert.der), cert.der)
    if result.valid:
        return None
    return "; ".join(f.message for f in result.findings) or "invalid"


def _current_binding(session: Session, mailbox: Mailbox) -> Binding | None:
    return session.scalars(select(Binding).where(
        col(Binding.mailbox_id) == mailbox.id, col(Binding.role) == str(BindingRole.CURRENT),
    )).first()


def _promote_next(session: Session, *, mailbox: Mailbox, cert: Certificate,
                  current: Binding | None, at: dt.datetime, actor: str, source: str) -> None:
    """`cert`, bound NEXT when it was imported before its notBefore and now validated at
    `at`, becomes CURRENT; the current one PREVIOUS (`binding.promoted`). Binding an
    already bound pair changes nothing (`bind_certificate`), so without this an ISSUED
    renewal whose certificate came early would never become ACTIVE."""
    mine = session.scalars(select(Binding).where(
        col(Binding.mailbox_id) == mailbox.id, col(Binding.certificate_id) == cert.id,
        col(Binding.role) == str(BindingRole.NEXT), col(Binding.unbound_at).is_(None),
    )).first()
    if mine is None or not cert.not_before <= at <= cert.not_after:
        return
    replaced = None
    if current is not None:
        current.role = BindingRole.PREVIOUS
        current.unbound_at = at
        session.add(current)
        session.flush()  # one CURRENT per mailbox: the old row demoted first
        old = session.get(Certificate, current.certificate_id)
        replaced = None if old is None else old.fingerprint_sha256
    mine.role = BindingRole.CURRENT
    session.add(mine)
    session.flush()
    append_event(session, actor=actor, action="binding.promoted", at=at,
                 object_type="binding", object_id=mine.id,
                 details={"mailbox": mailbox.address, "fingerprint": cert.fingerprint_sha256,
                          "role": str(BindingRole.CURRENT), "replaced": replaced,
                          "source": source})


def try_activate(session: Session, *, renewal: Renewal, mailbox: Mailbox, cert: Certificate,
                 at: dt.datetime, actor: str,
                 thresholds: Thresholds | None = None) -> IntakeOutcome:
    """ISSUED -> ACTIVE when `cert` validates at `at` and becomes the CURRENT binding (the
    old one PREVIOUS; a NEXT binding of `cert` is promoted), then the mailbox re-validated
    with `thresholds` (default: the scan's defaults); otherwise the renewal stays ISSUED
    and the outcome says why."""
    problem = _validate(session, mailbox, cert, at=at)
    if problem is not None:
        return IntakeOutcome("issued", renewal.id, mailbox.address, f"not valid: {problem}")
    bind_certificate(session, mailbox=mailbox, certificate=cert, at=at, actor=actor,
                     source=f"renewal #{renewal.id}")
    current = _current_binding(session, mailbox)
    if current is None or current.certificate_id != cert.id:
        _promote_next(session, mailbox=mailbox, cert=cert, current=current, at=at,
                      actor=actor, source=f"renewal #{renewal.id}")
        current = _current_binding(session, mailbox)
    # Crash tests: bound CURRENT, renewal not yet ACTIVE. Both are in the caller's one
    # transaction, so a kill here leaves neither.
    fault("renewal:after-bind")
    if current is None or current.certificate_id != cert.id:
        return IntakeOutcome("issued", renewal.id, mailbox.address,
                             "not bound as current (valid later, or older than the current one)")
    renewal.activated_at = at
    _move(session, renewal, mailbox, RenewalState.ACTIVE,
          allowed_from=frozenset({RenewalState.ISSUED}), at=at, actor=actor,
          action="renewal.activated", details={"fingerprint": cert.fingerprint_sha256})
    scanned = revalidate_mailboxes(session, addresses=[mailbox.address], at=at, actor=actor,
                                   reason=f"renewal #{renewal.id} activated",
                                   trigger=ACTIVATION_TRIGGER, thresholds=thresholds)
    fault("renewal:after-activate")  # ACTIVE, audited and re-validated, not committed yet
    return IntakeOutcome("active", renewal.id, mailbox.address,
                         mailbox_status=str(scanned[0].status) if scanned else None)


def activate_due(*, store: Store, at: dt.datetime, actor: str,
                 thresholds: Thresholds | None = None) -> list[IntakeOutcome]:
    """Try again every ISSUED renewal whose certificate has started (notBefore <= `at`): a
    certificate imported before its start date becomes ACTIVE on the first scan after it,
    without an operator's `order activate`. One transaction per renewal; the outcomes of
    those tried (still ISSUED ones say why)."""
    with store.sessions() as session:
        due = session.execute(
            select(col(Mailbox.address))
            .join(Renewal, col(Renewal.mailbox_id) == col(Mailbox.id))
            .join(Certificate, col(Certificate.id) == col(Renewal.certificate_id))
            .where(col(Renewal.state) == RenewalState.ISSUED,
                   col(Certificate.not_before) <= at)
            .order_by(col(Mailbox.address))).scalars().all()
    outcomes = []
    for address in due:
        try:
            outcomes.append(activate(store=store, address=address, at=at, actor=actor,
                                     thresholds=thresholds))
        except ConflictError:  # moved on meanwhile (another user activated or abandoned it)
            continue
    return outcomes


def activate(*, store: Store, address: str, at: dt.datetime, actor: str,
             thresholds: Thresholds | None = None) -> IntakeOutcome:
    """Try again ISSUED -> ACTIVE (e.g. once a certificate bound NEXT has become valid)."""
    with store.transaction() as session:
        mailbox, renewal = open_renewal(session, address)
        if renewal.state is not RenewalState.ISSUED or renewal.certificate_id is None:
            raise ConflictError(f"renewal #{renewal.id} of {mailbox.address} is "
                                f"{renewal.state}: only an ISSUED renewal can become ACTIVE")
        cert = session.get(Certificate, renewal.certificate_id)
        assert cert is not None
        outcome = try_activate(session, renewal=renewal, mailbox=mailbox, cert=cert, at=at,
                               actor=actor, thresholds=thresholds)
    fault("renewal:after-commit")
    return outcome
