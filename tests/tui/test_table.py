"""The virtual mailbox table: keys and mouse over rows drawn on demand."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from certmgr.clock import FixedClock
from certmgr.config import Settings
from certmgr.store.session import Store
from tui.app import CertmgrApp, make_app
from tui.rowtable import RowTable
from tui.screens.detail import MailboxScreen
from tui.screens.mailboxes import MailboxesScreen

from .conftest import seed_bulk
from .screen_text import screen_text, settle

SIZE = (120, 36)



async def mailboxes(app: CertmgrApp, pilot: Pilot[None]) -> MailboxesScreen:
    await settle(app, pilot)
    await pilot.press("m")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, MailboxesScreen)
    return screen


@pytest.mark.asyncio
async def test_end_then_enter_opens_the_last_row(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await mailboxes(app, pilot)
        await pilot.press("end", "up", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, MailboxScreen)
        assert app.screen.address == screen.shown[-2].address == "rdv@cabinet-martin.mssante.fr"


@pytest.mark.asyncio
async def test_header_click_sorts_and_again_reverses(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await mailboxes(app, pilot)
        table = screen.query_one(RowTable)
        x = screen_text(app).splitlines()[5].index("Days left")
        await pilot.click(RowTable, offset=(x + 1, 0))
        assert screen.sort_key == "days"
        assert screen.shown[0].address == "urgences@chu-exemple.mssante.fr"  # -1 d
        await pilot.click(RowTable, offset=(x + 1, 0))
        assert screen.sort_reverse
        assert screen.shown[-1].address == "urgences@chu-exemple.mssante.fr"
        await pilot.click(RowTable, offset=(2, 3), times=2)  # double click: third row
        await settle(app, pilot)
        assert isinstance(app.screen, MailboxScreen)
        assert app.screen.address == screen.shown[2].address
        assert table.cursor_row == 2


@pytest.mark.asyncio
async def test_paging_scrolls_through_ten_thousand_rows(store: Store, settings: Settings,
                                                        clock: FixedClock) -> None:
    seed_bulk(store, 10_000)
    app = make_app(settings=settings, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = await mailboxes(app, pilot)
        table = screen.query_one(RowTable)
        assert table.row_count == 10_000
        await pilot.press("pagedown", "pagedown", "down")
        assert table.cursor_row == 2 * table.body_height + 1
        assert table.scroll_offset.y > 0
        assert screen.shown[table.cursor_row].address in screen_text(app)
        await pilot.press("end")
        assert table.cursor_row == 9_999
        assert screen.shown[-1].address in screen_text(app)
        assert "10000 of 10000 mailboxes" in screen_text(app)
        await pilot.press("home")
        assert table.scroll_offset.y == 0
