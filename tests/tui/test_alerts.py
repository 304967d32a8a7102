"""The alerts screen: pending (due, not sent yet), sent, acknowledged; acknowledging and
snoozing until a date write what `certmgr alerts ack ID [--until DATE]` writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import col, select
from textual.widgets import DataTable, Input

from certmgr.cli import main
from certmgr.config import Settings
from certmgr.jobs import run_job
from certmgr.services.alerts import evaluate_alerts
from certmgr.store.models import AuditEvent, Certificate
from certmgr.store.models_alerts import AlertSent, AlertState
from certmgr.store.session import Store
from tui.app import CertmgrApp
from tui.screens.activity import AlertsScreen, JobsScreen
from tui.screens.modals import ConfirmScreen, SnoozeForm

from .conftest import ACTOR, AT, current_fingerprint
from .screen_text import errors, notes, screen_text, settle

SIZE = (120, 36)
LABO = "labo@biolab-lyon.mssante.fr"
RADIO = "radio@imagerie-nantes.mssante.fr"
URGENCES = "urgences@chu-exemple.mssante.fr"
UNTIL = dt.datetime(2025, 6, 15, tzinfo=dt.UTC)


def with_admin(settings: Settings) -> Settings:
    """Someone to tell: the alerts job sends nothing to a mailbox without recipients."""
    settings.extra["admins"] = ["ops@example.org"]
    return settings


def acked(store: Store, address: str) -> tuple[object, ...]:
    """(acknowledged_at, acknowledged_by, snoozed_until) of the mailbox's certificate."""
    fingerprint = current_fingerprint(store, address)
    with store.sessions() as session:
        state = session.scalars(select(AlertState).join(
            Certificate, col(Certificate.id) == col(AlertState.certificate_id)).where(
            col(Certificate.fingerprint_sha256) == fingerprint)).first()
    assert state is not None  # the alerts job noted what it sent
    return state.acknowledged_at, state.acknowledged_by, state.snoozed_until


def sent_ids(store: Store) -> dict[str, int]:
    with store.sessions() as session:
        return {row.mailbox or "": row.id or 0 for row in session.scalars(select(AlertSent))}


async def select_row(screen: AlertsScreen, address: str) -> None:
    index = next(i for i, r in enumerate(screen.shown) if r.mailbox == address)
    screen.query_one(DataTable).move_cursor(row=index)


@pytest.mark.asyncio
async def test_pending_are_the_due_alerts_until_the_alerts_job_sends_them(
        app: CertmgrApp, seeded: Store, settings: Settings) -> None:
    with_admin(settings)
    due = evaluate_alerts(store=seeded, at=AT, thresholds=settings.alert_thresholds)
    assert {e.mailbox for e in due} >= {LABO, RADIO, URGENCES}
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        assert sorted((r.mailbox, r.kind, r.id, r.state) for r in screen.rows) == sorted(
            (e.mailbox, e.kind.value, None, "pending") for e in due)
        assert f"{len(due)} pending  0 sent  0 failed  0 acknowledged" in screen_text(app)
        await pilot.press("k")  # a pending alert: nothing to acknowledge yet
        await pilot.pause()
        assert isinstance(app.screen, AlertsScreen)  # no confirmation: nothing to confirm
        assert any("not sent yet" in n for n in notes(app))
        assert sent_ids(seeded) == {}
        await pilot.press("j")
        await settle(app, pilot)
        jobs = app.screen_stack[-1]
        assert isinstance(jobs, JobsScreen)
        jobs.query_one(DataTable).move_cursor(row=[r.name for r in jobs.rows].index("alerts"))
        await pilot.press("n")
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        assert {r.state for r in screen.rows} == {"sent"}
        assert f"0 pending  {len(due)} sent" in screen_text(app)
        assert not errors(app)
    assert set(sent_ids(seeded)) == {e.mailbox for e in due}


@pytest.mark.asyncio
async def test_acknowledge_and_snooze_write_what_the_cli_writes(
        app: CertmgrApp, seeded: Store, settings: Settings) -> None:
    run_job("alerts", with_admin(settings), now=AT)
    ids = sent_ids(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        await select_row(screen, RADIO)
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # No: nothing is written
        await settle(app, pilot)
        assert acked(seeded, RADIO) == (None, None, None)
        await pilot.press("k", "y")
        await settle(app, pilot)
        assert acked(seeded, RADIO) == (AT, ACTOR, None)

        await select_row(screen, LABO)
        await pilot.press("z")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, SnoozeForm)
        field = form.query_one("#until", Input)
        assert field.value == "2025-06-08"  # a week from now, ready to accept
        for typed, problem in (("tomorrow", "not an ISO 8601 date or datetime"),
                               ("2025-05-01", "not in the future")):
            field.value = ""
            await pilot.press(*typed, "enter")
            await pilot.pause()
            assert app.screen is form
            assert problem in screen_text(app)
        assert acked(seeded, LABO) == (None, None, None)
        field.value = ""
        await pilot.press(*"2025-06-15")
        await pilot.pause()
        assert "until 2025-06-15 00:00 UTC (in 13 d)" in screen_text(app)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, AlertsScreen)
        assert "snoozed until 2025-06-15" in screen_text(app)
        assert any(n == f"Alert {ids[LABO]} acknowledged, snoozed until 2025-06-15 00:00 UTC"
                   for n in notes(app))
        await pilot.press("f", "f", "f", "f")  # all -> pending -> sent -> failed -> acked
        assert screen.state_filter == "acknowledged"
        assert {r.mailbox for r in screen.shown} == {RADIO, LABO}
        assert not errors(app)
    assert acked(seeded, LABO) == (AT, ACTOR, UNTIL)

    result = CliRunner().invoke(main, ["--home", str(settings.home), "--db", settings.db_url,
                                       "alerts", "ack", str(ids[URGENCES]), "--until",
                                       "2025-06-15"], standalone_mode=False,
                                catch_exceptions=False)
    assert result.return_value == 0
    assert acked(seeded, URGENCES)[2] == UNTIL  # the same instant from the same text
    with seeded.sessions() as session:
        events = session.scalars(select(AuditEvent).where(
            col(AuditEvent.action) == "alert.acknowledged").order_by(col(AuditEvent.id))).all()
    def said(event: AuditEvent) -> tuple[str, Any, Any]:
        return event.actor, event.details["alert_id"], event.details["until"]

    assert [said(e) for e in events] == [(ACTOR, ids[RADIO], None),
                                         (ACTOR, ids[LABO], UNTIL.isoformat()),
                                         (events[2].actor, ids[URGENCES], UNTIL.isoformat())]
    # The console writes the same details as the CLI, whatever they hold.
    assert set(events[1].details) == set(events[2].details)
