"""The alert engine: what is worth telling now (`evaluate_alerts`), and telling it once
(`dispatch`).

`evaluate_alerts` is a pure read of the store: it returns the facts that hold at `at`
for the current certificate of every active mailbox (a certificate only bound as
`previous`, i.e. superseded, is silent), the current CRLs, the pending orders, the failing
jobs (JOB_FAILED: one fact per failing streak of a job, dated by its first failed run
since its last success) and the failing endpoint probes (PROBE_FAILED: one fact per
transition from ok to failing, dated by its first failing probe,
`certmgr.services.probe_history.failing_streaks`; it names the endpoint, the probe's
findings, and the mailbox's structure and current certificate). Snoozed alerts are left
out until their date (`certmgr.services.alert_log.acknowledge_alert`).

Expiry thresholds use CROSSING semantics: for each certificate the lowest threshold
crossed (`days_left <= threshold`) is the one reported, never a higher one than the
lowest already notified (`AlertState.lowest_threshold`). A skipped day or a restart
therefore loses nothing (40 days left then 10: the 14-day alert is sent once, 30 is
passed silently) and repeats nothing.

`dispatch` sends each event to its recipients (the mailbox's contacts and the admins;
the escalation contacts too once an alert has stayed unacknowledged for
`escalate_after_days`: a certificate's alert since its step was first told, any other
fact since it was first told while it still holds), through every channel. Each
(dedup_key, recipient, channel) is one `AlertSent` row, inserted in the same transaction
as the send: the UNIQUE constraint makes a second service (or a retry) skip what was
already told. A failed send is recorded `failed` and tried again by the next dispatch.
Channels that are not addressed per recipient (webhook, log) get one row with recipient
`*`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from certmgr.channels.base import Channel, Message
from certmgr.channels.smtp import SmtpChannel
from certmgr.errors import CertmgrError, NotFoundError
from certmgr.services.alert_events import AlertEvent, AlertFinding, AlertKind
from certmgr.services.alert_log import FactAck, fact_acks
from certmgr.services.export import current_certificate
from certmgr.services.messages import group_by_recipient, render, render_digest
from certmgr.services.probe import code_rank
from certmgr.services.probe_history import ProbeRecordView, failing_streaks
from certmgr.services.status import days_left
from certmgr.store.audit import append_event
from certmgr.store.enums import BindingRole, MailboxStatus
from certmgr.store.models import (
    Binding,
    Certificate,
    Crl,
    Mailbox,
    Renewal,
    RenewalState,
    Structure,
)
from certmgr.store.models import ValidationResult as ResultRow
from certmgr.store.models_alerts import AlertSent, AlertState, JobRun

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.config import Settings
    from certmgr.store.session import Store

__all__ = ["ALL_RECIPIENTS", "AlertPolicy", "DispatchReport", "dispatch", "evaluate_alerts",
           "probe_alert_events", "send_digest"]

ALL_RECIPIENTS = "*"
_JOB_LOOKBACK = dt.timedelta(days=2)
_CERT_KINDS = frozenset({AlertKind.EXPIRY_THRESHOLD, AlertKind.EXPIRED, AlertKind.REVOKED,
                         AlertKind.CHAIN_INVALID})


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Who else hears alerts: `admins` always, `escalation_contacts` after
    `escalate_after_days` without acknowledgement. From settings extra keys of those names."""

    admins: tuple[str, ...] = ()
    escalation_contacts: tuple[str, ...] = ()
    escalate_after_days: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertPolicy:
        extra = settings.extra
        return cls(admins=_addresses(extra.get("admins", ())),
                   escalation_contacts=_addresses(extra.get("escalation_contacts", ())),
                   escalate_after_days=int(extra.get("escalate_after_days", 3)))


def _addresses(value: object) -> tuple[str, ...]:
    """A list of addresses from settings; one address alone is a one-element list (a
    string is never iterated: that would alert "p", "k", "i"...)."""
    if isinstance(value, str):
        return (value,)
    return tuple(str(a) for a in value) if isinstance(value, (list, tuple)) else ()


# ------------------------------------------------------------------------- evaluate


def evaluate_alerts(*, store: Store, at: dt.datetime, thresholds: Sequence[int],
                    order_pending_days: int = 14) -> list[AlertEvent]:
    """The alert events that hold at `at` (see the module doc). Read-only.

    ORDER_PENDING: a renewal ORDERED at ANS more than `order_pending_days` ago and still
    without its certificate."""
    with store.sessions() as session:
        events = _certificate_events(session, at=at, thresholds=sorted(set(thresholds)))
        events += _crl_events(session, at=at)
        events += _order_events(session, at=at, days=order_pending_days)
        events += _job_events(session, at=at)
        events += _probe_events(session, at=at)
        return _unsnoozed(session, events, at=at)


def probe_alert_events(*, store: Store, at: dt.datetime) -> list[AlertEvent]:
    """The PROBE_FAILED alerts that hold at `at` (what the probe job dispatches right after
    probing; `evaluate_alerts` includes them too, so the digest lists them)."""
    with store.sessions() as session:
        return _unsnoozed(session, _probe_events(session, at=at), at=at)


def _unsnoozed(session: Session, events: list[AlertEvent], *, at: dt.datetime
               ) -> list[AlertEvent]:
    """`events` but the facts snoozed past `at` (`alert_log.acknowledge_alert` with
    `until`; a certificate's snooze is applied by `_certificate_events`)."""
    acks = fact_acks(session, (e.dedup_key for e in events if e.kind not in _CERT_KINDS))
    return [e for e in events if e.kind in _CERT_KINDS or not _snoozed(acks.get(e.dedup_key),
                                                                        at=at)]


def _snoozed(ack: FactAck | None, *, at: dt.datetime) -> bool:
    return ack is not None and ack.snoozed_until is not None and ack.snoozed_until > at


def _certificate_events(session: Session, *, at: dt.datetime, thresholds: list[int]
                        ) -> list[AlertEvent]:
    query = (select(Mailbox, Certificate, Structure)
             .join(Binding, col(Binding.mailbox_id) == col(Mailbox.id))
             .join(Certificate, col(Certificate.id) == col(Binding.certificate_id))
             .join(Structure, col(Structure.id) == col(Mailbox.structure_id))
             .where(col(Binding.role) == BindingRole.CURRENT, col(Mailbox.archived).is_(False))
             .order_by(col(Mailbox.address)))
    states = {s.certificate_id: s for s in session.scalars(select(AlertState))}
    events: list[AlertEvent] = []
    for mailbox, cert, structure in session.execute(query).all():
        state = states.get(cert.id or -1)
        if state is not None and state.snoozed_until is not None and state.snoozed_until > at:
            continue
        base: dict[str, Any] = {
            "at": at, "mailbox": mailbox.address, "structure_name": structure.name,
            "structure_idnat": structure.idnat, "serial": cert.serial_hex,
            "fingerprint": cert.fingerprint_sha256, "not_after": cert.not_after,
            "issuer": cert.issuer}
        left = days_left(cert.not_after, at=at)
        if mailbox.status is MailboxStatus.REVOKED:
            events.append(AlertEvent(kind=AlertKind.REVOKED, days_left=left, **base))
            continue
        if at > cert.not_after:
            events.append(AlertEvent(kind=AlertKind.EXPIRED, days_left=left, **base))
            continue
        if mailbox.status is MailboxStatus.INVALID:
            findings = _last_errors(session, cert.id or -1, mailbox.id or -1)
            if findings:
                events.append(AlertEvent(kind=AlertKind.CHAIN_INVALID, days_left=left,
                                         findings=findings, **base))
        crossed = [t for t in thresholds if left <= t]
        if not crossed:
            continue
        lowest = crossed[0]
        if state is not None and state.lowest_threshold is not None \
                and lowest > state.lowest_threshold:
            continue  # never back up to a higher threshold than already told
        events.append(AlertEvent(kind=AlertKind.EXPIRY_THRESHOLD, threshold_days=lowest,
                                 days_left=left, **base))
    return events


def _last_errors(session: Session, certificate_id: int, mailbox_id: int
                 ) -> tuple[AlertFinding, ...]:
    row = session.scalars(select(ResultRow).where(
        col(ResultRow.certificate_id) == certificate_id, col(ResultRow.mailbox_id) == mailbox_id,
    ).order_by(col(ResultRow.checked_at).desc(), col(ResultRow.id).desc()).limit(1)).first()
    if row is None:
        return ()
    return tuple(AlertFinding(code=str(f.get("code")), message=str(f.get("message", "")))
                 for f in row.findings if str(f.get("severity", "")).lower() == "error")


def _crl_events(session: Session, *, at: dt.datetime) -> list[AlertEvent]:
    rows = session.scalars(select(Crl).where(col(Crl.is_current).is_(True),
                                             col(Crl.next_update) < at))
    return [AlertEvent(kind=AlertKind.CRL_STALE, at=at, crl_issuer=row.issuer,
                       crl_next_update=row.next_update) for row in rows]


def _order_events(session: Session, *, at: dt.datetime, days: int) -> list[AlertEvent]:
    rows = session.execute(select(Renewal, Mailbox).join(
        Mailbox, col(Mailbox.id) == col(Renewal.mailbox_id)).where(
        col(Renewal.state) == RenewalState.ORDERED, col(Mailbox.archived).is_(False),
        col(Renewal.ordered_at) <= at - dt.timedelta(days=days))).all()
    return [AlertEvent(kind=AlertKind.ORDER_PENDING, at=at, mailbox=mailbox.address,
                       order_ref=renewal.order_ref or f"renewal-{renewal.id}",
                       pending_days=(at - renewal.ordered_at).days if renewal.ordered_at
                       else None) for renewal, mailbox in rows]


def _job_events(session: Session, *, at: dt.datetime) -> list[AlertEvent]:
    """JOB_FAILED: a job whose latest finished run (started within `_JOB_LOOKBACK` of
    `at`) failed. One alert per failing streak, as for probes: the event's `at` is the
    first failed run since the job's last success, so a job failing every hour is told
    once (with its latest error), and a failure after a success is new."""
    failing = session.scalars(select(col(JobRun.job)).where(
        col(JobRun.ok).is_(False), col(JobRun.started_at) >= at - _JOB_LOOKBACK,
        col(JobRun.started_at) <= at).distinct().order_by(col(JobRun.job))).all()
    events: list[AlertEvent] = []
    for job in failing:
        latest = session.scalars(select(JobRun).where(
            col(JobRun.job) == job, col(JobRun.ok).is_not(None), col(JobRun.started_at) <= at,
        ).order_by(col(JobRun.started_at).desc(), col(JobRun.id).desc()).limit(1)).first()
        if latest is None or latest.ok:
            continue
        last_ok = session.scalar(select(func.max(col(JobRun.started_at))).where(
            col(JobRun.job) == job, col(JobRun.ok).is_(True), col(JobRun.started_at) <= at))
        streak = [col(JobRun.job) == job, col(JobRun.ok).is_(False),
                  col(JobRun.started_at) <= at]
        if last_ok is not None:
            streak.append(col(JobRun.started_at) > last_ok)
        since = session.scalar(select(func.min(col(JobRun.started_at))).where(*streak))
        events.append(AlertEvent(kind=AlertKind.JOB_FAILED, at=since or latest.started_at,
                                 job_name=job, job_error=latest.error or "failed"))
    return events


def _probe_events(session: Session, *, at: dt.datetime) -> list[AlertEvent]:
    # One alert per failing streak: the event's `at` is the streak's first failure, so its
    # dedup key holds while the failure lasts, and a failure after a recovery is new.
    return [AlertEvent(kind=AlertKind.PROBE_FAILED, at=streak.since, mailbox=streak.address,
                       endpoint=streak.endpoint, probe_status=streak.latest.status,
                       findings=_probe_findings(streak.latest),
                       **_mailbox_facts(session, streak.address, at=at))
            for streak in failing_streaks(session)]


def _probe_findings(latest: ProbeRecordView) -> tuple[AlertFinding, ...]:
    """The most significant finding of the latest probe with its sentence (`record_probe`
    keeps it), then its other codes, causes before symptoms (`code_rank`)."""
    worst, _, message = (latest.error or "").partition(": ")
    found = [AlertFinding(code=worst, message=message)] if latest.error else []
    found += [AlertFinding(code=code, message="")
              for code in sorted(latest.codes, key=code_rank) if code != worst]
    return tuple(found) or (AlertFinding(code=latest.status, message="the probe failed"),)


def _mailbox_facts(session: Session, address: str, *, at: dt.datetime) -> dict[str, Any]:
    """The structure and the current certificate of a mailbox, as AlertEvent fields (the
    certificate the mailbox presents when it logs in; none when it has no current one)."""
    structure = session.scalars(select(Structure).join(
        Mailbox, col(Mailbox.structure_id) == col(Structure.id)).where(
        col(Mailbox.address) == address)).first()
    facts: dict[str, Any] = {} if structure is None else {
        "structure_name": structure.name, "structure_idnat": structure.idnat}
    try:
        _, cert = current_certificate(session, address)
    except NotFoundError:
        return facts
    return facts | {"serial": cert.serial_hex, "not_after": cert.not_after,
                    "issuer": cert.issuer, "days_left": days_left(cert.not_after, at=at)}


# ------------------------------------------------------------------------- dispatch


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """Counts of (event, recipient, channel) deliveries: sent, already told, failed."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed,
                "errors": list(self.errors)}


@dataclass(slots=True)
class _Tally:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _per_recipient(channel: Channel) -> bool:
    return bool(getattr(channel, "per_recipient", isinstance(channel, SmtpChannel)))


def dispatch(*, store: Store, channels: Sequence[Channel], events: Sequence[AlertEvent],
             at: dt.datetime, lang: str = "fr", policy: AlertPolicy | None = None,
             actor: str = "certmgr") -> DispatchReport:
    """Tell every event to its recipients through every channel, each once (module doc)."""
    policy = policy or AlertPolicy()
    tally = _Tally()
    for event in events:
        recipients = _recipients(store, event, at=at, policy=policy)
        if not recipients:
            continue
        rendered = render(event, lang=lang)
        for channel in channels:
            targets = ([(r, (r,)) for r in recipients] if _per_recipient(channel)
                       else [(ALL_RECIPIENTS, tuple(recipients))])
            for recipient, addresses in targets:
                message = Message(recipients=addresses, subject=rendered.subject,
                                  text=rendered.text, html=rendered.html,
                                  dedup_key=event.dedup_key, data=event.to_json())
                _deliver_once(store, channel, event, message, recipient=recipient, at=at,
                              actor=actor, tally=tally)
    return DispatchReport(tally.sent, tally.skipped, tally.failed, tuple(tally.errors))


def _recipients(store: Store, event: AlertEvent, *, at: dt.datetime, policy: AlertPolicy
                ) -> list[str]:
    out: list[str] = []
    with store.sessions() as session:
        if event.mailbox is not None:
            mailbox = session.scalars(select(Mailbox).where(
                col(Mailbox.address) == event.mailbox)).first()
            out += list(mailbox.contacts) if mailbox is not None else []
        out += policy.admins
        due = (_escalation_due if event.kind in _CERT_KINDS else _fact_escalation_due)(
            session, event, at=at, policy=policy)
        if due:
            out += policy.escalation_contacts
    seen: dict[str, str] = {}
    for address in out:
        seen.setdefault(address.strip().lower(), address.strip())
    return [a for a in seen.values() if a]


def _escalation_due(session: Session, event: AlertEvent, *, at: dt.datetime,
                    policy: AlertPolicy) -> bool:
    state = session.scalars(select(AlertState).join(
        Certificate, col(Certificate.id) == col(AlertState.certificate_id)).where(
        col(Certificate.fingerprint_sha256) == event.fingerprint)).first()
    if state is None or state.last_alert_at is None or state.acknowledged_at is not None:
        return False
    if state.last_kind != event.kind.value or (
            event.threshold_days is not None and event.threshold_days != state.lowest_threshold):
        return False  # a new step starts its own cycle
    return at - state.last_alert_at >= dt.timedelta(days=policy.escalate_after_days)


def _fact_escalation_due(session: Session, event: AlertEvent, *, at: dt.datetime,
                         policy: AlertPolicy) -> bool:
    """A fact that is not a certificate's (CRL stale, order pending, probe or job failing)
    escalates once it still holds `escalate_after_days` after it was first told and nobody
    acknowledged it (`alert_log.acknowledge_alert`)."""
    if not policy.escalation_contacts:
        return False
    first = session.scalar(select(func.min(col(AlertSent.sent_at))).where(
        col(AlertSent.dedup_key) == event.dedup_key, col(AlertSent.status) == "sent"))
    if first is None or at - first < dt.timedelta(days=policy.escalate_after_days):
        return False
    return event.dedup_key not in fact_acks(session, (event.dedup_key,))


def _deliver_once(store: Store, channel: Channel, event: AlertEvent | None, message: Message,
                  *, recipient: str, at: dt.datetime, actor: str, tally: _Tally,
                  kind: str | None = None) -> None:
    """Record-and-send `message` unless (dedup_key, recipient, channel) was already told."""
    key = message.dedup_key
    kind = kind or (event.kind.value if event is not None else "message")
    try:
        with store.transaction() as session:
            row = session.scalars(select(AlertSent).where(
                col(AlertSent.dedup_key) == key, col(AlertSent.recipient) == recipient,
                col(AlertSent.channel) == channel.name)).first()
            if row is not None and row.status != "failed":
                tally.skipped += 1
                return
            if row is None:
                row = AlertSent(
                    dedup_key=key, recipient=recipient, channel=channel.name, kind=kind,
                    mailbox=None if event is None else event.mailbox,
                    certificate_fingerprint=None if event is None else event.fingerprint,
                    threshold=None if event is None else event.threshold_days,
                    sent_at=at, status="sending")
                session.add(row)
                session.flush()  # a concurrent service's row makes this fail: it told it
            row.sent_at, row.status, row.error = at, "sent", None
            try:
                result = channel.send(message)
                if result.refused:
                    row.status = "failed"
                    row.error = "; ".join(f"{k}: {v}" for k, v in result.refused.items())
            except CertmgrError as exc:
                row.status, row.error = "failed", str(exc)
            session.add(row)
            if row.status == "sent":
                if event is not None:
                    _note_sent(session, event, at=at)
                tally.sent += 1
            else:
                tally.failed += 1
                tally.errors.append(f"{channel.name} {recipient}: {row.error}")
            append_event(session, actor=actor, action=f"alert.{row.status}", at=at,
                         object_type="alert", object_id=key,
                         details={"channel": channel.name, "recipient": recipient,
                                  "kind": kind, "mailbox": row.mailbox})
    except IntegrityError:
        tally.skipped += 1


def send_digest(*, store: Store, channels: Sequence[Channel], events: Sequence[AlertEvent],
                at: dt.datetime, lang: str = "fr", policy: AlertPolicy | None = None,
                tz: str = "Europe/Paris", actor: str = "certmgr") -> DispatchReport:
    """The daily digest: every event grouped per recipient, one message each, through the
    per-recipient channels (e-mail), once per local day (`digest-<date>` dedup key)."""
    policy = policy or AlertPolicy()
    pairs = [(r, e) for e in events for r in _recipients(store, e, at=at, policy=policy)]
    day = at.astimezone(ZoneInfo(tz)).date().isoformat()
    tally = _Tally()
    for recipient, grouped in group_by_recipient(pairs).items():
        rendered = render_digest(grouped, lang=lang, recipient=recipient, at=at, tz=tz)
        message = Message(recipients=(recipient,), subject=rendered.subject,
                          text=rendered.text, html=rendered.html, dedup_key=f"digest-{day}")
        for channel in channels:
            if _per_recipient(channel):
                _deliver_once(store, channel, None, message, recipient=recipient, at=at,
                              actor=actor, tally=tally, kind="digest")
    return DispatchReport(tally.sent, tally.skipped, tally.failed, tuple(tally.errors))


def _note_sent(session: Session, event: AlertEvent, *, at: dt.datetime) -> None:
    if event.kind not in _CERT_KINDS or event.fingerprint is None:
        return
    cert_id = session.scalar(select(col(Certificate.id)).where(
        col(Certificate.fingerprint_sha256) == event.fingerprint))
    if cert_id is None:
        return
    state = session.scalars(select(AlertState).where(
        col(AlertState.certificate_id) == cert_id)).first()
    if state is None:
        state = AlertState(certificate_id=cert_id)
    is_new = state.last_kind != event.kind.value or (
        event.threshold_days is not None and event.threshold_days != state.lowest_threshold)
    if event.threshold_days is not None and (state.lowest_threshold is None
                                             or event.threshold_days < state.lowest_threshold):
        state.lowest_threshold = event.threshold_days
    if is_new:  # a new step: a new acknowledgement and escalation cycle
        state.last_kind, state.last_alert_at = event.kind.value, at
        state.acknowledged_at = state.acknowledged_by = state.escalated_at = None
    elif state.last_alert_at is not None and at > state.last_alert_at:
        state.escalated_at = state.escalated_at or at  # sent again: only escalations do
    session.add(state)
    session.flush()
