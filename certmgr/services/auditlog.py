"""Reading and checking the audit trail: `list_events` and `verify_audit`.

The chain itself (canonical encoding, hashing, appending) lives in
`certmgr.store.audit`; this module only reads. Both use cases open one read
session and never write, so they are safe while `serve` or another CLI writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from certmgr.store.audit import verify_chain
from certmgr.store.models import AuditEvent

if TYPE_CHECKING:
    from certmgr.store.session import Store

__all__ = ["AuditEntry", "AuditVerification", "list_events", "verify_audit"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit event as stored (details are never secrets: `append_event` refuses them)."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    details: dict[str, Any]
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor,
                "action": self.action, "object_type": self.object_type,
                "object_id": self.object_id, "details": self.details, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The outcome of `verify_audit`: `ok`, or the first broken event and the reason."""

    ok: bool
    count: int
    first_broken_id: int | None
    reason: str | None
    last_hash: str
    """Record it elsewhere: passed back as `expected_last_hash` it reveals a truncated end."""

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "count": self.count, "first_broken_id": self.first_broken_id,
                "reason": self.reason, "last_hash": self.last_hash}


def list_events(*, store: Store, since: dt.datetime | None = None, actor: str | None = None,
                action: str | None = None, limit: int | None = None) -> tuple[AuditEntry, ...]:
    """The events matching every given filter, oldest first.

    `since` keeps events at or after it (aware); `limit` keeps the NEWEST `limit`
    matching events (still printed oldest first), like `tail`.
    """
    query = select(AuditEvent)
    if since is not None:
        if since.tzinfo is None:
            raise ValueError("since must be an aware datetime")
        query = query.where(col(AuditEvent.at) >= since.astimezone(dt.UTC))
    if actor is not None:
        query = query.where(col(AuditEvent.actor) == actor)
    if action is not None:
        query = query.where(col(AuditEvent.action) == action)
    query = query.order_by(col(AuditEvent.id).desc())
    if limit is not None:
        query = query.limit(max(limit, 0))
    with store.sessions() as session:
        rows = list(session.scalars(query))
    return tuple(_entry(row) for row in reversed(rows))


def verify_audit(*, store: Store, expected_last_hash: str | None = None) -> AuditVerification:
    """Walk the whole chain (see `certmgr.store.audit.verify_chain`) in one read session."""
    with store.sessions() as session:
        report = verify_chain(session, expected_last_hash=expected_last_hash)
    return AuditVerification(ok=report.ok, count=report.count,
                             first_broken_id=report.first_broken_id, reason=report.reason,
                             last_hash=report.last_hash)


def _entry(row: AuditEvent) -> AuditEntry:
    assert row.id is not None  # a stored row always has one
    at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=dt.UTC)
    return AuditEntry(id=row.id, at=at, actor=row.actor, action=row.action,
                      object_type=row.object_type, object_id=row.object_id,
                      details=dict(row.details), hash=row.hash)
