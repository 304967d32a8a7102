"""`certmgr check` exit codes, an alert e-mail through a real SMTP server, metrics over
HTTP, `alerts list/ack`, `jobs run`."""

from __future__ import annotations

import datetime as dt
import json
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from prometheus_client import generate_latest, start_http_server
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlmodel import col, select

from certmgr import jobs
from certmgr.config import Settings
from certmgr.metrics import make_registry
from certmgr.store.enums import MailboxStatus
from certmgr.store.models import Crl, Mailbox, ValidationRun
from certmgr.store.models_alerts import JobRun
from certmgr.store.session import Store

from .conftest import (
    CONTACT,
    MAILBOX,
    NOT_AFTER,
    START,
    Invoke,
    RecordingChannel,
    add_crl,
    seed,
)


def _set_status(store: Store, status: MailboxStatus) -> None:
    with store.transaction() as session:
        session.execute(update(Mailbox).values(status=status, days_left=10))


@pytest.mark.parametrize(("status", "code", "word"), [
    (MailboxStatus.OK, 0, "OK"), (MailboxStatus.NO_CERTIFICATE, 0, "OK"),
    (MailboxStatus.RENEW_SOON, 1, "WARNING"), (MailboxStatus.CRITICAL, 2, "CRITICAL"),
    (MailboxStatus.EXPIRED, 2, "CRITICAL"), (MailboxStatus.REVOKED, 2, "CRITICAL"),
    (MailboxStatus.INVALID, 2, "CRITICAL"),
])
def test_check_exit_codes(cli: Invoke, store: Store, status: MailboxStatus, code: int,
                          word: str) -> None:
    seed(store)
    _set_status(store, status)
    outcome = cli("check")
    assert outcome.code == code, outcome
    first, *details = outcome.out.splitlines()
    assert first.startswith(f"CERTMGR {word} - 1 mailboxes: 1 {status}")
    if code:
        assert details == [f"{word}: {MAILBOX} {status} (10 days left)"]
    as_json = json.loads(cli("check", "--json").out)
    assert (as_json["code"], as_json["state"]) == (code, word)


def test_check_crl_near_and_past_next_update(cli: Invoke, store: Store) -> None:
    seed(store)
    _set_status(store, MailboxStatus.OK)
    now = dt.datetime.now(dt.UTC)
    add_crl(store, now + dt.timedelta(hours=5))
    near = cli("check")
    assert near.code == 1
    assert "WARNING: CRL next update" in near.out
    with store.transaction() as session:
        session.execute(update(Crl).values(next_update=now - dt.timedelta(hours=1)))
    stale = cli("check")
    assert stale.code == 2
    assert "CRITICAL: CRL stale since" in stale.out


def test_check_unknown_when_the_store_cannot_be_read(cli: Invoke, settings: Settings) -> None:
    settings.home.mkdir(parents=True)
    (settings.home / "certmgr.sqlite3").write_bytes(b"this is not a database" * 100)
    outcome = cli("check")
    assert outcome.code == 3
    assert outcome.out.startswith("CERTMGR UNKNOWN - ")
    assert len(outcome.out.splitlines()) == 1


# ----------------------------------------------------------------------------- SMTP


@dataclass
class _Inbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
            self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[_Inbox, int]]:
    handler = _Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_an_alert_email_reaches_a_real_smtp_server(settings: Settings, store: Store,
                                                   inbox: tuple[_Inbox, int]) -> None:
    handler, port = inbox
    settings.config_file.write_text(
        f'[alerts]\nlang = "en"\n[smtp]\nhost = "127.0.0.1"\nport = {port}\n'
        'security = "none"\nsender = "certmgr@example.org"\n', encoding="utf-8")
    from certmgr.config import load_settings  # noqa: PLC0415

    configured = load_settings(home=settings.home)
    seed(store)
    for day in (10, 11):
        jobs.alerts(configured, now=START + dt.timedelta(days=day))
    assert len(handler.messages) == 1
    mail = handler.messages[0]
    assert mail["To"] == CONTACT
    assert MAILBOX in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert mail["Subject"].endswith("certificate expires in 116 days")


# -------------------------------------------------------------------------- metrics


def test_metrics_scraped_over_http(store: Store) -> None:
    seed(store)
    _set_status(store, MailboxStatus.RENEW_SOON)
    with store.transaction() as session:
        session.add(JobRun(job="scan", started_at=START, ok=False, error="x", details={}))
    from certmgr.services.alerts import dispatch, evaluate_alerts  # noqa: PLC0415

    at = START + dt.timedelta(days=10)
    dispatch(store=store, channels=[RecordingChannel()], at=at,
             events=evaluate_alerts(store=store, at=at, thresholds=(120,)))
    port = _free_port()
    server, _thread = start_http_server(port, "127.0.0.1", registry=make_registry(store))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            body = reply.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body) for s in family.samples}
    assert samples[("certmgr_store_up", ())] == 1
    key = (("mailbox", MAILBOX), ("serial", "0001"), ("structure", "Clinique 1"))
    assert samples[("certmgr_certificate_not_after_timestamp_seconds", key)] == \
        NOT_AFTER.timestamp()
    assert samples[("certmgr_mailboxes", (("status", "RENEW_SOON"),))] == 1
    assert samples[("certmgr_mailboxes", (("status", "OK"),))] == 0
    assert samples[("certmgr_job_failures_total", (("job", "scan"),))] == 1
    assert samples[("certmgr_alerts_sent_total", (("channel", "record"),))] == 1


# ----------------------------------------------------------------------- alerts CLI


def test_alerts_list_and_ack(cli: Invoke, store: Store) -> None:
    seed(store)
    from certmgr.services.alerts import dispatch, evaluate_alerts  # noqa: PLC0415

    at = START + dt.timedelta(days=10)
    dispatch(store=store, channels=[RecordingChannel()], at=at,
             events=evaluate_alerts(store=store, at=at, thresholds=(120,)))
    listed = json.loads(cli("alerts", "list", "--json").out)["alerts"]
    assert [(a["kind"], a["recipient"], a["threshold"]) for a in listed] == [
        ("expiry_threshold", CONTACT, 120)]
    acked = cli("alerts", "ack", str(listed[0]["id"]), "--until", "2026-03-01")
    assert acked.code == 0, acked
    assert "snoozed until 2026-03-01" in acked.out
    [shown] = json.loads(cli("alerts", "list", "--json").out)["alerts"]
    assert shown["acknowledged_by"]
    assert shown["snoozed_until"].startswith("2026-03-01T00:00:00")
    assert "[acknowledged by " in cli("alerts", "list").out
    assert cli("alerts", "ack", "999").code == 2


def test_jobs_run_and_list(cli: Invoke, store: Store, settings: Settings) -> None:
    assert store.url
    assert settings.home
    ran = cli("jobs", "run", "heartbeat", "--json")
    assert ran.code == 0, ran
    assert json.loads(ran.out)["ok"] is True
    listed = json.loads(cli("jobs", "--json").out)["jobs"]
    assert {j["job"]: j["last_ok"] for j in listed}["heartbeat"] is True
    assert cli("jobs", "run", "nope").code == 2


def test_alerts_test_through_the_log_channel(cli: Invoke, store: Store) -> None:
    assert store.url
    outcome = cli("alerts", "test", "--channel", "log", "--to", "ops@example.org")
    assert outcome.code == 0, outcome
    assert "log: sent ops@example.org" in outcome.out


def test_config_paths_are_relative_to_home(tmp_path: Path) -> None:
    from certmgr.services.alert_channels import build_channels  # noqa: PLC0415

    settings = Settings(home=tmp_path, db_url="sqlite://", extra={"smtp": {"host": "h"}})
    with pytest.raises(Exception, match=r"\[smtp\]"):
        build_channels(settings, now=lambda: START)


def test_crl_and_scan_metrics(settings: Settings, store: Store) -> None:
    seed(store)
    next_update = START + dt.timedelta(days=3)
    add_crl(store, next_update)
    jobs.scan(settings, now=START + dt.timedelta(hours=1))
    with store.sessions() as session:
        run = session.scalars(select(ValidationRun).where(
            col(ValidationRun.trigger) == "scan")).one()
    assert run.finished_at is not None
    text = generate_latest(make_registry(store)).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    issuer = (("issuer", "CN=AC TEST"),)
    assert samples[("certmgr_crl_next_update_timestamp_seconds", issuer)] == \
        next_update.timestamp()
    assert samples[("certmgr_crl_last_fetch_success_timestamp_seconds", issuer)] == \
        START.timestamp()
    assert samples[("certmgr_last_scan_timestamp_seconds", ())] == run.finished_at.timestamp()
    assert samples[("certmgr_last_scan_duration_seconds", ())] == \
        (run.finished_at - run.started_at).total_seconds()
