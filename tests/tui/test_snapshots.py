"""Text snapshots of the main screens at 80x24 and 120x36 (fixed clock, fixed data).

Regenerate with CERTMGR_UPDATE_SNAPSHOTS=1 after a deliberate change, and review the diff.
"""

from __future__ import annotations

import datetime as dt

import pytest

from certmgr.config import Settings
from certmgr.jobs import run_job
from certmgr.store.session import Store
from tui.app import CertmgrApp

from .conftest import ACTOR, AT
from .screen_text import check_snapshot, screen_text, settle

SIZES = [(80, 24), (120, 36)]



async def _snap(app: CertmgrApp, size: tuple[int, int], name: str, *keys: str,
                mailbox: str | None = None) -> None:
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        if mailbox is not None:
            app.open_mailbox(mailbox)
        for key in keys:
            await pilot.press(key)
        await settle(app, pilot)
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
    """Alerts sent two days ago (one acknowledged and snoozed) and the thresholds crossed
    since (pending); jobs never run, planned from the configuration."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_alerts(self, app: CertmgrApp, seeded: Store, settings: Settings,
                          size: tuple[int, int]) -> None:
        settings.extra["admins"] = ["ops@example.org"]
        run_job("alerts", settings, now=AT - dt.timedelta(days=2))
        pharma = next(r for r in app.inventory.alert_rows(at=AT)
                      if r.mailbox == "pharma@chu-exemple.mssante.fr")
        assert pharma.id is not None
        app.inventory.acknowledge_alert(alert_id=pharma.id, at=AT, actor=ACTOR,
                                        until=dt.datetime(2025, 6, 8, tzinfo=dt.UTC))
        await _snap(app, size, "alerts", "a")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_jobs(self, app: CertmgrApp, size: tuple[int, int]) -> None:
        await _snap(app, size, "jobs", "j")


class TestAuditAndSnooze:
    """The audit log; the snooze form over the alerts."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_audit(self, app: CertmgrApp, size: tuple[int, int]) -> None:
        await _snap(app, size, "audit", "l")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("size", SIZES)
    async def test_snooze_form(self, app: CertmgrApp, settings: Settings,
                               size: tuple[int, int]) -> None:
        settings.extra["admins"] = ["ops@example.org"]
        run_job("alerts", settings, now=AT)
        await _snap(app, size, "snooze-form", "a", "z")
