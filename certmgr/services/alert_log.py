"""The record of alerts: what was sent (`list_sent`, `sent_counts`) and acknowledging or
snoozing a certificate's alerts (`acknowledge`). See `certmgr.services.alerts`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import col

from certmgr.errors import ConflictError, NotFoundError
from certmgr.store.audit import append_event
from certmgr.store.models import Certificate
from certmgr.store.models_alerts import AlertSent, AlertState

if TYPE_CHECKING:
    from certmgr.store.session import Store

__all__ = ["SentView", "acknowledge", "list_sent", "sent_counts"]


def acknowledge(*, store: Store, alert_id: int, at: dt.datetime, actor: str,
                until: dt.datetime | None = None) -> str:
    """Acknowledge the certificate of sent alert `alert_id` (stops its escalation); with
    `until`, also snooze its alerts until then. Returns the certificate fingerprint."""
    with store.transaction() as session:
        sent = session.get(AlertSent, alert_id)
        if sent is None:
            raise NotFoundError(f"alert {alert_id}: no such alert (see `certmgr alerts list`)")
        cert_id = session.scalar(select(col(Certificate.id)).where(
            col(Certificate.fingerprint_sha256) == sent.certificate_fingerprint))
        if cert_id is None:
            raise ConflictError(f"alert {alert_id}: only certificate alerts can be "
                                "acknowledged")
        state = session.scalars(select(AlertState).where(
            col(AlertState.certificate_id) == cert_id)).first() or AlertState(
            certificate_id=cert_id)
        state.acknowledged_at, state.acknowledged_by = at, actor
        if until is not None:
            state.snoozed_until = until
        session.add(state)
        append_event(session, actor=actor, action="alert.acknowledged", at=at,
                     object_type="certificate", object_id=sent.certificate_fingerprint,
                     details={"alert_id": alert_id,
                              "until": None if until is None else until.isoformat()})
        return sent.certificate_fingerprint or ""


@dataclass(frozen=True, slots=True)
class SentView:
    """One alert sent (or failed): a row of `certmgr alerts list`, and the base of the
    console's alert rows (which add the acknowledgement of the certificate)."""

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

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "sent_at": self.sent_at, "kind": self.kind,
                "channel": self.channel, "recipient": self.recipient, "status": self.status,
                "mailbox": self.mailbox, "threshold": self.threshold, "error": self.error}


def list_sent(*, store: Store, limit: int = 100) -> list[SentView]:
    """The latest alerts sent (or failed), newest first."""
    with store.sessions() as session:
        rows = session.scalars(select(AlertSent).order_by(
            col(AlertSent.sent_at).desc(), col(AlertSent.id).desc()).limit(limit)).all()
    return [SentView(r.id or 0, r.sent_at, r.kind, r.channel, r.recipient, r.status,
                     r.mailbox, r.threshold, r.error) for r in rows]


def sent_counts(*, store: Store) -> dict[str, int]:
    """Alerts sent per channel (for the metrics)."""
    with store.sessions() as session:
        rows = session.execute(select(col(AlertSent.channel), func.count()).where(
            col(AlertSent.status) == "sent").group_by(col(AlertSent.channel))).all()
    return {str(channel): int(count) for channel, count in rows}
