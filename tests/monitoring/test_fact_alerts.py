"""Alerts that are not a certificate's (CRL stale, order pending, probe failing, job
failing): `certmgr alerts ack ID [--until DATE]` acknowledges and snoozes them, and they
escalate to the second contact list after N days without acknowledgement; a job failing
run after run is one alert per failing streak."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlmodel import col, select

from certmgr import jobs
from certmgr.channels.base import Message
from certmgr.config import Settings
from certmgr.services.alert_events import AlertKind
from certmgr.services.alert_log import list_sent
from certmgr.services.alerts import evaluate_alerts
from certmgr.services.console_queries import alert_rows, unacknowledged
from certmgr.store.models import AuditEvent
from certmgr.store.models_alerts import JobRun
from certmgr.store.models_probes import ProbeResult
from certmgr.store.session import Store

from .conftest import START, Invoke, RecordingChannel, add_crl, add_order, seed

DAY = dt.timedelta(days=1)
ADMIN, BOSS = "ops@example.org", "boss@example.org"


def _failed_job(store: Store, at: dt.datetime, *, ok: bool = False) -> None:
    with store.transaction() as session:
        session.add(JobRun(job="crl_refresh", started_at=at, finished_at=at, ok=ok,
                           error=None if ok else f"timeout at {at:%d %H:%M}", details={}))


def _failed_probe(store: Store, at: dt.datetime) -> None:
    with store.transaction() as session:
        session.add(ProbeResult(mailbox_id=1, at=at, host="mx.operateur.fr", port=587,
                                starttls="smtp", ok=False, status="CRITICAL",
                                codes=["TLS_TIMEOUT"], error="TLS_TIMEOUT: timed out"))


def _pending_order(store: Store, at: dt.datetime) -> None:
    add_order(store, ordered_at=at - 20 * DAY)


# Each kind: how to make it hold at an instant (called again each day: a job or a probe
# keeps failing; a stale CRL and a pending order hold by themselves).
Setup = Callable[[Store, dt.datetime], None]
KINDS: dict[AlertKind, Setup] = {
    AlertKind.CRL_STALE: lambda store, at: None,
    AlertKind.ORDER_PENDING: lambda store, at: None,
    AlertKind.PROBE_FAILED: _failed_probe,
    AlertKind.JOB_FAILED: _failed_job,
}
FIRST: dict[AlertKind, Setup] = {
    AlertKind.CRL_STALE: lambda store, at: add_crl(store, at - dt.timedelta(hours=1)),
    AlertKind.ORDER_PENDING: _pending_order,
    AlertKind.PROBE_FAILED: _failed_probe,
    AlertKind.JOB_FAILED: _failed_job,
}


class Scenario:
    """One alert of `kind` told on day 0 through a recording channel; `day(n)` makes it
    still hold on day n and runs the alerts job."""

    def __init__(self, kind: AlertKind, settings: Settings, store: Store) -> None:
        self.kind, self.store, self.channel = kind, store, RecordingChannel()
        self.settings = replace(settings, extra={
            "admins": [ADMIN], "escalation_contacts": [BOSS], "escalate_after_days": 3})
        seed(store)
        FIRST[kind](store, START)
        self.day(0)

    def day(self, n: int) -> None:
        at = START + n * DAY
        if n:
            KINDS[self.kind](self.store, at)
        jobs.alerts(self.settings, now=at + dt.timedelta(minutes=5), channels=[self.channel])

    def told(self) -> list[str]:
        return [r for m in self.channel.sent if m.data["kind"] == self.kind
                for r in m.recipients]

    def alert_id(self) -> int:
        return next(s.id for s in list_sent(store=self.store) if s.kind == self.kind)

    def holds(self, n: int) -> bool:
        events = evaluate_alerts(store=self.store, at=START + n * DAY + dt.timedelta(minutes=5),
                                 thresholds=())
        return any(e.kind == self.kind for e in events)


@pytest.mark.parametrize("kind", list(KINDS))
def test_escalates_after_n_days_without_acknowledgement(kind: AlertKind, settings: Settings,
                                                        store: Store) -> None:
    scenario = Scenario(kind, settings, store)
    assert ADMIN in scenario.told()
    assert BOSS not in scenario.told()
    first = len(scenario.told())
    scenario.day(2)
    assert len(scenario.told()) == first  # still the same fact: told once
    scenario.day(3)  # three days without acknowledgement
    assert scenario.told()[first:] == [BOSS]
    scenario.day(4)
    assert scenario.told()[first:] == [BOSS]  # escalated once


@pytest.mark.parametrize("kind", list(KINDS))
def test_acknowledged_it_does_not_escalate(kind: AlertKind, settings: Settings, store: Store,
                                           cli: Invoke) -> None:
    scenario = Scenario(kind, settings, store)

    def console_states() -> tuple[set[str], int]:  # what the TUI's Alerts screen shows
        rows = [r for r in alert_rows(store) if r.kind == kind.value]
        return {r.state for r in rows}, len(unacknowledged(rows))

    assert console_states() == ({"sent"}, 1)
    acked = cli("alerts", "ack", str(scenario.alert_id()), "--json")
    assert acked.code == 0, acked
    assert console_states() == ({"acknowledged"}, 0)
    answer = json.loads(acked.out)
    assert (answer["kind"], answer["certificate"]) == (kind.value, None)
    scenario.day(3)
    scenario.day(4)
    assert BOSS not in scenario.told()
    assert scenario.holds(4)  # acknowledged is not snoozed: still in the digest
    with store.sessions() as session:
        [event] = session.scalars(select(AuditEvent).where(
            col(AuditEvent.action) == "alert.acknowledged")).all()
    assert (event.object_type, event.details["kind"]) == ("alert", kind.value)


@pytest.mark.parametrize("kind", list(KINDS))
def test_snoozed_it_is_held_until_the_date(kind: AlertKind, settings: Settings, store: Store,
                                           cli: Invoke) -> None:
    scenario = Scenario(kind, settings, store)
    until = START + 5 * DAY
    acked = cli("alerts", "ack", str(scenario.alert_id()), "--until", until.isoformat())
    assert acked.code == 0, acked
    assert f"snoozed until {until:%Y-%m-%d %H:%M}Z" in acked.out
    listed = {a["id"]: a for a in json.loads(cli("alerts", "list", "--json").out)["alerts"]}
    shown = listed[scenario.alert_id()]
    assert dt.datetime.fromisoformat(shown["snoozed_until"]) == until
    assert shown["acknowledged_by"]
    scenario.day(3)
    assert not scenario.holds(4)
    digest = RecordingChannel()
    jobs.digest(scenario.settings, now=START + 4 * DAY, channels=[digest])
    assert digest.sent == []  # it was the only alert: no digest at all
    scenario.day(6)
    assert scenario.holds(6)  # back once the date passed, and still not escalated
    assert BOSS not in scenario.told()
    jobs.digest(scenario.settings, now=START + 6 * DAY, channels=[digest])
    assert ADMIN in [r for m in digest.sent for r in m.recipients]


def _job_error(message: Message) -> object:
    job = message.data["job"]
    assert isinstance(job, dict)
    return job["error"]


def test_a_job_failing_run_after_run_is_one_alert_per_streak(settings: Settings,
                                                             store: Store) -> None:
    channel = RecordingChannel()
    admin = replace(settings, extra={"admins": [ADMIN]})

    def run(hours: int, *, ok: bool) -> None:
        at = START + dt.timedelta(hours=hours)
        _failed_job(store, at, ok=ok)
        jobs.alerts(admin, now=at + dt.timedelta(minutes=5), channels=[channel])

    for hour in range(5):
        run(hour, ok=False)
    [first] = channel.sent
    assert _job_error(first) == "timeout at 05 07:30"  # the error when it was told
    assert first.data["at"] == START.isoformat().replace("+00:00", "Z")
    run(5, ok=True)
    run(6, ok=False)  # fails again after a success: a new alert, with its own error
    assert [_job_error(m) for m in channel.sent] == ["timeout at 05 07:30",
                                                              "timeout at 05 13:30"]
    # the job is still failing two days later: the same streak, nothing new
    run(50, ok=False)
    assert len(channel.sent) == 2
