"""Mailbox status rules, and the inventory summary behind `certmgr status`.

The rules (issue 4, item 7), in order, for a mailbox's current certificate:
REVOKED when a REVOKED error finding is present (the leaf or a CA of its path);
EXPIRED when `at` is past the leaf's notAfter; INVALID when any other error
finding is present; otherwise by the time left: at most `critical_days` is
CRITICAL, at most `renew_soon_days` RENEW_SOON, else OK. A mailbox without a
current certificate is NO_CERTIFICATE.

`days_left` rounds *up* to whole days while the certificate is valid, so that
"at most 30 days left" means `remaining <= 30 days` exactly: a certificate
expiring in 30 days and one second has 31 days left (RENEW_SOON), one expiring
in exactly 30 days has 30 (CRITICAL). Once expired it counts down in whole
negative days (one second late is -1).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select
from sqlmodel import col

from certmgr.pki.findings import Code, Finding, Severity
from certmgr.store.enums import BindingRole, MailboxStatus
from certmgr.store.models import Binding, Certificate, Crl, Mailbox, ValidationRun

if TYPE_CHECKING:
    from certmgr.config import Settings
    from certmgr.store.session import Store

__all__ = [
    "SCAN_TRIGGER",
    "CrlFreshness",
    "NextExpiry",
    "StatusSummary",
    "Thresholds",
    "days_left",
    "mailbox_status",
    "status_summary",
]

SCAN_TRIGGER = "scan"
"""`ValidationRun.trigger` of the runs `certmgr scan` makes."""
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Days-left limits: at most `critical_days` is CRITICAL, at most `renew_soon_days`
    RENEW_SOON. Defaults 90 and 30 (ordering a certificate takes weeks)."""

    renew_soon_days: int = 90
    critical_days: int = 30

    def __post_init__(self) -> None:
        if self.critical_days < 0 or self.renew_soon_days < self.critical_days:
            raise ValueError("thresholds need 0 <= critical_days <= renew_soon_days, got "
                             f"{self.critical_days} and {self.renew_soon_days}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(renew_soon_days=settings.renew_soon_days,
                   critical_days=settings.critical_days)


def days_left(not_after: dt.datetime, *, at: dt.datetime) -> int:
    """Whole days from `at` to `not_after`: rounded up while valid, down once expired."""
    seconds = (not_after - at).total_seconds()
    return math.ceil(seconds / _DAY) if seconds >= 0 else math.floor(seconds / _DAY)


def mailbox_status(findings: Iterable[Finding], *, not_after: dt.datetime | None,
                   at: dt.datetime, thresholds: Thresholds) -> tuple[MailboxStatus, int | None]:
    """The status and days left of a mailbox whose current certificate got `findings`.

    `not_after` None means the mailbox has no current certificate.
    """
    if not_after is None:
        return MailboxStatus.NO_CERTIFICATE, None
    left = days_left(not_after, at=at)
    errors = {f.code for f in findings if f.severity is Severity.ERROR}
    if Code.REVOKED in errors:
        return MailboxStatus.REVOKED, left
    if at > not_after:
        return MailboxStatus.EXPIRED, left
    if errors:
        return MailboxStatus.INVALID, left
    if left <= thresholds.critical_days:
        return MailboxStatus.CRITICAL, left
    if left <= thresholds.renew_soon_days:
        return MailboxStatus.RENEW_SOON, left
    return MailboxStatus.OK, left


# ---------------------------------------------------------------------------- summary
@dataclass(frozen=True, slots=True)
class NextExpiry:
    address: str
    not_after: dt.datetime
    days_left: int
    status: MailboxStatus


@dataclass(frozen=True, slots=True)
class CrlFreshness:
    """The current CRL of one issuer: fresh while `at` is before its nextUpdate."""

    issuer: str
    this_update: dt.datetime
    next_update: dt.datetime | None
    fresh: bool
    is_delta: bool


@dataclass(frozen=True, slots=True)
class StatusSummary:
    at: dt.datetime
    counts: dict[MailboxStatus, int]
    next_expiries: tuple[NextExpiry, ...]
    crls: tuple[CrlFreshness, ...]
    last_scan: dt.datetime | None
    """When the last `certmgr scan` finished (None: never)."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "total": self.total,
            "counts": {str(k): v for k, v in self.counts.items()},
            "next_expiries": [
                {"address": e.address, "not_after": e.not_after, "days_left": e.days_left,
                 "status": str(e.status)} for e in self.next_expiries],
            "crls": [
                {"issuer": c.issuer, "this_update": c.this_update, "next_update": c.next_update,
                 "fresh": c.fresh, "delta": c.is_delta} for c in self.crls],
            "last_scan": self.last_scan,
        }


def status_summary(*, store: Store, at: dt.datetime, limit: int = 10) -> StatusSummary:
    """Counts per status of the active mailboxes (as the last scan left them), the `limit`
    soonest expiries of current certificates not yet expired at `at`, the freshness of
    every current CRL at `at`, and the end of the last scan."""
    with store.sessions() as session:
        counts = dict.fromkeys(MailboxStatus, 0)
        rows = session.execute(
            select(col(Mailbox.status), func.count()).where(col(Mailbox.archived).is_(False))
            .group_by(Mailbox.status))
        for status, n in rows:
            counts[MailboxStatus(status)] = int(n)
        expiring = session.execute(
            select(col(Mailbox.address), col(Certificate.not_after), col(Mailbox.status))
            .join(Binding, and_(col(Binding.mailbox_id) == Mailbox.id,
                                col(Binding.role) == BindingRole.CURRENT))
            .join(Certificate, col(Certificate.id) == Binding.certificate_id)
            .where(col(Mailbox.archived).is_(False), col(Certificate.not_after) >= at)
            .order_by(col(Certificate.not_after), col(Mailbox.address)).limit(limit)).all()
        crls = session.execute(
            select(col(Crl.issuer), col(Crl.this_update), col(Crl.next_update), col(Crl.is_delta))
            .where(col(Crl.is_current).is_(True))
            .order_by(col(Crl.issuer), col(Crl.is_delta))).all()
        last = session.scalar(select(func.max(col(ValidationRun.finished_at)))
                              .where(col(ValidationRun.trigger) == SCAN_TRIGGER))
    return StatusSummary(
        at=at,
        counts=counts,
        next_expiries=tuple(NextExpiry(a, na, days_left(na, at=at), MailboxStatus(s))
                            for a, na, s in expiring),
        crls=tuple(CrlFreshness(i, tu, nu, nu is None or at < nu, bool(d))
                   for i, tu, nu, d in crls),
        last_scan=last if last is None else last.astimezone(dt.UTC),
    )
