"""Text snapshots of the main screens at 80x24 and 120x36 (fixed clock, fixed data).

Regenerate with CERTMGR_UPDATE_SNAPSHOTS=1 after a deliberate change, and review the diff.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from certmgr.store.session import Store
from tui.app import CertmgrApp

from .conftest import seed_alert
from .screen_text import check_snapshot, screen_text

SIZES = [(80, 24), (120, 36)]


async def _settle(app: CertmgrApp, pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


async def _snap(app: CertmgrApp, size: tuple[int, int], name: str, *keys: str,
                mailbox: str | None = None) -> None:
    async with app.run_test(size=size) as pilot:
        await _settle(app, pilot)
        if mailbox is not None:
            app.open_mailbox(mailbox)
        for key in keys:
            await pilot.press(key)
        await _settle(app, pilot)
        check_snapshot(f"{name}-{size[0]}x{size[1]}", screen_text(app))


class TestDashboard:
    """The home screen: counts, expiry chart, scan, CRLs."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_dashboard(self, app: CertmgrApp, size: tuple[int, int]) -> None:
        await _snap(app, size, "dashboard")


class TestMailboxes:
    """The mailbox table, unfiltered and quick-filtered."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_mailboxes(self, app: CertmgrApp, size: tuple[int, int]) -> None:
        await _snap(app, size, "mailboxes", "m")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_mailboxes_expired_filter(self, app: CertmgrApp,
                                            size: tuple[int, int]) -> None:
        await _snap(app, size, "mailboxes-expired", "m", "4")


class TestMailboxDetail:
    """One revoked mailbox: facts, chain tree, findings, history."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_detail(self, app: CertmgrApp, size: tuple[int, int]) -> None:
        await _snap(app, size, "detail-revoked", mailbox="pharma@chu-exemple.mssante.fr")


class TestTrustAndHelp:
    """Trust anchors and CRLs; the key bindings."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_trust(self, app: CertmgrApp, size: tuple[int, int]) -> None:
        await _snap(app, size, "trust", "t")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_help(self, app: CertmgrApp, size: tuple[int, int]) -> None:
        await _snap(app, size, "help", "question_mark")


class TestAlertsAndJobs:
    """Alerts told and waiting (one pending); jobs never run, no scheduler."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_alerts(self, app: CertmgrApp, seeded: Store, size: tuple[int, int]) -> None:
        seed_alert(seeded, "radio@imagerie-nantes.mssante.fr", threshold=14)
        await _snap(app, size, "alerts", "a")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_jobs(self, app: CertmgrApp, size: tuple[int, int]) -> None:
        await _snap(app, size, "jobs", "j")
