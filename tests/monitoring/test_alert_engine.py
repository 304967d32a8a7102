"""The alert engine over 130 days: each threshold once, skipped days, restarts, silence
of superseded certificates, acknowledgement, escalation, failures retried."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from certmgr import jobs
from certmgr.config import DEFAULT_ALERT_THRESHOLDS, Settings
from certmgr.services.alert_events import AlertKind
from certmgr.services.alert_log import acknowledge, list_sent
from certmgr.services.alerts import AlertPolicy, dispatch, evaluate_alerts
from certmgr.store.enums import BindingRole, MailboxStatus
from certmgr.store.models import (
    Binding,
    Mailbox,
    ValidationRun,
)
from certmgr.store.models import ValidationResult as ResultRow
from certmgr.store.models_alerts import AlertSent, AlertState, JobRun
from certmgr.store.session import Store, open_store

from .conftest import CONTACT, START, RecordingChannel, add_order, seed

DAY = dt.timedelta(days=1)


def _thresholds(channel: RecordingChannel) -> list[int | None]:
    return [m.data["threshold_days"] for m in channel.sent  # type: ignore[misc]
            if m.data["kind"] == AlertKind.EXPIRY_THRESHOLD]


def _kinds(channel: RecordingChannel) -> list[object]:
    return [m.data["kind"] for m in channel.sent]


def test_every_threshold_once_over_130_days(settings: Settings, store: Store) -> None:
    seed(store)
    channel = RecordingChannel()
    for day in range(131):
        jobs.alerts(settings, now=START + day * DAY, channels=[channel])
    assert _thresholds(channel) == list(DEFAULT_ALERT_THRESHOLDS)
    assert _kinds(channel).count(AlertKind.EXPIRED) == 1
    assert all(m.recipients == (CONTACT,) for m in channel.sent)
    with store.sessions() as session:
        state = session.scalars(select(AlertState)).one()
        assert state.lowest_threshold == 1
        runs = session.scalar(select(func.count()).select_from(JobRun)
                              .where(col(JobRun.ok).is_(True)))
    assert runs == 131


def test_skipped_days_send_the_lowest_crossed_threshold_once(settings: Settings,
                                                             store: Store) -> None:
    seed(store)
    channel = RecordingChannel()
    # days left 126, 85 (-> 90), 40 (-> 60), 10 (-> 14: 30 passed silently), 9, 0.5 (-> 1)
    for day in (0, 41, 86, 116, 117, 125):
        jobs.alerts(settings, now=START + day * DAY, channels=[channel])
    assert _thresholds(channel) == [90, 60, 14, 1]


def test_a_restart_neither_loses_nor_repeats(settings: Settings, store: Store) -> None:
    seed(store)
    first = RecordingChannel()
    for day in range(60):
        jobs.alerts(settings, now=START + day * DAY, channels=[first])
    store.close()
    second = RecordingChannel()
    with open_store(settings) as reopened:  # a new process: nothing kept in memory
        assert reopened.url
        for day in range(55, 131, 3):
            jobs.alerts(settings, now=START + day * DAY, channels=[second])
    assert _thresholds(first) == [120, 90]
    # day 124 has 2 days left (3-day alert), day 127 is past notAfter: EXPIRED, not 1
    assert _thresholds(second) == [60, 30, 14, 7, 3]
    assert _kinds(second)[-1] == AlertKind.EXPIRED


def test_superseded_certificate_is_silent(settings: Settings, store: Store) -> None:
    cert_id = seed(store)
    with store.transaction() as session:
        session.execute(update(Binding).where(col(Binding.certificate_id) == cert_id)
                        .values(role=BindingRole.PREVIOUS))
    assert evaluate_alerts(store=store, at=START + 124 * DAY,
                           thresholds=DEFAULT_ALERT_THRESHOLDS) == []


def test_database_refuses_a_duplicate(store: Store) -> None:
    seed(store)
    channel = RecordingChannel()
    events = evaluate_alerts(store=store, at=START + 10 * DAY, thresholds=(120,))
    dispatch(store=store, channels=[channel], events=events, at=START + 10 * DAY)
    row = list_sent(store=store)[0]
    with pytest.raises(IntegrityError), store.transaction() as session:
        session.add(AlertSent(dedup_key=events[0].dedup_key, recipient=row.recipient,
                              channel=row.channel, kind="expiry_threshold",
                              sent_at=START, status="sent"))


def test_failed_send_is_retried_then_sent_once(store: Store) -> None:
    seed(store)
    at = START + 10 * DAY
    events = evaluate_alerts(store=store, at=at, thresholds=(120,))
    broken = RecordingChannel(fail=True)
    report = dispatch(store=store, channels=[broken], events=events, at=at)
    assert (report.sent, report.failed) == (0, 1)
    assert list_sent(store=store)[0].status == "failed"
    healed = RecordingChannel()
    assert dispatch(store=store, channels=[healed], events=events, at=at + DAY).sent == 1
    assert dispatch(store=store, channels=[healed], events=events, at=at + DAY).skipped == 1
    assert len(healed.sent) == 1


def test_escalation_after_n_days_unless_acknowledged(store: Store) -> None:
    seed(store)
    policy = AlertPolicy(admins=("ops@example.org",), escalation_contacts=("boss@example.org",),
                         escalate_after_days=3)
    channel = RecordingChannel()

    def run(day: int) -> None:
        at = START + day * DAY
        events = evaluate_alerts(store=store, at=at, thresholds=DEFAULT_ALERT_THRESHOLDS)
        dispatch(store=store, channels=[channel], events=events, at=at, policy=policy)

    run(10)  # 120-day alert to the contact and the admin
    assert sorted(m.recipients[0] for m in channel.sent) == [CONTACT, "ops@example.org"]
    run(12)
    assert len(channel.sent) == 2
    run(13)  # 3 days without acknowledgement
    assert channel.sent[-1].recipients == ("boss@example.org",)
    run(14)
    assert len(channel.sent) == 3
    run(40)  # 90-day threshold: a new cycle; acknowledge it this time
    alert_id = list_sent(store=store)[0].id
    acknowledge(store=store, alert_id=alert_id, at=START + 41 * DAY, actor="alice")
    run(50)
    assert [m.recipients[0] for m in channel.sent[3:]].count("boss@example.org") == 0


def test_snooze_holds_alerts_until_the_date(store: Store) -> None:
    seed(store)
    channel = RecordingChannel()
    at = START + 10 * DAY
    dispatch(store=store, channels=[channel], at=at,
             events=evaluate_alerts(store=store, at=at, thresholds=DEFAULT_ALERT_THRESHOLDS))
    acknowledge(store=store, alert_id=list_sent(store=store)[0].id, at=at, actor="alice",
                until=START + 50 * DAY)
    assert evaluate_alerts(store=store, at=START + 40 * DAY,
                           thresholds=DEFAULT_ALERT_THRESHOLDS) == []
    after = evaluate_alerts(store=store, at=START + 51 * DAY,
                            thresholds=DEFAULT_ALERT_THRESHOLDS)
    assert [e.threshold_days for e in after] == [90]


def test_crl_stale_and_job_failed_events(settings: Settings, store: Store) -> None:
    with store.transaction() as session:
        session.add(JobRun(job="scan", started_at=START, finished_at=START, ok=False,
                           error="boom", details={}))
    events = evaluate_alerts(store=store, at=START + dt.timedelta(hours=1), thresholds=())
    assert [(e.kind, e.job_name) for e in events] == [(AlertKind.JOB_FAILED, "scan")]
    channel = RecordingChannel()
    jobs.alerts(make_admin(settings), now=START + dt.timedelta(hours=1), channels=[channel])
    jobs.alerts(make_admin(settings), now=START + dt.timedelta(hours=2), channels=[channel])
    assert _kinds(channel) == [AlertKind.JOB_FAILED]


def make_admin(settings: Settings) -> Settings:
    from dataclasses import replace  # noqa: PLC0415

    return replace(settings, extra={"admins": ["ops@example.org"]})


def test_revoked_and_invalid_from_the_last_scan(store: Store) -> None:
    seed(store)
    at = START + 10 * DAY
    with store.transaction() as session:
        session.execute(update(Mailbox).values(status=MailboxStatus.REVOKED))
    assert [e.kind for e in evaluate_alerts(store=store, at=at, thresholds=())] == [
        AlertKind.REVOKED]
    with store.transaction() as session:
        session.execute(update(Mailbox).values(status=MailboxStatus.INVALID))
        run = ValidationRun(started_at=at, at=at)
        session.add(run)
        session.flush()
        session.add(ResultRow(run_id=run.id or 0, certificate_id=1, mailbox_id=1,
                              checked_at=at, at=at, status="INVALID", valid=False,
                              findings=[{"code": "PATH_UNTRUSTED", "severity": "error",
                                         "message": "no path", "subject": None}]))
    events = evaluate_alerts(store=store, at=at, thresholds=())
    assert [(e.kind, [f.code for f in e.findings]) for e in events] == [
        (AlertKind.CHAIN_INVALID, ["PATH_UNTRUSTED"])]


def test_digest_once_per_recipient_and_day(settings: Settings, store: Store) -> None:
    seed(store)
    seed(store, n=2, address="other@clinique.mssante.fr")
    channel = RecordingChannel()
    at = START + 10 * DAY
    jobs.digest(settings, now=at, channels=[channel])
    jobs.digest(settings, now=at + dt.timedelta(hours=2), channels=[channel])
    assert len(channel.sent) == 1  # both mailboxes share the contact: one digest
    assert channel.sent[0].recipients == (CONTACT,)
    assert "app@clinique.mssante.fr" in channel.sent[0].text
    assert "other@clinique.mssante.fr" in channel.sent[0].text
    jobs.digest(settings, now=at + DAY, channels=[channel])
    assert len(channel.sent) == 2


def test_order_pending_longer_than_n_days(store: Store) -> None:
    seed(store)
    add_order(store, ordered_at=START)
    assert evaluate_alerts(store=store, at=START + 13 * DAY, thresholds=()) == []
    events = evaluate_alerts(store=store, at=START + 15 * DAY, thresholds=())
    assert [(e.kind, e.order_ref, e.pending_days) for e in events] == [
        (AlertKind.ORDER_PENDING, "ANS-42", 15)]


def test_one_admin_given_as_a_string_is_one_recipient(store: Store, settings: Settings,
                                                       ) -> None:
    """`admins = "ops@example.org"` (a string, e.g. in a Settings built in code) is one
    admin, never one recipient per character."""
    seed(store)
    policy = AlertPolicy.from_settings(replace(settings, extra={
        "admins": "ops@example.org", "escalation_contacts": "boss@example.org"}))
    assert (policy.admins, policy.escalation_contacts) == (("ops@example.org",),
                                                           ("boss@example.org",))
    channel = RecordingChannel()
    at = START + 10 * DAY
    dispatch(store=store, channels=[channel], at=at, policy=policy,
             events=evaluate_alerts(store=store, at=at, thresholds=DEFAULT_ALERT_THRESHOLDS))
    assert sorted(m.recipients[0] for m in channel.sent) == [CONTACT, "ops@example.org"]
