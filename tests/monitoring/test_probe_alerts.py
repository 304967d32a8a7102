"""PROBE_FAILED: a mailbox whose stored probes went from ok to failing is told once per
failing streak, with its endpoint, the probe's findings and what to do next; a recovery
then a new failure is a new alert; the digest lists it. (The probes themselves, against
real TLS servers, are in tests/probe.)"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import select, update

from certmgr import jobs
from certmgr.config import Settings
from certmgr.services.alert_events import AlertEvent, AlertFinding, AlertKind
from certmgr.services.alert_log import acknowledge_alert, list_sent
from certmgr.services.alerts import evaluate_alerts
from certmgr.services.messages import LANGUAGES, render
from certmgr.services.status import days_left
from certmgr.store.models import Mailbox
from certmgr.store.models_alerts import AlertSent, AlertState
from certmgr.store.models_probes import ProbeResult
from certmgr.store.session import Store

from .conftest import CONTACT, MAILBOX, NOT_AFTER, START, RecordingChannel, seed

HOUR = dt.timedelta(hours=1)
ENDPOINT = "mx.operateur.fr:587"
REFUSED = "TLS_CONNECT_REFUSED: Connection refused (stage: connect)."


def _probe(store: Store, at: dt.datetime, *, ok: bool, error: str | None = REFUSED,
           codes: tuple[str, ...] = ("TLS_CONNECT_REFUSED",)) -> None:
    """A stored probe of the seeded mailbox (id 1), as `record_probe` leaves it."""
    with store.transaction() as session:
        session.add(ProbeResult(mailbox_id=1, at=at, host="mx.operateur.fr", port=587,
                                starttls="smtp", ok=ok, status="OK" if ok else "CRITICAL",
                                codes=[] if ok else list(codes), error=None if ok else error))


def _probe_alerts(channel: RecordingChannel) -> list[str]:
    return [m.dedup_key or "" for m in channel.sent if m.data["kind"] == AlertKind.PROBE_FAILED]


def test_one_alert_per_failing_streak(settings: Settings, store: Store) -> None:
    seed(store)
    channel = RecordingChannel()
    now = START

    def probe_then_alert(*, ok: bool) -> None:
        nonlocal now
        now += HOUR
        _probe(store, now, ok=ok)
        jobs.alerts(settings, now=now + dt.timedelta(minutes=5), channels=[channel])

    probe_then_alert(ok=True)
    assert _probe_alerts(channel) == []
    probe_then_alert(ok=False)
    [first] = _probe_alerts(channel)
    probe_then_alert(ok=False)  # still failing: already told
    probe_then_alert(ok=False)
    assert _probe_alerts(channel) == [first]
    probe_then_alert(ok=True)  # recovers: nothing to tell
    assert _probe_alerts(channel) == [first]
    probe_then_alert(ok=False)  # fails again: a new streak, a new alert
    assert len(_probe_alerts(channel)) == 2
    assert _probe_alerts(channel)[1] != first
    assert all(m.recipients == (CONTACT,) for m in channel.sent)


def test_a_first_probe_that_fails_is_a_streak(store: Store) -> None:
    seed(store)
    _probe(store, START, ok=False)
    _probe(store, START + HOUR, ok=False)
    [event] = evaluate_alerts(store=store, at=START + 2 * HOUR, thresholds=())
    assert (event.kind, event.at) == (AlertKind.PROBE_FAILED, START)  # the streak's start


def test_the_event_names_the_endpoint_the_findings_and_the_certificate(store: Store) -> None:
    seed(store)
    _probe(store, START, ok=True)
    _probe(store, START + HOUR, ok=False,
           codes=("TLS_CONNECT_REFUSED", "REVOCATION_NOT_CHECKED"))
    at = START + 2 * HOUR
    [event] = evaluate_alerts(store=store, at=at, thresholds=())
    assert event.kind is AlertKind.PROBE_FAILED
    assert (event.mailbox, event.endpoint, event.probe_status) == (MAILBOX, ENDPOINT,
                                                                   "CRITICAL")
    assert event.findings == (
        AlertFinding("TLS_CONNECT_REFUSED", "Connection refused (stage: connect)."),
        AlertFinding("REVOCATION_NOT_CHECKED", ""))
    assert (event.structure_name, event.serial, event.not_after) == ("Clinique 1", "0001",
                                                                     NOT_AFTER)
    assert event.days_left == days_left(NOT_AFTER, at=at)  # as the certificate alerts count
    assert event.fingerprint is None  # not a certificate alert: nothing to acknowledge
    # evaluated again later in the same streak: the same fact, the same key
    [later] = evaluate_alerts(store=store, at=at + 10 * HOUR, thresholds=())
    assert later.dedup_key == event.dedup_key
    assert later.dedup_key.startswith("probe_failed-")
    assert event.to_json()["probe"] == {"endpoint": ENDPOINT, "status": "CRITICAL"}


def test_an_archived_mailbox_is_silent(store: Store) -> None:
    seed(store)
    _probe(store, START, ok=False)
    with store.transaction() as session:
        session.execute(update(Mailbox).values(archived=True))
    assert evaluate_alerts(store=store, at=START + HOUR, thresholds=()) == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_message_says_what_failed_and_what_to_do(store: Store, lang: str) -> None:
    seed(store)
    _probe(store, START, ok=False)
    [event] = evaluate_alerts(store=store, at=START + HOUR, thresholds=())
    message = render(event, lang=lang)
    assert MAILBOX in message.subject
    assert ENDPOINT in message.subject
    assert message.html is not None
    for body in (message.text, message.html):
        assert ENDPOINT in body
        assert "CRITICAL" in body
        assert "TLS_CONNECT_REFUSED: Connection refused (stage: connect)." in body
        assert "Clinique 1 (300000000000001)" in body  # the structure, idNatStruct
        assert f"certmgr probe --mailbox {MAILBOX}" in body
        assert {"fr": "certmgr probe HÔTE:PORT", "en": "certmgr probe HOST:PORT"}[lang] in body
        assert "CLIENT_CERT_REJECTED" in body  # the step for a refused certificate


def test_the_digest_lists_the_failing_probe(settings: Settings, store: Store) -> None:
    seed(store)
    _probe(store, START, ok=False)
    channel = RecordingChannel()
    jobs.digest(settings, now=START + HOUR, channels=[channel])
    [digest] = channel.sent
    assert digest.recipients == (CONTACT,)
    assert f"{MAILBOX} : la connexion à {ENDPOINT} échoue" in digest.text
    assert "TLS_CONNECT_REFUSED" in digest.text


def test_a_probe_alert_is_acknowledged_as_a_fact_not_as_the_certificate(
        settings: Settings, store: Store) -> None:
    seed(store)
    _probe(store, START, ok=False)
    jobs.alerts(replace(settings, extra={"admins": ["ops@example.org"]}), now=START + HOUR,
                channels=[RecordingChannel()])
    [sent, *_] = list_sent(store=store)
    assert sent.kind == AlertKind.PROBE_FAILED
    done = acknowledge_alert(store=store, alert_id=sent.id, at=START + 2 * HOUR, actor="alice",
                             until=START + 3 * HOUR)
    assert (done.certificate, done.dedup_key) == (None, sent_key(store, sent.id))
    with store.sessions() as session:  # the mailbox's certificate is not acknowledged
        assert session.scalars(select(AlertState)).all() == []
    assert evaluate_alerts(store=store, at=START + 2 * HOUR, thresholds=()) == []
    assert [e.kind for e in evaluate_alerts(store=store, at=START + 4 * HOUR, thresholds=())
            ] == [AlertKind.PROBE_FAILED]


def sent_key(store: Store, alert_id: int) -> str:
    with store.sessions() as session:
        row = session.get(AlertSent, alert_id)
        assert row is not None
        return row.dedup_key


def test_a_probe_alert_needs_its_endpoint_and_a_finding() -> None:
    base: dict[str, object] = {"kind": AlertKind.PROBE_FAILED, "at": START, "mailbox": MAILBOX,
                               "endpoint": ENDPOINT, "probe_status": "CRITICAL"}
    with pytest.raises(ValueError, match="at least one finding"):
        AlertEvent(**base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="endpoint"):
        AlertEvent(**{**base, "endpoint": None,  # type: ignore[arg-type]
                      "findings": (AlertFinding("TLS_TIMEOUT", "timed out"),)})
