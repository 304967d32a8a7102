"""The monitoring tables: alert state per certificate, alerts sent, job runs, leases.

Same conventions as `certmgr.store.models` (same `StoreModel` metadata, aware UTC
timestamps without clock defaults). `AlertSent` is UNIQUE on (dedup_key,
recipient, channel): the database, not the process, guarantees that one fact is
told once per recipient and channel, also with two services on one database.
"""

import datetime as dt
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Column, Field

from certmgr.store.models import StoreModel
from certmgr.store.types import JSON_VALUE, UTCDateTime

__all__ = ["AlertSent", "AlertState", "JobRun", "ServiceLease"]


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class AlertState(StoreModel, table=True):
    """Per certificate: the lowest expiry threshold already notified, ack/snooze, escalation."""

    __tablename__: ClassVar[str] = "alert_state"

    id: int | None = Field(default=None, primary_key=True)
    certificate_id: int = Field(foreign_key="certificate.id", unique=True)
    lowest_threshold: int | None = None
    """The smallest days value whose crossing was notified (None: none yet)."""
    last_kind: str | None = None
    last_alert_at: dt.datetime | None = _when(nullable=True)
    acknowledged_at: dt.datetime | None = _when(nullable=True)
    acknowledged_by: str | None = None
    snoozed_until: dt.datetime | None = _when(nullable=True)
    escalated_at: dt.datetime | None = _when(nullable=True)


class AlertSent(StoreModel, table=True):
    """One alert told to one recipient through one channel (or the failed attempt)."""

    __tablename__: ClassVar[str] = "alert_sent"
    __table_args__ = (sa.UniqueConstraint("dedup_key", "recipient", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(index=True)
    recipient: str
    channel: str
    kind: str
    mailbox: str | None = None
    certificate_fingerprint: str | None = Field(default=None, index=True)
    threshold: int | None = None
    sent_at: dt.datetime = _when(index=True)
    status: str = "sent"
    """sent, failed or escalated."""
    error: str | None = None


class JobRun(StoreModel, table=True):
    """One run of a scheduled job."""

    __tablename__: ClassVar[str] = "job_run"
    __table_args__ = (sa.Index("ix_job_run_job_started_at", "job", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str
    started_at: dt.datetime = _when()
    finished_at: dt.datetime | None = _when(nullable=True)
    ok: bool | None = None
    error: str | None = None
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON_VALUE, nullable=False)
    )


class ServiceLease(StoreModel, table=True):
    """Leadership bookkeeping: which `serve` process leads, seen when (informative only:
    the lock itself is a PostgreSQL advisory lock or a file lock)."""

    __tablename__: ClassVar[str] = "service_lease"

    name: str = Field(primary_key=True)
    holder: str
    acquired_at: dt.datetime = _when()
    renewed_at: dt.datetime = _when()
