"""What the operator console (the Textual TUI) reads, as plain values.

The TUI never touches the store: it holds a `Console` (opened from the settings) and
calls these read functions from worker threads. Each returns frozen values shaped for
display (issuer common names, lower-cased search keys, month buckets), so widgets do
no SQL and no crypto. Actions go to the use-case modules (`mailboxes`, `scan`...)
through the `Console` too, so that a locked or unreachable database always surfaces
as a `StoreError` with a one-line message, never as a driver exception.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from certmgr.errors import CertmgrError, StoreError
from certmgr.services.mailboxes import archive_mailbox, show_mailbox
from certmgr.services.status import CrlFreshness, NextExpiry, days_left, status_summary
from certmgr.store.enums import BindingRole, MailboxStatus
from certmgr.store.models import (
    AuditEvent,
    Binding,
    CACertificate,
    Certificate,
    Crl,
    Mailbox,
    Structure,
)
from certmgr.store.session import Store, open_store

if TYPE_CHECKING:
    from certmgr.config import Settings

__all__ = [
    "STATUSES",
    "AuditRow",
    "ChainLink",
    "Console",
    "CrlFreshness",
    "CrlRow",
    "Dashboard",
    "FindingRow",
    "MailboxRow",
    "MailboxStatus",
    "MailboxView",
    "MonthCount",
    "NextExpiry",
    "TimelineEntry",
    "TrustRow",
    "common_name",
    "month_buckets",
]

STATUSES: tuple[MailboxStatus, ...] = tuple(MailboxStatus)
"""Every status, in the order of the quick filters (keys 1-7)."""
_MONTHS = 18
_RENEWAL_ACTIONS = ("csr.", "enrol.", "renewal.", "order.", "intake.")
P = ParamSpec("P")
T = TypeVar("T")


@functools.lru_cache(maxsize=4096)
def common_name(dn: str | None) -> str:
    """The CN of an RFC 4514 DN (the whole DN when it has none); '' for None."""
    if not dn:
        return ""
    for part in dn.split(","):
        key, _, value = part.strip().partition("=")
        if key.upper() == "CN":
            return value.replace("\\", "")
    return dn


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
    alerts: tuple[str, ...] = ()
    """Unacknowledged alerts, one line each (empty until the alert engine exists)."""
    jobs: tuple[str, ...] = ()
    """Next scheduled runs, one line each (empty until the scheduler exists)."""

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


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor: str
    action: str
    object: str
    details: str
    search: str


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


def _renewal_state(action: str | None, *, has_next: bool) -> str:
    if has_next:
        return "next cert ready"
    if action is None:
        return ""
    if "import" in action or "intake" in action:
        return "issued"
    if "order" in action:
        return "ordered"
    if "csr" in action or "enrol" in action:
        return "CSR generated"
    return action


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

    def __init__(self, settings: Settings, *, create: bool = False) -> None:
        self.settings = settings
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
    def dashboard(self, *, at: dt.datetime) -> Dashboard:
        summary = status_summary(store=self.store, at=at, limit=8)
        with self.store.sessions() as session:
            not_afters = session.scalars(
                select(col(Certificate.not_after))
                .join(Binding, and_(col(Binding.certificate_id) == Certificate.id,
                                    col(Binding.role) == BindingRole.CURRENT))
                .join(Mailbox, col(Mailbox.id) == Binding.mailbox_id)
                .where(col(Mailbox.archived).is_(False), col(Certificate.not_after) >= at)
            ).all()
        return Dashboard(at=at, counts=summary.counts,
                         expiries=month_buckets(list(not_afters), at=at),
                         next_expiries=summary.next_expiries, crls=summary.crls,
                         last_scan=summary.last_scan)

    @_store_errors
    def mailbox_rows(self) -> tuple[MailboxRow, ...]:
        """Every active mailbox, by address, in one query (plus one for renewal states)."""
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
            with_next = set(session.scalars(select(col(Binding.mailbox_id)).where(
                col(Binding.role) == BindingRole.NEXT)).all())
            last_ids = (select(func.max(col(AuditEvent.id))).where(
                col(AuditEvent.object_type) == "mailbox",
                or_(*(col(AuditEvent.action).startswith(p) for p in _RENEWAL_ACTIONS)))
                .group_by(col(AuditEvent.object_id)))
            actions: dict[str | None, str] = dict(session.execute(
                select(col(AuditEvent.object_id), col(AuditEvent.action))
                                           .where(col(AuditEvent.id).in_(last_ids))).all())
        out = []
        for mailbox_id, address, name, idnat, status, left, issuer in rows:
            renewal = _renewal_state(actions.get(address), has_next=mailbox_id in with_next)
            cn = common_name(issuer)
            out.append(MailboxRow(address, name, idnat, MailboxStatus(status), left, cn, renewal,
                                  f"{address}\t{name}\t{idnat}\t{cn}\t{renewal}".lower()))
        return tuple(out)

    @_store_errors
    def mailbox_view(self, *, address: str) -> MailboxView:
        """The detail of one mailbox; NotFoundError when there is none."""
        detail = show_mailbox(store=self.store, address=address)
        summ = detail.summary
        current = next((c for c in detail.certificates if c.role is BindingRole.CURRENT), None)
        last = detail.last_validation
        findings = tuple(FindingRow(str(f.get("code")), str(f.get("severity")),
                                    str(f.get("message")))
                         for f in (last or {}).get("findings", []))
        chain = self._chain(last, current_subject=None if current is None else current.subject)
        has_next = any(c.role is BindingRole.NEXT for c in detail.certificates)
        renewal_action = next((e["action"] for e in reversed(detail.events)
                               if str(e["action"]).startswith(_RENEWAL_ACTIONS)), None)
        issuer = common_name(current.issuer) if current else ""
        row = MailboxRow(summ.address, summ.structure_name, summ.idnat, summ.status,
                         summ.days_left, issuer,
                         _renewal_state(renewal_action, has_next=has_next), summ.address)
        facts: tuple[tuple[str, str], ...] = ()
        if current is not None:
            facts = (("Subject", current.subject), ("Issuer", current.issuer),
                     ("Serial", current.serial_hex),
                     ("Valid from", f"{current.not_before:%Y-%m-%d %H:%M} UTC"),
                     ("Valid until", f"{current.not_after:%Y-%m-%d %H:%M} UTC"),
                     ("Product", current.product), ("Environment", current.environment),
                     ("SHA-256", current.fingerprint_sha256))
        timeline = tuple(TimelineEntry(e["at"], str(e["actor"]), str(e["action"]),
                                       _details_text(e.get("details")))
                         for e in detail.events)
        return MailboxView(row=row, application=summ.application,
                           environment=str(summ.environment), contacts=detail.contacts,
                           department=detail.department, facts=facts, chain=chain,
                           findings=findings,
                           checked_at=None if last is None else last.get("checked_at"),
                           timeline=timeline, archived=summ.archived)

    def _chain(self, last: dict[str, Any] | None, *,
               current_subject: str | None) -> tuple[ChainLink, ...]:
        if last is None:
            if current_subject is None:
                return ()
            return (ChainLink(common_name(current_subject), current_subject, "", "unknown",
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
        return tuple(links)

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
            out.append(AuditRow(e.id, e.at, e.actor, e.action, obj, text,
                                f"{e.actor}\t{e.action}\t{obj}\t{text}".lower()))
        return tuple(out)

    @_store_errors
    def trust_rows(self, *, at: dt.datetime) -> tuple[TrustRow, ...]:
        with self.store.sessions() as session:
            cas = session.scalars(select(CACertificate).order_by(
                col(CACertificate.is_anchor).desc(), col(CACertificate.subject))).all()
        return tuple(TrustRow(common_name(c.subject), "anchor" if c.is_anchor else
                              "intermediate", c.environment, c.pinned, c.not_after,
                              days_left(c.not_after, at=at), c.fingerprint_sha256[:16],
                              c.source or "") for c in cas)

    @_store_errors
    def crl_rows(self, *, at: dt.datetime) -> tuple[CrlRow, ...]:
        with self.store.sessions() as session:
            crls = session.scalars(select(Crl).where(col(Crl.is_current).is_(True))
                                   .order_by(col(Crl.issuer), col(Crl.is_delta))).all()
        return tuple(CrlRow(common_name(c.issuer), c.crl_number, c.this_update,
                            c.next_update, c.next_update is None or at < c.next_update,
                            c.is_delta, c.entries, c.source or "", c.verified) for c in crls)

    # ------------------------------------------------------------------ actions
    @_store_errors
    def archive(self, *, address: str, at: dt.datetime, actor: str) -> bool:
        return archive_mailbox(store=self.store, address=address, at=at, actor=actor)

    # The renewal use cases are written in parallel (issue 6); until they land, these
    # entry points say so in one line instead of failing with an ImportError.
    @_store_errors
    def generate_csr(self, *, address: str, profile: str, key_size: int, passphrase: str,
                     at: dt.datetime, actor: str) -> Any:
        return _service("enrol", "generate_csr", "CSR generation")(
            store=self.store, settings=self.settings, address=address, profile=profile,
            key_size=key_size, passphrase=passphrase.encode(), at=at, actor=actor)

    @_store_errors
    def mark_ordered(self, *, address: str, at: dt.datetime, actor: str) -> Any:
        return _service("renewal", "mark_ordered", "Marking an order")(
            store=self.store, address=address, at=at, actor=actor)

    @_store_errors
    def import_issued(self, *, address: str, path: Path, at: dt.datetime, actor: str) -> Any:
        return _service("intake", "import_issued", "Importing an issued certificate")(
            store=self.store, settings=self.settings, address=address, path=path, at=at,
            actor=actor)

    @_store_errors
    def export(self, *, address: str, passphrase: str, at: dt.datetime, actor: str) -> Any:
        return _service("export", "export_mailbox", "Export")(
            store=self.store, settings=self.settings, address=address,
            passphrase=passphrase.encode(), at=at, actor=actor)

    @_store_errors
    def acknowledge_alert(self, *, address: str, at: dt.datetime, actor: str) -> Any:
        return _service("alerts", "acknowledge", "Acknowledging alerts")(
            store=self.store, address=address, at=at, actor=actor)


def _service(module: str, name: str, what: str) -> Callable[..., Any]:
    """`certmgr.services.<module>.<name>`, or CertmgrError when this build lacks it."""
    try:
        found = getattr(importlib.import_module(f"certmgr.services.{module}"), name, None)
    except ImportError:
        found = None
    if not callable(found):
        raise CertmgrError(f"{what} is not available in this certmgr yet "
                           f"(certmgr.services.{module}.{name})")
    return found  # type: ignore[no-any-return]


def _details_text(details: Any) -> str:
    if not isinstance(details, dict):
        return ""
    return ", ".join(f"{k}={v}" for k, v in details.items() if v not in (None, "", [], {}))
