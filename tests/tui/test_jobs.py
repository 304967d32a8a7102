"""Next runs without a scheduler: `certmgr.scheduler.next_runs` (pure, across the DST
changes of Europe/Paris), the console's job rows (job store first, else planned), and
the Jobs screen and dashboard showing them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from certmgr.cli.tui import make_console
from certmgr.clock import FixedClock
from certmgr.config import Settings
from certmgr.errors import ConfigError, InputError
from certmgr.scheduler import (
    NEXT_UPDATE_JOB,
    build_scheduler,
    describe_jobs,
    installation_id,
    next_runs,
    schedule_jobs,
)
from certmgr.services.console import Console
from certmgr.store.session import Store
from certmgr.triggers import CRL_WINDOW, next_crl_refresh
from tui.app import CertmgrApp, make_app
from tui.screens.activity import JobsScreen

from .conftest import AT
from .screen_text import errors, screen_text, settle

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
SPRING = dt.date(2025, 3, 30)  # last Sunday of March: 02:00 CET -> 03:00 CEST
AUTUMN = dt.date(2025, 10, 26)  # last Sunday of October: 03:00 CEST -> 02:00 CET


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def plain(tmp_path: Path, schedule: dict[str, str] | None = None) -> Settings:
    """Settings whose database does not exist: next_runs must not need one."""
    return Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'none.db'}",
                    extra={} if schedule is None else {"schedule": schedule})


class TestNextRuns:
    """The default triggers and `[schedule]` overrides, before and after each DST change."""

    @pytest.mark.parametrize(("now", "alerts", "digest"), [
        (utc(2025, 3, 29, 12), utc(2025, 3, 30, 6, 30), utc(2025, 3, 30, 6, 45)),  # CEST
        (utc(2025, 3, 28, 12), utc(2025, 3, 29, 7, 30), utc(2025, 3, 29, 7, 45)),  # CET
        (utc(2025, 10, 25, 12), utc(2025, 10, 26, 7, 30), utc(2025, 10, 26, 7, 45)),  # CET
        (utc(2025, 10, 24, 12), utc(2025, 10, 25, 6, 30), utc(2025, 10, 25, 6, 45)),  # CEST
    ])
    def test_daily_jobs_keep_their_paris_wall_time(self, tmp_path: Path, now: dt.datetime,
                                                   alerts: dt.datetime,
                                                   digest: dt.datetime) -> None:
        runs = next_runs(plain(tmp_path), now=now)
        assert dict(runs) == {"alerts": alerts, "digest": digest,
                              "heartbeat": now + dt.timedelta(minutes=5),
                              "probe_endpoints": now}  # on the hour: at `now` itself
        assert [when for _, when in runs] == sorted(when for _, when in runs)
        assert all(when.tzinfo is UTC for _, when in runs)
        assert alerts.astimezone(PARIS).time() == dt.time(8, 30)

    @pytest.mark.parametrize(("now", "expected"), [
        (utc(2025, 3, 30, 0, 30), utc(2025, 3, 30, 1)),  # 01:30 CET -> 03:00 CEST
        (utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1)),  # 02:30 CEST -> 02:00 CET
        (utc(2025, 10, 26, 0, 0, 1), utc(2025, 10, 26, 1)),
    ])
    def test_hourly_probes_over_the_changed_hour(self, tmp_path: Path, now: dt.datetime,
                                                 expected: dt.datetime) -> None:
        assert dict(next_runs(plain(tmp_path), now=now))["probe_endpoints"] == expected

    @pytest.mark.parametrize("day", [SPRING, AUTUMN])
    def test_crl_refresh_once_the_installation_has_an_id(self, tmp_path: Path,
                                                         day: dt.date) -> None:
        settings = plain(tmp_path)
        now = dt.datetime.combine(day, dt.time(0), tzinfo=PARIS).astimezone(UTC)
        assert "crl_refresh" not in dict(next_runs(settings, now=now))
        seed = installation_id(settings.home)
        refresh = dict(next_runs(settings, now=now))["crl_refresh"]
        assert refresh == next_crl_refresh(now - dt.timedelta(microseconds=1), seed=seed)
        local = refresh.astimezone(PARIS)
        assert local.date() == day
        assert CRL_WINDOW[0] <= local.time() < CRL_WINDOW[1]

    @pytest.mark.parametrize(("now", "expected"), [
        (utc(2025, 3, 29, 12), utc(2025, 3, 30, 1, 30)),  # 02:30 does not exist: 03:30 CEST
        (utc(2025, 10, 25, 12), utc(2025, 10, 26, 0, 30)),  # twice: the first, CEST
    ])
    def test_schedule_override_at_a_changing_hour(self, tmp_path: Path, now: dt.datetime,
                                                  expected: dt.datetime) -> None:
        settings = plain(tmp_path, {"alerts": "30 2 * * *", "heartbeat": "every 600 s"})
        runs = dict(next_runs(settings, now=now))
        assert runs["alerts"] == expected
        assert runs["heartbeat"] == now + dt.timedelta(seconds=600)

    def test_next_update_refresh_and_nothing_written(self, tmp_path: Path) -> None:
        settings = plain(tmp_path)
        next_update = utc(2025, 6, 2, 12)
        runs = dict(next_runs(settings, now=AT, crl_next_update=next_update))
        assert runs[NEXT_UPDATE_JOB] == next_update + dt.timedelta(minutes=5)
        assert NEXT_UPDATE_JOB not in dict(next_runs(settings, now=AT,
                                                     crl_next_update=AT))
        assert not settings.home.exists()  # no installation id created, no database
        assert not (tmp_path / "none.db").exists()

    def test_refuses_a_bad_schedule_and_a_naive_now(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"\[schedule\] alerts"):
            next_runs(plain(tmp_path, {"alerts": "at dawn"}), now=AT)
        with pytest.raises(ValueError, match="aware"):
            next_runs(plain(tmp_path), now=AT.replace(tzinfo=None))


class TestJobRows:
    """The console's next runs: planned from the configuration, or from the job store."""

    def test_planned_when_no_scheduler_stored_its_jobs(self, settings: Settings,
                                                       seeded: Store) -> None:
        seed = installation_id(settings.home)
        console = Console(settings, planner=next_runs)
        try:
            rows = {r.name: r for r in console.job_rows(names=("scan", "heartbeat"), at=AT)}
        finally:
            console.close()
        refresh = next_crl_refresh(AT - dt.timedelta(microseconds=1), seed=seed)
        assert rows["heartbeat"].next_run == AT + dt.timedelta(minutes=5)
        assert rows["crl_refresh"].next_run == refresh
        assert rows["scan"].next_run == refresh  # right after each refresh
        assert all(r.planned for r in rows.values())
        # The fixture's delta CRL is the first to reach its nextUpdate.
        assert rows[NEXT_UPDATE_JOB].next_run == utc(2025, 6, 2, 12, 5)

    def test_the_job_store_wins_over_the_plan(self, settings: Settings, seeded: Store) -> None:
        scheduler = build_scheduler(settings)
        scheduler.start(paused=True)  # stores the jobs, runs nothing (as `certmgr jobs`)
        try:
            schedule_jobs(scheduler, settings)
            stored = {d["job"]: d["next_run"] for d in describe_jobs(scheduler)}
        finally:
            scheduler.shutdown(wait=False)
        console = Console(settings, planner=next_runs)
        try:
            rows = {r.name: r for r in console.job_rows(names=(), at=AT)}
        finally:
            console.close()
        for name, when in stored.items():
            assert (rows[name].next_run, rows[name].planned) == (when, False)

    def test_without_planner_nothing_is_planned(self, settings: Settings,
                                                seeded: Store) -> None:
        console = Console(settings)
        try:
            rows = console.job_rows(names=("alerts",), at=AT)
        finally:
            console.close()
        assert [(r.name, r.next_run, r.planned) for r in rows] == [("alerts", None, False)]


@pytest.mark.asyncio
async def test_jobs_screen_and_dashboard_show_the_planned_runs(app: CertmgrApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "Next jobs  planned from the configuration" in text
        assert " heartbeat        12:05 in 5 min " in text
        await pilot.press("j")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        alerts = next(r for r in screen.rows if r.name == "alerts")
        assert (alerts.next_run, alerts.planned) == (utc(2025, 6, 2, 6, 30), True)
        text = screen_text(app)
        assert ("alerts                   2025-06-02 06:30 (in 18 h)   never run  never"
                "           config") in text
        assert "From config: no `certmgr serve` has stored its jobs here" in text
        assert "`certmgr serve` picks on its first start" in text  # crl_refresh


@pytest.mark.asyncio
async def test_a_bad_schedule_line_is_said_not_fatal(seeded: Store, settings: Settings,
                                                     clock: FixedClock) -> None:
    settings.extra["schedule"] = {"digest": "at dawn"}
    app = make_app(settings=settings, clock=clock, console=make_console(settings))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "7 mailboxes" in text  # the rest of the dashboard is there
        assert "[schedule] digest:" in text
        await pilot.press("j")
        await settle(app, pilot)
        assert app.is_running
        (message,) = errors(app)  # one read, one message
        assert message.startswith(f"{settings.config_file}: [schedule] digest: ")
        assert "\n" not in message


def test_run_now_goes_through_the_console_and_its_runner(seeded: Store,
                                                         settings: Settings) -> None:
    """The TUI runs jobs through `Console.run_job`: the runner comes from the entry point
    (`make_console`); a bare console, or an unknown job, is a one-line InputError."""
    bare = Console(settings)
    with pytest.raises(InputError, match="job scan cannot be run from here; known: none"):
        bare.run_job("scan", now=AT)
    console = make_console(settings)
    try:
        with pytest.raises(InputError, match="job nightly cannot be run from here"):
            console.run_job("nightly", now=AT)
        assert console.run_job("heartbeat", now=AT) is not None
        assert "heartbeat" in console.job_names
    finally:
        console.close()
        bare.close()
