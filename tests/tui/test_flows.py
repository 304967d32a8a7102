"""Pilot behaviour tests: keys pressed, workers awaited, screen and database checked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from certmgr.clock import FixedClock
from certmgr.config import Settings
from certmgr.services.console import Console
from certmgr.services.mailboxes import list_mailboxes, show_mailbox
from certmgr.store.session import Store
from tui.app import DARK, LIGHT, CertmgrApp, make_app
from tui.rowtable import RowTable
from tui.screens.detail import MailboxScreen
from tui.screens.help import HelpScreen
from tui.screens.mailboxes import MailboxesScreen

from .conftest import ACTOR, AT, seed_bulk
from .screen_text import screen_text, settle

SIZE = (120, 36)



@pytest.mark.asyncio
async def test_dashboard_shows_counts_crls_and_last_scan(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "7 mailboxes" in text
        assert "Renew soon" in text
        assert "Last scan  2025-06-01 12:00 UTC" in text
        assert "Expiries per month" in text
        assert "CRL freshness" in text


@pytest.mark.asyncio
async def test_dashboard_flags_a_stale_crl(seeded: Store, settings: Settings) -> None:
    later = FixedClock(AT + dt.timedelta(days=1, hours=1))  # past the delta's nextUpdate
    app = make_app(settings=settings, clock=later, console=Console(settings))
    async with app.run_test(size=(120, 90)) as pilot:  # tall enough for every CRL
        await settle(app, pilot)
        text = screen_text(app)
    crls = Console(settings).crl_rows(at=later.now())
    assert [c.delta for c in crls if not c.fresh] == [True]
    lines = [line for line in text.splitlines() if "current CRLs" in line or "next in" in line
             or "STALE" in line]
    # A summary, then one line per issuer's CRL, the stale one first.
    assert f"{len(crls)} current CRLs: {len(crls) - 1} fresh, 1 stale" in lines[0]
    assert "Δ STALE 1 h ago  AC IGC-SANTE ELEMENTAIRE ORGANISATIONS " in lines[1]
    assert len(lines) == 1 + len(crls)
    assert text.count("● next in") == len(crls) - 1


@pytest.mark.asyncio
async def test_mailboxes_filter_quick_filter_and_sort(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("m")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, MailboxesScreen)
        assert screen.query_one(RowTable).row_count == 7
        await pilot.press("4")  # EXPIRED
        assert [r.address for r in screen.shown] == ["urgences@chu-exemple.mssante.fr"]
        await pilot.press("0", "slash", *"chu")
        assert [r.address for r in screen.shown] == ["pharma@chu-exemple.mssante.fr",
                                                     "urgences@chu-exemple.mssante.fr"]
        assert "2 of 7 mailboxes" in screen_text(app)
        await pilot.press("escape", "s", "s")  # sort by structure, then by status
        assert screen.sort_key == "status"
        assert screen.shown[0].address == "urgences@chu-exemple.mssante.fr"


@pytest.mark.asyncio
async def test_open_mailbox_shows_chain_findings_and_history(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("m")
        await settle(app, pilot)
        await pilot.press("slash", *"pharma", "enter", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, MailboxScreen)
        text = screen_text(app)
        assert "Revoked" in text
        assert "✔ AC RACINE" in text  # the chain tree
        assert "REVOKED" in text
        assert "keyCompromise" in text
        assert "mailbox.add" in text  # the timeline


@pytest.mark.asyncio
async def test_archive_asks_first_and_writes_the_database(app: CertmgrApp,
                                                          seeded: Store) -> None:
    address = "rdv@cabinet-martin.mssante.fr"
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_mailbox(address)
        await settle(app, pilot)
        await pilot.press("x")
        await pilot.pause()
        assert "Archive rdv@cabinet-martin.mssante.fr?" in screen_text(app)
        await pilot.press("n")  # No: nothing changes
        await settle(app, pilot)
        assert not show_mailbox(store=seeded, address=address).summary.archived
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        assert show_mailbox(store=seeded, address=address).summary.archived
        assert "ARCHIVED" in screen_text(app)
        await pilot.press("escape", "m")
        await settle(app, pilot)
        assert app.generation == 1
        assert isinstance(app.screen, MailboxesScreen)
        assert address not in {r.address for r in app.screen.rows}
    events = show_mailbox(store=seeded, address=address).events
    assert events[-1]["action"] == "mailbox.archive"
    assert events[-1]["actor"] == ACTOR


@pytest.mark.asyncio
async def test_unknown_mailbox_notifies_the_cli_message(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_mailbox("nobody@nowhere.mssante.fr")
        await settle(app, pilot)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert [str(n.message) for n in errors] == ["no mailbox nobody@nowhere.mssante.fr"]


@pytest.mark.asyncio
async def test_unmigrated_database_is_a_notification(tmp_path: Path, clock: FixedClock) -> None:
    settings = Settings(home=tmp_path, db_url=f"sqlite:///{tmp_path / 'elsewhere.db'}")
    app = make_app(settings=settings, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.is_running
        errors = [str(n.message) for n in app._notifications if n.severity == "error"]
        assert errors
        assert "certmgr db upgrade" in errors[0]


@pytest.mark.asyncio
async def test_theme_toggle_help_and_navigation(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.theme == DARK
        await pilot.press("ctrl+t")
        assert app.theme == LIGHT
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Quick filter" in screen_text(app)
        await pilot.press("escape", "t")
        await settle(app, pilot)
        assert "AC RACINE IGC-SANTE ELEMENTAIRE" in screen_text(app)
        await pilot.press("l")
        await settle(app, pilot)
        assert "mailbox.add" in screen_text(app)
        await pilot.press("slash", *"scan")
        await pilot.pause()
        assert app.screen.query_one(DataTable).row_count == 1
        assert isinstance(app.screen.query_one(Input), Input)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_ten_thousand_mailboxes_load_and_filter(store: Store, settings: Settings,
                                                      clock: FixedClock) -> None:
    seed_bulk(store, 10_000)
    assert len(list_mailboxes(store=store)) == 10_000
    app = make_app(settings=settings, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("m")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, MailboxesScreen)
        assert len(screen.rows) == 10_000
        await pilot.press("slash", *"bal0012")
        assert {r.address[:7] for r in screen.shown} == {"bal0012"}
        assert len(screen.shown) == 10
        assert "10 of 10000 mailboxes" in screen_text(app)
        # Speed is measured against its budget in bench/tui_bench.py, not here.


@pytest.mark.asyncio
async def test_a_dashboard_count_key_lists_the_mailboxes_of_its_status(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "[4]     1  Expired" in screen_text(app)  # the key beside the count
        await pilot.press("4")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, MailboxesScreen)
        assert screen.statuses == {"EXPIRED"}
        assert [r.address for r in screen.shown] == ["urgences@chu-exemple.mssante.fr"]
        assert "1 of 7 mailboxes  status: Expired" in screen_text(app)
        await pilot.press("d", "6")  # from the dashboard again: another status, not both
        await settle(app, pilot)
        assert screen.statuses == {"INVALID"}
        assert [r.address for r in screen.shown] == ["rdv@cabinet-martin.mssante.fr"]
