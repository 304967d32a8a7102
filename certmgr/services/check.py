"""`certmgr check`: the inventory as a Nagios/Icinga check result.

States (the exit code): 0 OK; 1 WARNING when a mailbox is RENEW_SOON or a current CRL
reaches its nextUpdate within `crl_warning` (24 h); 2 CRITICAL when a mailbox is
CRITICAL, EXPIRED, REVOKED or INVALID, or a current CRL is past its nextUpdate; 3
UNKNOWN is the CLI's answer when the store cannot be read. The summary line comes
first (`CERTMGR OK - 33 mailboxes: 30 OK, 3 RENEW_SOON`), one detail line per problem
after it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from certmgr.services.nagios import NagiosStatus, status_line
from certmgr.services.status import status_summary
from certmgr.store.enums import MailboxStatus
from certmgr.store.models import Mailbox

if TYPE_CHECKING:
    from certmgr.store.session import Store

__all__ = ["SERVICE", "CheckResult", "check_inventory"]

SERVICE = "CERTMGR"  # the first word of the plugin line
_WARNING = frozenset({MailboxStatus.RENEW_SOON})
_CRITICAL = frozenset({MailboxStatus.CRITICAL, MailboxStatus.EXPIRED, MailboxStatus.REVOKED,
                       MailboxStatus.INVALID})


@dataclass(frozen=True, slots=True)
class CheckResult:
    state: NagiosStatus
    summary: str
    details: tuple[str, ...]
    counts: dict[str, int]

    @classmethod
    def unknown(cls, reason: str) -> CheckResult:
        """The answer when the check could not be made (`reason`: one line)."""
        return cls(NagiosStatus.UNKNOWN, status_line(SERVICE, NagiosStatus.UNKNOWN, reason),
                   (), {})

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.name, "code": int(self.state), "summary": self.summary,
                "details": list(self.details), "counts": self.counts}


def check_inventory(*, store: Store, at: dt.datetime,
                    crl_warning: dt.timedelta = dt.timedelta(hours=24)) -> CheckResult:
    """Judge the inventory as the last scan left it, and the current CRLs, at `at`."""
    summary = status_summary(store=store, at=at, limit=0)
    state = NagiosStatus.OK
    details: list[str] = []
    with store.sessions() as session:
        rows = session.execute(select(col(Mailbox.address), col(Mailbox.status),
                                      col(Mailbox.days_left)).where(
            col(Mailbox.archived).is_(False),
            col(Mailbox.status).in_(sorted(_WARNING | _CRITICAL))).order_by(
            col(Mailbox.days_left), col(Mailbox.address))).all()
    for address, status, left in rows:
        level = NagiosStatus.CRITICAL if status in _CRITICAL else NagiosStatus.WARNING
        state = max(state, level)
        days = "" if left is None else f" ({left} days left)"
        details.append(f"{level.name}: {address} {status}{days}")
    for crl in summary.crls:
        if crl.next_update is None:
            continue
        if crl.next_update < at:
            state = max(state, NagiosStatus.CRITICAL)
            details.append(f"CRITICAL: CRL stale since {crl.next_update:%Y-%m-%d %H:%M}Z: "
                           f"{crl.issuer}")
        elif crl.next_update - at <= crl_warning:
            state = max(state, NagiosStatus.WARNING)
            details.append(f"WARNING: CRL next update {crl.next_update:%Y-%m-%d %H:%M}Z: "
                           f"{crl.issuer}")
    counts = {str(k): v for k, v in summary.counts.items() if v}
    shown = ", ".join(f"{n} {k}" for k, n in counts.items()) or "none"
    text = f"{summary.total} mailboxes: {shown}"
    if summary.crls:
        text += f"; {len(summary.crls)} CRLs"
    return CheckResult(state, status_line(SERVICE, state, text), tuple(details), counts)
