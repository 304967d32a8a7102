"""The probe tables: each mailbox's endpoint (port and protocol) and the probe results.

Same conventions as `certmgr.store.models` (same `StoreModel` metadata, aware UTC
timestamps without clock defaults). The endpoint's host is `Mailbox.endpoint_host`
(migration 0001); `MailboxEndpoint` completes it with the port and the STARTTLS mode,
in its own table so that the mailbox model keeps one owner. A mailbox with a host and no
`MailboxEndpoint` row is probed with the defaults of `certmgr.services.probe_history`.
"""

import datetime as dt
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Column, Field

from certmgr.store.models import StoreModel
from certmgr.store.types import JSON_VALUE, UTCDateTime

__all__ = ["MailboxEndpoint", "ProbeResult"]


def _when(*, nullable: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable)


class MailboxEndpoint(StoreModel, table=True):
    """The port and STARTTLS mode (`smtp`, `imap`, `none`) of a mailbox's endpoint."""

    __tablename__: ClassVar[str] = "mailbox_endpoint"

    mailbox_id: int = Field(foreign_key="mailbox.id", primary_key=True)
    port: int
    starttls: str


class ProbeResult(StoreModel, table=True):
    """One probe of a mailbox's endpoint, with the mailbox's client certificate when held.

    `ok` is the verdict used for alerts and the success metric: the Nagios status is OK
    or WARNING. `codes` lists the finding codes of WARNING and ERROR severity.
    """

    __tablename__: ClassVar[str] = "probe_result"
    __table_args__ = (sa.Index("ix_probe_result_mailbox_id_at", "mailbox_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailbox.id")
    at: dt.datetime = _when()
    host: str
    port: int
    starttls: str
    ok: bool
    status: str
    """The Nagios status name: OK, WARNING, CRITICAL or UNKNOWN."""
    tls_version: str | None = None
    cipher: str | None = None
    server_not_after: dt.datetime | None = _when(nullable=True)
    server_fingerprint: str | None = None
    client_outcome: str | None = None
    """accepted, rejected, not-requested, unknown; None when no client certificate was sent."""
    codes: list[str] = Field(default_factory=list, sa_column=Column(JSON_VALUE, nullable=False))
    error: str | None = None
    """The worst finding's sentence when the probe is not OK."""
