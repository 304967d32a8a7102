"""What the operator console (the Textual TUI) reads, as plain values.

The TUI never touches the store: it holds a `Console` (opened from the settings) and
calls these read functions from worker threads. Each returns frozen values shaped for
display (issuer common names, lower-cased search keys, month buckets, text made safe
for the terminal by `terminal_safe`), so widgets do no SQL and no crypto. Actions
call the same use cases as the CLI (`enrol.generate_csr`, `renewal.mark_ordered`,
`intake.import_issued`, `export.export_mailbox`, `alert_log.acknowledge`,
`mailboxes.archive_mailbox`) through the `Console` too, so that a locked or
unreachable database always surfaces as a `StoreError` with a one-line message,
never as a driver exception. Renewal, alert, job and trust queries live in
`certmgr.services.console_queries`.

Alerts are shown pending (due at `at` by `evaluate_alerts`, not sent yet), sent, failed
or acknowledged. The jobs' next runs come from the job store of a running
`certmgr serve`, else from a `planner` (`certmgr.scheduler.next_runs`, handed in by the
console's entry point: the services layer may not import the scheduler).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import and_, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from certmgr.errors import ConfigError, InputError, NotFoundError, StoreError
from certmgr.pki.keys import DEFAULT_KDF_ROUNDS
from certmgr.services.alert_log import acknowledge
from certmgr.services.console_queries import (
    ALERT_STATES,
    RENEWAL_LABELS,
    AlertRow,
    CrlRow,
    JobRow,
    JobRunner,
    Planner,
    RenewalEntry,
    TrustRow,
    alert_rows,
    common_name,
    crl_rows,
    due_alerts,
    earliest_crl_next_update,
    job_rows,
    latest_renewal_states,
    mailbox_id,
    renewal_history,
    terminal_safe,
    trust_rows,
    unacknowledged,
)
from certmgr.services.enrol import CsrCreated, KeyOptions, generate_csr
from certmgr.services.export import ExportResult, export_mailbox
from certmgr.services.intake import IntakeReport, import_issued
from certmgr.services.mailboxes import archive_mailbox, show_mailbox
from certmgr.services.renewal import RenewalView, mark_ordered
from certmgr.services.status import CrlFreshness, NextExpiry, status_summary
from certmgr.store.enums import BindingRole, MailboxStatus
from certmgr.store.models import (
    AuditEvent,
    Binding,
    CACertificate,
    Certificate,
    Mailbox,
    RenewalState,
    Structure,
)
from certmgr.store.session import Store, open_store

try:  # the probe history lands in parallel (issue 8); without it: "no probe yet"
    from certmgr.services.probe_history import ProbeRecordView, last_probe
except ImportError:  # pragma: no cover - depends on the build
    ProbeRecordView = Any  # type: ignore[misc,assignment]
    last_probe = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from certmgr.config import Settings

__all__ = [
    "ALERT_STATES",
    "STATUSES",
    "AlertRow",
    "AuditRow",
    "ChainLink",
    "Console",
    "CrlFreshness",
    "CrlRow",
    "Dashboard",
    "FindingRow",
    "JobRow",
    "MailboxRow",
    "MailboxStatus",
    "MailboxView",
    "MonthCount",
    "NextExpiry",
    "Planner",
    "ProbeLine",
    "RenewalEntry",
    "TimelineEntry",
    "TrustRow",
    "common_name",
    "month_buckets",
    "terminal_safe",
]

STATUSES: tuple[MailboxStatus, ...] = tuple(MailboxStatus)
"""Every status, in the order of the quick filters (keys 1-7)."""
_MONTHS = 18
P = ParamSpec("P")
T = TypeVar("T")


# ---------------------------------------------------------------------------- values
@dataclass(frozen=True, slots=True)
class MailboxRow:
    """One line of the mailbox table; `search` is the lower-cased text filters match."""

    address: str
    structure: str
    idnat: str
    status: MailboxStatus
    days_left: int | None
    issuer: str
    renewal: str
    search: str


@dataclass(frozen=True, slots=True)
class MonthCount:
    year: int
    month: int
    count: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    at: dt.datetime
    counts: dict[MailboxStatus, int]
    expiries: tuple[MonthCount, ...]
    """Current certificates expiring in each of the next 18 months (this month first)."""
    next_expiries: tuple[NextExpiry, ...]
    crls: tuple[CrlFreshness, ...]
    last_scan: dt.datetime | None
    alerts: tuple[AlertRow, ...] = ()
    """Alerts sent and not yet acknowledged, one per mailbox and kind, newest first."""
    jobs: tuple[JobRow, ...] = ()
    """Every job known (scheduled, planned or run), by name."""
    schedule_error: str | None = None
    """Why the next runs could not be planned (a bad `[schedule]` line)."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One certificate of the validated path, leaf first; `status` is ok/error/unknown."""

    name: str
    subject: str
    fingerprint: str
    status: str
    messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FindingRow:
    code: str
    severity: str
    message: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: dt.datetime
    actor: str
    action: str
    text: str


@dataclass(frozen=True, slots=True)
class ProbeLine:
    """The last endpoint probe of a mailbox, summarised for one line."""

    at: dt.datetime
    ok: bool
    status: str
    text: str


@dataclass(frozen=True, slots=True)
class MailboxView:
    """The mailbox detail screen's data."""

    row: MailboxRow
    application: str
    environment: str
    contacts: tuple[str, ...]
    department: str | None
    facts: tuple[tuple[str, str], ...]
    """(label, value) pairs of the current certificate ((): none)."""
    chain: tuple[ChainLink, ...]
    findings: tuple[FindingRow, ...]
    checked_at: dt.datetime | None
    timeline: tuple[TimelineEntry, ...]
    archived: bool
    renewals: tuple[RenewalEntry, ...] = ()
    """Every renewal of the mailbox, oldest first."""
    alerts: tuple[AlertRow, ...] = ()
    """Alerts of the mailbox waiting for an acknowledgement."""
    probe: ProbeLine | None = None
    """The last endpoint probe (None: never probed, or no probe support in this build)."""


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor: str
    action: str
    object: str
    details: str
    search: str


# ---------------------------------------------------------------------------- helpers
def month_buckets(not_afters: list[dt.datetime], *, at: dt.datetime,
                  months: int = _MONTHS) -> tuple[MonthCount, ...]:
    """Count `not_afters` per calendar month (UTC) from `at`'s month, `months` months;
    instants before `at` or beyond the last month are not counted."""
    start = at.year * 12 + at.month - 1
    counts = [0] * months
    for moment in not_afters:
        if moment < at:
            continue
        index = moment.year * 12 + moment.month - 1 - start
        if 0 <= index < months:
            counts[index] += 1
    return tuple(MonthCount((start + i) // 12, (start + i) % 12 + 1, n)
                 for i, n in enumerate(counts))


def _renewal_label(state: RenewalState | None) -> str:
    return "" if state is None else RENEWAL_LABELS.get(state, str(state))


def _probe_line(view: ProbeRecordView | None) -> ProbeLine | None:
    if view is None:
        return None
    parts = [f"{view.status}"]
    if view.endpoint:
        parts.append(terminal_safe(view.endpoint))
    if view.tls_version:
        parts.append(terminal_safe(view.tls_version))
    if view.server_days_left is not None:
        parts.append(f"server cert {view.server_days_left} d left")
    if view.client_outcome:
        parts.append(f"client cert {terminal_safe(view.client_outcome)}")
    if view.codes:
        parts.append(terminal_safe(", ".join(view.codes)))
    if view.error:
        parts.append(terminal_safe(view.error.splitlines()[0]))
    return ProbeLine(view.at, view.ok, view.status, " · ".join(parts))


def _store_errors(method: Callable[P, T]) -> Callable[P, T]:
    """Turn driver errors (a locked SQLite file, a lost server) into a one-line StoreError."""
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except DBAPIError as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
            raise StoreError(f"database unavailable: {reason}") from exc
    return wrapper


# ---------------------------------------------------------------------------- console
class Console:
    """The TUI's handle on the inventory: opened lazily, safe to call from worker threads."""

    def __init__(self, settings: Settings, *, create: bool = False,
                 kdf_rounds: int = DEFAULT_KDF_ROUNDS, planner: Planner | None = None,
                 runner: JobRunner | None = None, job_names: Sequence[str] = ()) -> None:
        self.settings = settings
        self.planner = planner
        """Computes the jobs' next runs (`certmgr.scheduler.next_runs`, which the services
        layer may not import: the console's entry point hands it in)."""
        self.runner = runner
        """Runs a job now (`certmgr.jobs.run_job`, handed in by the entry point too)."""
        self.job_names = tuple(job_names)
        """The jobs `runner` knows (`certmgr.jobs.JOBS`), in their order."""
        self.kdf_rounds = kdf_rounds
        """PBKDF2 rounds of the keys the console generates (lower only in tests)."""
        self._create = create
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        """The open store (opened on first use; MigrationRequiredError/StoreError)."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings, create=self._create)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # ------------------------------------------------------------------ reads
    @_store_errors
    def dashboard(self, *, at: dt.datetime, job_names: Sequence[str] = ()) -> Dashboard:
        """Counts, expiries per month, CRLs, last scan, alerts waiting for an
        acknowledgement and jobs (next runs) at `at`."""
        summary = status_summary(store=self.store, at=at, limit=8)
        with self.store.sessions() as session:
            not_afters = session.scalars(
                select(col(Certificate.not_after))
                .join(Binding, and_(col(Binding.certificate_id) == Certificate.id,
                                    col(Binding.role) == BindingRole.CURRENT))
                .join(Mailbox, col(Mailbox.id) == Binding.mailbox_id)
                .where(col(Mailbox.archived).is_(False), col(Certificate.not_after) >= at)
            ).all()
        try:
            planned, schedule_error = self.planned_runs(at=at), None
        except ConfigError as exc:  # the dashboard still shows the rest
            planned, schedule_error = {}, str(exc)
        return Dashboard(at=at, counts=summary.counts,
                         expiries=month_buckets(list(not_afters), at=at),
                         next_expiries=summary.next_expiries, crls=summary.crls,
                         last_scan=summary.last_scan,
                         alerts=tuple(unacknowledged(alert_rows(self.store))),
                         jobs=job_rows(self.store, names=job_names, planned=planned),
                         schedule_error=schedule_error)

    @_store_errors
    def mailbox_rows(self) -> tuple[MailboxRow, ...]:
        """Every active mailbox, by address, in one query (plus one for renewal states:
        the state of each mailbox's newest `Renewal`)."""
        current = and_(col(Binding.mailbox_id) == Mailbox.id,
                       col(Binding.role) == BindingRole.CURRENT)
        query = (
            select(col(Mailbox.id), col(Mailbox.address), col(Structure.name),
                   col(Structure.idnat), col(Mailbox.status), col(Mailbox.days_left),
                   col(Certificate.issuer))
            .join(Structure, col(Structure.id) == Mailbox.structure_id)
            .outerjoin(Binding, current)
            .outerjoin(Certificate, col(Certificate.id) == Binding.certificate_id)
            .where(col(Mailbox.archived).is_(False))
            .order_by(col(Mailbox.address)))
        with self.store.sessions() as session:
            rows = session.execute(query).all()
            states = latest_renewal_states(session)
        out = []
        for ident, address, name, idnat, status, left, issuer in rows:
            renewal = _renewal_label(states.get(ident))
            cn = common_name(issuer)
            structure = terminal_safe(name)
            out.append(MailboxRow(address, structure, idnat, MailboxStatus(status), left, cn,
                                  renewal, f"{address}\t{structure}\t{idnat}\t{cn}\t"
                                           f"{renewal}".lower()))
        return tuple(out)

    @_store_errors
    def mailbox_view(self, *, address: str) -> MailboxView:
        """The detail of one mailbox; NotFoundError when there is none."""
        detail = show_mailbox(store=self.store, address=address)
        summ = detail.summary
        current = next((c for c in detail.certificates if c.role is BindingRole.CURRENT), None)
        last = detail.last_validation
        findings = tuple(FindingRow(terminal_safe(str(f.get("code"))),
                                    terminal_safe(str(f.get("severity"))),
                                    terminal_safe(str(f.get("message"))))
                         for f in (last or {}).get("findings", []))
        chain = self._chain(last, current_subject=None if current is None else current.subject)
        with self.store.sessions() as session:
            ident = mailbox_id(session, summ.address)
            renewals = () if ident is None else renewal_history(session, mailbox_id=ident)
        issuer = common_name(current.issuer) if current else ""
        row = MailboxRow(summ.address, terminal_safe(summ.structure_name), summ.idnat,
                         summ.status, summ.days_left, issuer,
                         _renewal_label(renewals[-1].state if renewals else None),
                         summ.address)
        facts: tuple[tuple[str, str], ...] = ()
        if current is not None:
            facts = (("Subject", terminal_safe(current.subject)),
                     ("Issuer", terminal_safe(current.issuer)),
                     ("Serial", current.serial_hex),
                     ("Valid from", f"{current.not_before:%Y-%m-%d %H:%M} UTC"),
                     ("Valid until", f"{current.not_after:%Y-%m-%d %H:%M} UTC"),
                     ("Product", terminal_safe(current.product)),
                     ("Environment", current.environment),
                     ("SHA-256", current.fingerprint_sha256))
        timeline = tuple(TimelineEntry(e["at"], terminal_safe(str(e["actor"])),
                                       terminal_safe(str(e["action"])),
                                       _details_text(e.get("details")))
                         for e in detail.events)
        probe = None if last_probe is None else _probe_line(
            last_probe(store=self.store, address=summ.address))
        return MailboxView(row=row, application=terminal_safe(summ.application),
                           environment=str(summ.environment),
                           contacts=tuple(terminal_safe(c) for c in detail.contacts),
                           department=detail.department, facts=facts, chain=chain,
                           findings=findings,
                           checked_at=None if last is None else last.get("checked_at"),
                           timeline=timeline, archived=summ.archived, renewals=renewals,
                           alerts=tuple(unacknowledged(alert_rows(
                               self.store, mailbox=summ.address))),
                           probe=probe)

    def _chain(self, last: dict[str, Any] | None, *,
               current_subject: str | None) -> tuple[ChainLink, ...]:
        if last is None:
            if current_subject is None:
                return ()
            return (ChainLink(common_name(current_subject), terminal_safe(current_subject), "",
                              "unknown",
                              ("not validated yet: run a scan",)),)
        path = [str(p) for p in last.get("path", [])]
        subjects: dict[str, str] = {}
        with self.store.sessions() as session:
            for model in (Certificate, CACertificate):
                subjects.update(session.execute(
                    select(col(model.fingerprint_sha256), col(model.subject))
                    .where(col(model.fingerprint_sha256).in_(path))).all())
        errors: dict[str | None, list[str]] = {}
        for f in last.get("findings", []):
            if str(f.get("severity")).upper() == "ERROR":
                errors.setdefault(f.get("subject"), []).append(f"{f.get('code')}: "
                                                               f"{f.get('message')}")
        links = []
        on_path = {subjects.get(item, item) for item in path}
        # An error about no certificate of the path (or about none) belongs to the leaf.
        stray = [m for key, ms in errors.items() if key not in on_path for m in ms]
        for i, item in enumerate(path):
            subject = subjects.get(item, item)
            messages = errors.get(subject, [])
            if i == 0:
                messages = [*messages, *stray]
            links.append(ChainLink(common_name(subject), subject, item if item != subject
                                   else "", "error" if messages else "ok", tuple(messages)))
        if not links and current_subject is not None:
            every = tuple(m for ms in errors.values() for m in ms)
            links.append(ChainLink(common_name(current_subject), current_subject, "",
                                   "error" if every else "unknown", every))
        return tuple(ChainLink(link.name, terminal_safe(link.subject), link.fingerprint,
                               link.status, tuple(terminal_safe(m) for m in link.messages))
                     for link in links)

    @_store_errors
    def audit_rows(self, *, limit: int = 2000) -> tuple[AuditRow, ...]:
        """The newest `limit` audit events, newest first."""
        with self.store.sessions() as session:
            events = session.scalars(select(AuditEvent).order_by(col(AuditEvent.id).desc())
                                     .limit(limit)).all()
        out = []
        for e in events:
            obj = f"{e.object_type}:{e.object_id}" if e.object_type else (e.object_id or "")
            text = _details_text(e.details)
            assert e.id is not None
            obj = terminal_safe(obj)
            out.append(AuditRow(e.id, e.at, terminal_safe(e.actor), terminal_safe(e.action),
                                obj, text,
                                f"{e.actor}\t{e.action}\t{obj}\t{text}".lower()))
        return tuple(out)

    @_store_errors
    def trust_rows(self, *, at: dt.datetime) -> tuple[TrustRow, ...]:
        return trust_rows(self.store, at=at)

    @_store_errors
    def crl_rows(self, *, at: dt.datetime) -> tuple[CrlRow, ...]:
        return crl_rows(self.store, at=at)

    @_store_errors
    def alert_rows(self, *, at: dt.datetime, limit: int = 500) -> tuple[AlertRow, ...]:
        """The alerts due at `at` and not sent yet (pending), then the newest `limit`
        alerts sent, with their acknowledgement, newest first."""
        settings = self.settings
        due = due_alerts(self.store, at=at, thresholds=settings.alert_thresholds,
                         order_pending_days=int(settings.extra.get("order_pending_days", 14)))
        return due + alert_rows(self.store, limit=limit)

    @_store_errors
    def job_rows(self, *, names: Sequence[str], at: dt.datetime) -> tuple[JobRow, ...]:
        """Every job of `names` (and any other known): next run and last result."""
        return job_rows(self.store, names=names, planned=self.planned_runs(at=at))

    def run_job(self, name: str, *, now: dt.datetime) -> dict[str, Any]:
        """Run the job `name` now (the Jobs screen's "run now"); InputError for a job the
        runner does not know or when no runner was handed in."""
        if self.runner is None or name not in self.job_names:
            raise InputError(f"job {name} cannot be run from here; known: "
                             f"{', '.join(self.job_names) or 'none'}", source="jobs")
        return self.runner(name, self.settings, now=now)

    def planned_runs(self, *, at: dt.datetime) -> dict[str, dt.datetime]:
        """Each job's next run after `at` from the configured triggers (the `planner`),
        without a scheduler; {} without a planner. ConfigError on a bad `[schedule]`."""
        if self.planner is None:
            return {}
        earliest = earliest_crl_next_update(self.store, at=at)
        return dict(self.planner(self.settings, now=at, crl_next_update=earliest))

    # ------------------------------------------------------------------ actions
    @_store_errors
    def archive(self, *, address: str, at: dt.datetime, actor: str) -> bool:
        return archive_mailbox(store=self.store, address=address, at=at, actor=actor)

    @_store_errors
    def generate_csr(self, *, address: str, profile: str, key_size: int, passphrase: str,
                     at: dt.datetime, actor: str) -> CsrCreated:
        """A new key (sealed with `passphrase`) and CSR, and its CSR_READY renewal."""
        return generate_csr(store=self.store, settings=self.settings, address=address,
                            profile=profile, passphrase=passphrase.encode(), at=at,
                            actor=actor, options=KeyOptions.for_size(
                                key_size, kdf_rounds=self.kdf_rounds))

    @_store_errors
    def mark_ordered(self, *, address: str, at: dt.datetime, actor: str,
                     ref: str | None = None) -> RenewalView:
        return mark_ordered(store=self.store, address=address, at=at, actor=actor, ref=ref)

    @_store_errors
    def import_issued(self, *, address: str, path: Path, at: dt.datetime, actor: str
                      ) -> IntakeReport:
        """Import the certificate file ANS issued; InputError (one line) when rejected or
        when `path` holds no file (an empty directory)."""
        report = import_issued(store=self.store, settings=self.settings, address=address,
                               path=path, at=at, actor=actor)
        if not report.report.files:
            raise InputError(terminal_safe(f"{path}: no certificate file found"))
        for file in report.report.files:
            reason = file.error or "; ".join(o.finding.message for o in file.refused
                                             if o.finding is not None)
            if file.rejected:
                raise InputError(terminal_safe(f"{file.path}: rejected {reason}"))
        return report

    @_store_errors
    def export(self, *, address: str, passphrase: str, at: dt.datetime, actor: str,
               out: Path | None = None) -> ExportResult:
        """PKCS#12 of the current certificate, chain and key (`passphrase` opens the key
        and protects the file)."""
        return export_mailbox(store=self.store, settings=self.settings, address=address,
                              passphrase=passphrase.encode(), at=at, actor=actor, out=out)

    @_store_errors
    def unacknowledged_alerts(self, *, address: str) -> tuple[AlertRow, ...]:
        """The mailbox's alerts told and waiting for an acknowledgement, newest first."""
        return tuple(unacknowledged(alert_rows(self.store, mailbox=address)))

    @_store_errors
    def acknowledge_alert(self, *, alert_id: int, at: dt.datetime, actor: str,
                          until: dt.datetime | None = None) -> str:
        """Acknowledge sent alert `alert_id` (its certificate) and, with `until`, snooze
        its alerts until then, as `certmgr alerts ack ID --until DATE`; the fingerprint."""
        return acknowledge(store=self.store, alert_id=alert_id, at=at, actor=actor,
                           until=until)

    @_store_errors
    def acknowledge_mailbox(self, *, address: str, at: dt.datetime, actor: str) -> int:
        """Acknowledge every alert of `address` told and not acknowledged yet; how many
        there were (NotFoundError when none)."""
        told = [row.id for row in self.unacknowledged_alerts(address=address)
                if row.id is not None]
        if not told:
            raise NotFoundError(f"no alert to acknowledge for {address}")
        for alert_id in told:
            acknowledge(store=self.store, alert_id=alert_id, at=at, actor=actor)
        return len(told)


def _details_text(details: Any) -> str:
    if not isinstance(details, dict):
        return ""
    return terminal_safe(", ".join(f"{k}={v}" for k, v in details.items()
                                   if v not in (None, "", [], {})))
