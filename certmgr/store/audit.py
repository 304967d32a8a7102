"""The tamper-evident audit log: a SHA-256 hash chain over the events.

Each event's `hash` is SHA-256 over the canonical JSON (sorted keys, no spaces,
UTF-8) of its fields `at` (ISO 8601 UTC, microseconds), `actor`, `action`,
`object_type`, `object_id`, `details` and `prev_hash`; `prev_hash` is the hash of
the event before it (`GENESIS` for the first one). `prev_hash` is UNIQUE, so two
writers can never both extend the same event: the chain stays linear.

`verify_chain` detects a changed row (its hash no longer matches), a deleted row
or rows out of order (a `prev_hash` no longer matches its predecessor). Deleting
the *last* events cannot be seen from inside the database: record
`ChainReport.last_hash` elsewhere (a log, a ticket) and pass it back as
`expected_last_hash` to check for that too.

Details are JSON values, never secrets: keys that name a secret are refused.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlmodel import col, select

from certmgr.store.models import AuditEvent

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.orm import Session

__all__ = ["GENESIS", "ChainReport", "append_event", "event_hash", "os_user", "verify_chain"]

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x6365_7274_6D67_72  # "certmgr": serialises appenders on PostgreSQL
_SECRET_WORDS = ("passphrase", "password", "passwd", "secret", "private_key", "token")


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of `verify_chain`: `ok`, or the first broken event and why."""

    ok: bool
    count: int
    first_broken_id: int | None = None
    reason: str | None = None
    last_hash: str = GENESIS


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _check_no_secret(value: Any, *, where: str = "details") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            lowered = str(key).lower()
            if any(word in lowered for word in _SECRET_WORDS):
                raise ValueError(f"audit {where} must not hold secrets: key {key!r} refused")
            _check_no_secret(item, where=where)
    elif isinstance(value, list):
        for item in value:
            _check_no_secret(item, where=where)


def event_hash(*, at: dt.datetime, actor: str, action: str, object_type: str | None,
               object_id: str | None, details: Mapping[str, Any], prev_hash: str) -> str:
    """The SHA-256 (lowercase hex) of an event's canonical JSON encoding."""
    if at.tzinfo is None:
        raise ValueError("audit event time must be an aware datetime")
    body = {
        "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def os_user() -> str:
    """The OS user running certmgr, for `actor` (entry points call it, like the clock)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "unknown"


def _last_hash(session: Session) -> str:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    last = session.scalar(select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1))
    return last or GENESIS


def append_event(session: Session, *, actor: str, action: str, at: dt.datetime,
                 object_type: str | None = None, object_id: str | int | None = None,
                 details: Mapping[str, Any] | None = None) -> AuditEvent:
    """Add one event at the end of the chain, in the caller's transaction, and flush it.

    Call it inside `transaction()` so that on SQLite the write lock is held from
    the read of the last hash to the commit. Raises ValueError for a naive `at`,
    details that are not JSON or that name a secret.
    """
    # A JSON round trip gives the exact value the database will hand back to verify_chain.
    normalised: dict[str, Any] = json.loads(_canonical(dict(details or {})))
    _check_no_secret(normalised)
    when = at.astimezone(dt.UTC) if at.tzinfo is not None else at
    oid = None if object_id is None else str(object_id)
    prev = _last_hash(session)
    digest = event_hash(at=when, actor=actor, action=action, object_type=object_type,
                        object_id=oid, details=normalised, prev_hash=prev)
    event = AuditEvent(at=when, actor=actor, action=action, object_type=object_type,
                       object_id=oid, details=normalised, prev_hash=prev, hash=digest)
    session.add(event)
    session.flush()
    return event


def verify_chain(session: Session, *, expected_last_hash: str | None = None) -> ChainReport:
    """Walk the events in id order and check every hash and every link."""
    prev = GENESIS
    count = 0
    rows = session.scalars(
        select(AuditEvent).order_by(col(AuditEvent.id)).execution_options(yield_per=500)
    )
    try:
        for event in rows:
            count += 1
            broken = _check(event, prev)
            if broken is not None:
                return ChainReport(ok=False, count=count, first_broken_id=event.id,
                                   last_hash=prev, reason=broken)
            prev = event.hash
    finally:
        rows.close()  # a server-side cursor on PostgreSQL when we stop early
    if expected_last_hash is not None and expected_last_hash != prev:
        return ChainReport(ok=False, count=count, first_broken_id=None, last_hash=prev,
                           reason="the chain does not end at the expected hash "
                                  "(events were removed from its end, or replaced)")
    return ChainReport(ok=True, count=count, last_hash=prev)


def _check(event: AuditEvent, prev: str) -> str | None:
    if event.prev_hash != prev:
        return ("prev_hash does not match the event before it "
                "(an event was deleted, inserted or moved)")
    recomputed = event_hash(at=event.at, actor=event.actor, action=event.action,
                            object_type=event.object_type, object_id=event.object_id,
                            details=event.details, prev_hash=event.prev_hash)
    if recomputed != event.hash:
        return "hash does not match the event's content (it was changed)"
    return None
