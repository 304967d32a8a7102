"""Read-only queries behind the console's renewal, alert, job and trust views, as plain
values.

Split from `certmgr.services.console` (which holds the `Console` handle): each function
takes an open `Store` (or a session) and returns frozen values; none writes. Text that
comes from certificates or from other people (subjects, audit details, error messages)
goes through `terminal_safe` before it is shown, so a hostile subject cannot move the
cursor, recolour the terminal or reverse the reading order of a line.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlmodel import col

from certmgr.services.alert_log import list_sent
from certmgr.services.alerts import evaluate_alerts
from certmgr.services.status import days_left
from certmgr.store.models import (
    CACertificate,
    Crl,
    Mailbox,
    Renewal,
    RenewalState,
)
from certmgr.store.models_alerts import AlertSent, JobRun

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.config import Settings
    from certmgr.store.session import Store

__all__ = [
    "ALERT_STATES",
    "RENEWAL_LABELS",
    "AlertRow",
    "CrlRow",
    "JobRow",
    "Planner",
    "RenewalEntry",
    "TrustRow",
    "alert_rows",
    "common_name",
    "crl_rows",
    "due_alerts",
    "earliest_crl_next_update",
    "job_rows",
    "latest_renewal_states",
    "mailbox_id",
    "renewal_history",
    "terminal_safe",
    "trust_rows",
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
ALERT_STATES = ("pending", "sent", "failed", "acknowledged")
"""pending: due now, not sent yet (the next alerts job sends it); sent: told, waiting for
an acknowledgement; failed: the send failed (retried by the next job); acknowledged."""


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert: sent (or failed), with the acknowledgement of its certificate, or due
    and not sent yet (`id` None, `status` "due")."""

    id: int | None
    sent_at: dt.datetime
    """When it was told; for a pending alert, when it became due."""
    kind: str
    channel: str
    recipient: str
    status: str
    """sent, failed, escalated, or due (pending)."""
    mailbox: str | None
    threshold: int | None
    error: str | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    snoozed_until: dt.datetime | None = None
    about: str | None = None
    """What a pending alert without a mailbox is about (a CRL issuer, a job)."""

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None and self.acknowledged_at >= self.sent_at

    @property
    def state(self) -> str:
        """One of `ALERT_STATES`."""
        if self.status == "due":
            return "pending"
        if self.acknowledged:
            return "acknowledged"
        return "failed" if self.status == "failed" else "sent"


def alert_rows(store: Store, *, mailbox: str | None = None, limit: int = 500,
               ) -> tuple[AlertRow, ...]:
    """The newest `limit` alerts sent (of `mailbox` when given), newest first, with their
    acknowledgement as `certmgr alerts list` shows it (of the certificate, or of the alert
    itself for CRL, order, probe and job alerts)."""
    return tuple(AlertRow(v.id, v.sent_at, v.kind, v.channel, terminal_safe(v.recipient),
                          v.status, v.mailbox, v.threshold,
                          None if v.error is None else terminal_safe(v.error),
                          v.acknowledged_at, v.acknowledged_by and terminal_safe(
                              v.acknowledged_by), v.snoozed_until)
                 for v in list_sent(store=store, limit=limit, mailbox=mailbox))


def due_alerts(store: Store, *, at: dt.datetime, thresholds: Sequence[int],
               order_pending_days: int) -> tuple[AlertRow, ...]:
    """The alerts that hold at `at` (`certmgr.services.alerts.evaluate_alerts`, what the
    next alerts job sends) and that no channel has recorded yet: the pending ones."""
    events = evaluate_alerts(store=store, at=at, thresholds=thresholds,
                             order_pending_days=order_pending_days)
    keys = sorted({e.dedup_key for e in events})
    told: set[str] = set()
    with store.sessions() as session:
        for start in range(0, len(keys), 500):
            told.update(session.scalars(select(col(AlertSent.dedup_key)).where(
                col(AlertSent.dedup_key).in_(keys[start:start + 500]))).all())
    return tuple(AlertRow(None, e.at, e.kind.value, "-", "-", "due", e.mailbox,
                          e.threshold_days, None, None, None,
                          about=None if e.mailbox else terminal_safe(
                              e.crl_issuer or e.job_name or e.subject_id))
                 for e in events if e.dedup_key not in told)


def unacknowledged(rows: Iterable[AlertRow]) -> list[AlertRow]:
    """Alerts told and still waiting for an acknowledgement, one per mailbox
    and kind (the newest), newest first."""
    out: dict[tuple[str | None, str], AlertRow] = {}
    for row in rows:
        if row.state == "sent":
            out.setdefault((row.mailbox, row.kind), row)
    return list(out.values())


# ---------------------------------------------------------------------------- jobs
class Planner(Protocol):
    """`certmgr.scheduler.next_runs`: each job's next run from the configured triggers."""

    def __call__(self, settings: Settings, *, now: dt.datetime,
                 crl_next_update: dt.datetime | None = None
                 ) -> list[tuple[str, dt.datetime]]: ...


class JobRunner(Protocol):
    """`certmgr.jobs.run_job`: runs one job now and returns its details."""

    def __call__(self, name: str, settings: Settings, *, now: dt.datetime) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class JobRow:
    """A scheduled job: its next run and its last run."""

    name: str
    next_run: dt.datetime | None
    last_started: dt.datetime | None
    last_ok: bool | None
    last_error: str | None
    last_seconds: float | None
    runs: int
    planned: bool = False
    """`next_run` computed from the configuration (`Planner`), not read from the job
    store of a running `certmgr serve`."""

    @property
    def result(self) -> str:
        if self.last_started is None:
            return "never run"
        if self.last_ok is None:
            return "running"
        return "ok" if self.last_ok else f"failed: {self.last_error or '?'}"


def _stored_runs(store: Store) -> dict[str, dt.datetime]:
    # The scheduler (`certmgr serve`) keeps its jobs in this table, owned by APScheduler:
    # when it exists its next_run_time (epoch seconds) is the truth about what runs next.
    if not sa.inspect(store.engine).has_table(_SCHEDULER_TABLE):
        return {}
    table = sa.table(_SCHEDULER_TABLE, sa.column("id"), sa.column("next_run_time"))
    with store.engine.connect() as conn:
        rows = conn.execute(select(table.c.id, table.c.next_run_time)).all()
    return {str(i): dt.datetime.fromtimestamp(float(t), tz=dt.UTC)
            for i, t in rows if t is not None}


def earliest_crl_next_update(store: Store, *, at: dt.datetime) -> dt.datetime | None:
    """The earliest nextUpdate after `at` of a current CRL (what the one-off refresh
    `crl_refresh_next_update` waits for)."""
    with store.sessions() as session:
        return session.scalar(select(func.min(col(Crl.next_update))).where(
            col(Crl.is_current).is_(True), col(Crl.next_update) > at))


def job_rows(store: Store, *, names: Sequence[str],
             planned: Mapping[str, dt.datetime] | None = None) -> tuple[JobRow, ...]:
    """Each job of `names` (plus any other the job store, the plan or the runs know), by
    name. The next run comes from the job store when `certmgr serve` stored one, else from
    `planned`; `scan` runs right after each `crl_refresh`, so it shares its next run."""
    stored = _stored_runs(store)
    nexts = {name: (when, False) for name, when in (planned or {}).items()}
    nexts.update({name: (when, True) for name, when in stored.items()})
    if "crl_refresh" in nexts:
        nexts.setdefault("scan", nexts["crl_refresh"])
    newest = select(func.max(col(JobRun.id))).group_by(col(JobRun.job))
    with store.sessions() as session:
        last = {r.job: r for r in session.scalars(select(JobRun).where(
            col(JobRun.id).in_(newest))).all()}
        counts = dict(session.execute(select(col(JobRun.job), func.count())
                                      .group_by(col(JobRun.job))).all())
    out = []
    for name in sorted({*names, *nexts, *last}):
        run = last.get(name)
        when, from_store = nexts.get(name, (None, False))
        seconds = None if run is None else run.details.get("duration_seconds")
        out.append(JobRow(name, when, None if run is None else run.started_at,
                          None if run is None else run.ok,
                          None if run is None or run.error is None
                          else terminal_safe(run.error.splitlines()[0] if run.error else ""),
                          float(seconds) if isinstance(seconds, int | float) else None,
                          int(counts.get(name, 0)), planned=when is not None and not from_store))
    return tuple(out)


# ---------------------------------------------------------------------------- trust
@functools.lru_cache(maxsize=4096)
def common_name(dn: str | None) -> str:
    """The CN of an RFC 4514 DN (the whole DN when it has none); '' for None."""
    if not dn:
        return ""
    for part in dn.split(","):
        key, _, value = part.strip().partition("=")
        if key.upper() == "CN":
            return terminal_safe(value.replace("\\", ""))
    return terminal_safe(dn)


@dataclass(frozen=True, slots=True)
class TrustRow:
    name: str
    role: str
    environment: str
    pinned: bool
    not_after: dt.datetime
    days_left: int
    fingerprint: str
    source: str


@dataclass(frozen=True, slots=True)
class CrlRow:
    issuer: str
    number: int | None
    this_update: dt.datetime
    next_update: dt.datetime | None
    fresh: bool
    delta: bool
    entries: int
    source: str
    verified: bool


def trust_rows(store: Store, *, at: dt.datetime) -> tuple[TrustRow, ...]:
    """Every CA certificate, anchors first, by subject."""
    with store.sessions() as session:
        cas = session.scalars(select(CACertificate).order_by(
            col(CACertificate.is_anchor).desc(), col(CACertificate.subject))).all()
    return tuple(TrustRow(common_name(c.subject), "anchor" if c.is_anchor else
                          "intermediate", c.environment, c.pinned, c.not_after,
                          days_left(c.not_after, at=at), c.fingerprint_sha256[:16],
                          terminal_safe(c.source or "")) for c in cas)


def crl_rows(store: Store, *, at: dt.datetime) -> tuple[CrlRow, ...]:
    """Every current CRL (full, then delta) by issuer, with its freshness at `at`."""
    with store.sessions() as session:
        crls = session.scalars(select(Crl).where(col(Crl.is_current).is_(True))
                               .order_by(col(Crl.issuer), col(Crl.is_delta))).all()
    return tuple(CrlRow(common_name(c.issuer), c.crl_number, c.this_update,
                        c.next_update, c.next_update is None or at < c.next_update,
                        c.is_delta, c.entries, terminal_safe(c.source or ""), c.verified)
                 for c in crls)
