"""Read-only queries behind the console's renewal, alert and job views, as plain values.

Split from `certmgr.services.console` (which holds the `Console` handle): each function
takes an open `Store` (or a session) and returns frozen values; none writes. Text that
comes from certificates or from other people (subjects, audit details, error messages)
goes through `terminal_safe` before it is shown, so a hostile subject cannot move the
cursor, recolour the terminal or reverse the reading order of a line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlmodel import col

from certmgr.store.models import Certificate, Mailbox, Renewal, RenewalState
from certmgr.store.models_alerts import AlertSent, AlertState, JobRun

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.store.session import Store

__all__ = [
    "RENEWAL_LABELS",
    "AlertRow",
    "JobRow",
    "RenewalEntry",
    "alert_rows",
    "job_rows",
    "latest_renewal_states",
    "mailbox_id",
    "renewal_history",
    "terminal_safe",
    "unacknowledged",
]

RENEWAL_LABELS: dict[RenewalState, str] = {
    RenewalState.CSR_READY: "CSR ready",
    RenewalState.ORDERED: "ordered",
    RenewalState.ISSUED: "issued",
    RenewalState.ACTIVE: "renewed",
    RenewalState.REJECTED: "rejected",
    RenewalState.ABANDONED: "abandoned",
}
# C0 and C1 controls (ESC starts terminal sequences; CR/BS overwrite what was shown),
# DEL, the bidi embeddings/overrides/isolates and the implicit marks that reorder text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_SCHEDULER_TABLE = "apscheduler_jobs"


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """`text` with every control character and bidi control shown escaped
    (`\\x1b`, `\\u202e`), so that it prints as the characters it holds."""
    return _UNSAFE.sub(_escape, text)


# ---------------------------------------------------------------------------- renewals
@dataclass(frozen=True, slots=True)
class RenewalEntry:
    """One renewal of a mailbox, for the detail's timeline."""

    id: int
    state: RenewalState
    profile: str
    created_at: dt.datetime
    ordered_at: dt.datetime | None
    ordered_by: str | None
    order_ref: str | None
    activated_at: dt.datetime | None
    updated_at: dt.datetime

    @property
    def label(self) -> str:
        return RENEWAL_LABELS.get(self.state, str(self.state))


def latest_renewal_states(session: Session) -> dict[int, RenewalState]:
    """The state of each mailbox's newest renewal, by mailbox id (one query)."""
    newest = select(func.max(col(Renewal.id))).group_by(col(Renewal.mailbox_id))
    rows = session.execute(select(col(Renewal.mailbox_id), col(Renewal.state))
                           .where(col(Renewal.id).in_(newest))).all()
    return {int(m): RenewalState(s) for m, s in rows}


def renewal_history(session: Session, *, mailbox_id: int) -> tuple[RenewalEntry, ...]:
    """Every renewal of a mailbox, oldest first."""
    rows = session.scalars(select(Renewal).where(col(Renewal.mailbox_id) == mailbox_id)
                           .order_by(col(Renewal.id))).all()
    return tuple(RenewalEntry(r.id or 0, RenewalState(r.state), r.profile, r.created_at,
                              r.ordered_at, r.ordered_by and terminal_safe(r.ordered_by),
                              r.order_ref and terminal_safe(r.order_ref), r.activated_at,
                              r.updated_at) for r in rows)


def mailbox_id(session: Session, address: str) -> int | None:
    return session.scalar(select(col(Mailbox.id)).where(col(Mailbox.address) == address))


# ---------------------------------------------------------------------------- alerts
@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert sent (or failed), with the acknowledgement of its certificate."""

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
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None and self.acknowledged_at >= self.sent_at

    @property
    def state(self) -> str:
        """acknowledged, failed or pending (told, waiting for an acknowledgement)."""
        if self.acknowledged:
            return "acknowledged"
        return "failed" if self.status == "failed" else "pending"


def alert_rows(store: Store, *, mailbox: str | None = None, limit: int = 500,
               ) -> tuple[AlertRow, ...]:
    """The newest `limit` alerts sent (of `mailbox` when given), newest first."""
    query = (select(AlertSent, col(AlertState.acknowledged_at), col(AlertState.acknowledged_by))
             .outerjoin(Certificate, col(Certificate.fingerprint_sha256)
                        == col(AlertSent.certificate_fingerprint))
             .outerjoin(AlertState, col(AlertState.certificate_id) == col(Certificate.id))
             .order_by(col(AlertSent.sent_at).desc(), col(AlertSent.id).desc()).limit(limit))
    if mailbox is not None:
        query = query.where(col(AlertSent.mailbox) == mailbox)
    with store.sessions() as session:
        rows = session.execute(query).all()
    return tuple(AlertRow(a.id or 0, a.sent_at, a.kind, a.channel, terminal_safe(a.recipient),
                          a.status, a.mailbox, a.threshold,
                          None if a.error is None else terminal_safe(a.error), ack_at,
                          ack_by and terminal_safe(ack_by)) for a, ack_at, ack_by in rows)


def unacknowledged(rows: Iterable[AlertRow]) -> list[AlertRow]:
    """Certificate alerts still waiting for an acknowledgement, one per certificate
    subject (the newest), newest first."""
    out: dict[tuple[str | None, str], AlertRow] = {}
    for row in rows:
        if row.state == "pending":
            out.setdefault((row.mailbox, row.kind), row)
    return list(out.values())


# ---------------------------------------------------------------------------- jobs
@dataclass(frozen=True, slots=True)
class JobRow:
    """A scheduled job: its next run (from the scheduler's job store) and its last run."""

    name: str
    next_run: dt.datetime | None
    last_started: dt.datetime | None
    last_ok: bool | None
    last_error: str | None
    last_seconds: float | None
    runs: int

    @property
    def result(self) -> str:
        if self.last_started is None:
            return "never run"
        if self.last_ok is None:
            return "running"
        return "ok" if self.last_ok else f"failed: {self.last_error or '?'}"


def _next_runs(store: Store) -> dict[str, dt.datetime]:
    # The scheduler (`certmgr serve`) keeps its jobs in this table, owned by APScheduler:
    # when it exists its next_run_time (epoch seconds) is the truth about what runs next.
    if not sa.inspect(store.engine).has_table(_SCHEDULER_TABLE):
        return {}
    table = sa.table(_SCHEDULER_TABLE, sa.column("id"), sa.column("next_run_time"))
    with store.engine.connect() as conn:
        rows = conn.execute(select(table.c.id, table.c.next_run_time)).all()
    return {str(i): dt.datetime.fromtimestamp(float(t), tz=dt.UTC)
            for i, t in rows if t is not None}


def job_rows(store: Store, *, names: Sequence[str]) -> tuple[JobRow, ...]:
    """Each job of `names` (plus any other the job store or the runs know), by name."""
    nexts = _next_runs(store)
    newest = select(func.max(col(JobRun.id))).group_by(col(JobRun.job))
    with store.sessions() as session:
        last = {r.job: r for r in session.scalars(select(JobRun).where(
            col(JobRun.id).in_(newest))).all()}
        counts = dict(session.execute(select(col(JobRun.job), func.count())
                                      .group_by(col(JobRun.job))).all())
    out = []
    for name in sorted({*names, *nexts, *last}):
        run = last.get(name)
        seconds = None if run is None else run.details.get("duration_seconds")
        out.append(JobRow(name, nexts.get(name), None if run is None else run.started_at,
                          None if run is None else run.ok,
                          None if run is None or run.error is None
                          else terminal_safe(run.error.splitlines()[0] if run.error else ""),
                          float(seconds) if isinstance(seconds, int | float) else None,
                          int(counts.get(name, 0))))
    return tuple(out)
