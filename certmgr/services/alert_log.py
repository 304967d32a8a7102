"""The record of alerts: what was sent (`list_sent`, `sent_counts`) and acknowledging or
snoozing an alert (`acknowledge_alert`: a certificate's alerts, or one alert fact of
another kind, `fact_acks`). See `certmgr.services.alerts`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import col

from certmgr.errors import NotFoundError
from certmgr.store.audit import append_event
from certmgr.store.models import AuditEvent, Certificate
from certmgr.store.models_alerts import AlertSent, AlertState

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

    from certmgr.store.session import Store

__all__ = ["ACK_ACTION", "Acknowledgement", "FactAck", "SentView", "acknowledge",
           "acknowledge_alert", "fact_acks", "list_sent", "sent_counts"]


ACK_ACTION = "alert.acknowledged"
_FACT = "alert"  # the audit object type of an acknowledged alert that is not a certificate's


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """What `acknowledge_alert` acknowledged: a certificate (its alerts of every kind),
    or one alert fact (`dedup_key`: a CRL gone stale, an order pending, an endpoint
    failing, a job failing)."""

    alert_id: int
    kind: str
    dedup_key: str
    certificate: str | None
    """The certificate's SHA-256 fingerprint, for a certificate alert."""
    mailbox: str | None
    snoozed_until: dt.datetime | None


@dataclass(frozen=True, slots=True)
class FactAck:
    """The latest acknowledgement of an alert fact that is not a certificate's."""

    dedup_key: str
    acknowledged_at: dt.datetime
    acknowledged_by: str
    snoozed_until: dt.datetime | None


def acknowledge_alert(*, store: Store, alert_id: int, at: dt.datetime, actor: str,
                      until: dt.datetime | None = None) -> Acknowledgement:
    """Acknowledge sent alert `alert_id`: its escalation stops; with `until`, its alerts
    are also held until then (snoozed).

    A certificate's alert (expiry, expired, revoked, chain) acknowledges the certificate
    (`AlertState`: every kind, until its next step). Any other alert (CRL stale, order
    pending, probe failing, job failing) acknowledges that fact, its `dedup_key`: the
    acknowledgement is the audit event itself (action `alert.acknowledged`, object
    `alert` / dedup key, details `until`), read back by `fact_acks`. NotFoundError for an
    unknown id."""
    with store.transaction() as session:
        sent = session.get(AlertSent, alert_id)
        if sent is None:
            raise NotFoundError(f"alert {alert_id}: no such alert (see `certmgr alerts list`)")
        cert_id = None if sent.certificate_fingerprint is None else session.scalar(
            select(col(Certificate.id)).where(
                col(Certificate.fingerprint_sha256) == sent.certificate_fingerprint))
        details: dict[str, object] = {
            "alert_id": alert_id, "until": None if until is None else until.isoformat()}
        if cert_id is not None:
            state = session.scalars(select(AlertState).where(
                col(AlertState.certificate_id) == cert_id)).first() or AlertState(
                certificate_id=cert_id)
            state.acknowledged_at, state.acknowledged_by = at, actor
            if until is not None:
                state.snoozed_until = until
            session.add(state)
            append_event(session, actor=actor, action=ACK_ACTION, at=at,
                         object_type="certificate", object_id=sent.certificate_fingerprint,
                         details=details)
        else:
            append_event(session, actor=actor, action=ACK_ACTION, at=at, object_type=_FACT,
                         object_id=sent.dedup_key, details={**details, "kind": sent.kind})
        return Acknowledgement(alert_id, sent.kind, sent.dedup_key,
                               None if cert_id is None else sent.certificate_fingerprint,
                               sent.mailbox, until)


def acknowledge(*, store: Store, alert_id: int, at: dt.datetime, actor: str,
                until: dt.datetime | None = None) -> str:
    """`acknowledge_alert`, returning what was acknowledged: the certificate fingerprint
    of a certificate alert, else the alert's dedup key."""
    done = acknowledge_alert(store=store, alert_id=alert_id, at=at, actor=actor, until=until)
    return done.certificate or done.dedup_key


def fact_acks(session: Session, keys: Iterable[str]) -> dict[str, FactAck]:
    """The latest acknowledgement of each alert fact of `keys` that has one (see
    `acknowledge_alert`), by dedup key."""
    wanted = sorted(set(keys))
    out: dict[str, FactAck] = {}
    for first in range(0, len(wanted), 500):
        rows = session.scalars(select(AuditEvent).where(
            col(AuditEvent.action) == ACK_ACTION, col(AuditEvent.object_type) == _FACT,
            col(AuditEvent.object_id).in_(wanted[first:first + 500])).order_by(
            col(AuditEvent.id)))
        for row in rows:
            out[row.object_id or ""] = FactAck(row.object_id or "", row.at, row.actor,
                                               _instant(row.details.get("until")))
    return out


def _instant(value: object) -> dt.datetime | None:
    if not value:
        return None
    when = dt.datetime.fromisoformat(str(value))
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class SentView:
    """One alert sent (or failed): a row of `certmgr alerts list`, with its
    acknowledgement (of its certificate, or of its fact for the other kinds)."""

    id: int
    sent_at: dt.datetime
    kind: str
    channel: str
    recipient: str
    status: str
    """sent, failed or escalated."""
    mailbox: str | None
    threshold: int | None
    error: str | None
    acknowledged_at: dt.datetime | None = None
    """Set when acknowledged after it was sent (a certificate's acknowledgement before this
    alert's step does not count)."""
    acknowledged_by: str | None = None
    snoozed_until: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "sent_at": self.sent_at, "kind": self.kind,
                "channel": self.channel, "recipient": self.recipient, "status": self.status,
                "mailbox": self.mailbox, "threshold": self.threshold, "error": self.error,
                "acknowledged_at": self.acknowledged_at,
                "acknowledged_by": self.acknowledged_by, "snoozed_until": self.snoozed_until}


def list_sent(*, store: Store, limit: int = 100, mailbox: str | None = None,
              ) -> list[SentView]:
    """The latest alerts sent (or failed), of `mailbox` when given, newest first, with
    their acknowledgement."""
    query = (select(AlertSent, AlertState).outerjoin(Certificate, col(
        Certificate.fingerprint_sha256) == col(AlertSent.certificate_fingerprint))
        .outerjoin(AlertState, col(AlertState.certificate_id) == col(Certificate.id))
        .order_by(col(AlertSent.sent_at).desc(), col(AlertSent.id).desc()).limit(limit))
    if mailbox is not None:
        query = query.where(col(AlertSent.mailbox) == mailbox)
    with store.sessions() as session:
        rows = session.execute(query).all()
        facts = fact_acks(session, (r.dedup_key for r, state in rows if state is None))
    out: list[SentView] = []
    for r, state in rows:
        ack: tuple[dt.datetime | None, str | None, dt.datetime | None] = (None, None, None)
        if state is not None and state.acknowledged_at is not None \
                and state.acknowledged_at >= r.sent_at:
            ack = (state.acknowledged_at, state.acknowledged_by, state.snoozed_until)
        elif state is None and r.dedup_key in facts:
            fact = facts[r.dedup_key]
            ack = (fact.acknowledged_at, fact.acknowledged_by, fact.snoozed_until)
        out.append(SentView(r.id or 0, r.sent_at, r.kind, r.channel, r.recipient, r.status,
                            r.mailbox, r.threshold, r.error, *ack))
    return out


def sent_counts(*, store: Store) -> dict[str, int]:
    """Alerts sent per channel (for the metrics)."""
    with store.sessions() as session:
        rows = session.execute(select(col(AlertSent.channel), func.count()).where(
            col(AlertSent.status) == "sent").group_by(col(AlertSent.channel))).all()
    return {str(channel): int(count) for channel, count in rows}
