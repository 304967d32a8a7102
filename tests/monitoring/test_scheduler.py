"""Scheduler wiring, started paused: jobs, triggers, defaults, persistence, catch-up."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from certmgr.config import Settings, load_settings
from certmgr.errors import ConfigError, JobError
from certmgr.scheduler import (
    JOB_DEFAULTS,
    NEXT_UPDATE_JOB,
    installation_id,
    next_runs,
    run_scheduled,
    start,
)
from certmgr.store.models_alerts import JobRun
from certmgr.store.session import Store
from certmgr.triggers import CRL_WINDOW

from .conftest import START, add_crl, make_settings


def test_jobs_are_scheduled_with_the_defaults(settings: Settings, store: Store) -> None:
    assert store.url
    scheduler, missed = start(settings, now=START, paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {"crl_refresh", "alerts", "digest", "heartbeat", "probe_endpoints"}
        assert missed == []
        for job in jobs.values():
            assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (
                JOB_DEFAULTS["coalesce"], JOB_DEFAULTS["max_instances"],
                JOB_DEFAULTS["misfire_grace_time"])
        paris = ZoneInfo("Europe/Paris")
        alerts_at = jobs["alerts"].next_run_time.astimezone(paris)
        assert (alerts_at.hour, alerts_at.minute) == (8, 30)
        refresh = jobs["crl_refresh"].next_run_time.astimezone(paris).time()
        assert CRL_WINDOW[0] <= refresh < CRL_WINDOW[1]
    finally:
        scheduler.shutdown(wait=False)


def test_installation_id_is_stable(settings: Settings) -> None:
    first = installation_id(settings.home)
    assert first == installation_id(settings.home)
    assert len(first) == 32


def test_jobs_survive_a_restart_and_missed_ones_are_caught_up(settings: Settings,
                                                               store: Store) -> None:
    assert store.url
    scheduler, _ = start(settings, now=START, paused=True)
    stored = {job.id: job.next_run_time for job in scheduler.get_jobs()}
    scheduler.shutdown(wait=False)
    # downtime: every stored run time (APScheduler computed them from its clock) passed
    later = max(stored.values()) + dt.timedelta(days=1)
    again, missed = start(settings, now=later, paused=True)
    try:
        assert sorted(missed) == sorted(stored)
        for job in again.get_jobs():
            assert job.next_run_time == later  # once, now; coalesce folds the rest
    finally:
        again.shutdown(wait=False)


def _weekdays(settings: Settings, line: str, *, runs: int) -> list[str]:
    """The local days of the week of the next `runs` alerts under `[schedule] alerts`."""
    configured = make_settings(settings.home, schedule={"alerts": line})
    paris = ZoneInfo("Europe/Paris")
    now, days = START, []
    for _ in range(runs):
        fire = dict(next_runs(configured, now=now))["alerts"]
        days.append(f"{fire.astimezone(paris):%a %H:%M}")
        now = fire + dt.timedelta(minutes=1)
    return days


@pytest.mark.parametrize(("line", "expected"), [
    ("31 8 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]),
    ("31 8 * * mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]),
    ("31 8 * * 0", ["Sun", "Sun"]),
    ("31 8 * * 7", ["Sun", "Sun"]),
    ("31 8 * * 6,0", ["Sat", "Sun", "Sat"]),
    ("31 8 * * */2", ["Tue", "Thu", "Sat", "Sun", "Tue"]),
])
def test_schedule_lines_count_days_as_crontab_does(settings: Settings, line: str,
                                                    expected: list[str]) -> None:
    # START is Monday 5 January 2026, 08:30 Paris: the first run is the next matching day
    assert _weekdays(settings, line, runs=len(expected)) == [f"{d} 08:31" for d in expected]


@pytest.mark.parametrize("line", ["30 8 * * 8", "30 8 * * fri-mon", "30 8 * *", "30 8 * * 1/x"])
def test_a_bad_schedule_line_is_a_config_error(settings: Settings, line: str) -> None:
    configured = make_settings(settings.home, schedule={"alerts": line})
    with pytest.raises(ConfigError, match=r"\[schedule\] alerts: "):
        next_runs(configured, now=START)


def test_a_scheduled_refresh_is_followed_by_a_scan_even_when_it_fails(settings: Settings,
                                                                      store: Store) -> None:
    # a configured URL the policy refuses (loopback) before any request: the refresh fails
    (settings.home / "config.toml").write_text('crl_urls = ["http://127.0.0.1:9/x.crl"]\n',
                                               encoding="utf-8")
    with pytest.raises(JobError, match=r"127\.0\.0\.1"):
        run_scheduled("crl_refresh", str(settings.home), settings.db_url)
    with store.sessions() as session:
        runs = session.scalars(select(JobRun).order_by(col(JobRun.id))).all()
    assert [(r.job, r.ok) for r in runs] == [("crl_refresh", False), ("scan", True)]


def test_after_each_refresh_the_next_update_refresh_follows_the_new_crls(
        settings: Settings, store: Store) -> None:
    (settings.home / "config.toml").write_text('[schedule]\ncrl_refresh = "every 1 s"\n',
                                               encoding="utf-8")
    configured = load_settings(home=settings.home, db_url=settings.db_url, environ={})
    now = dt.datetime.now(dt.UTC)
    scheduler, _missed = start(configured, now=now)  # running: the refresh fires each second
    try:
        assert scheduler.get_job(NEXT_UPDATE_JOB) is None  # no CRL when it started
        next_update = (now + dt.timedelta(days=3)).replace(microsecond=0)
        add_crl(store, next_update)  # as a refresh would store it
        deadline = time.monotonic() + 30
        while scheduler.get_job(NEXT_UPDATE_JOB) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        job = scheduler.get_job(NEXT_UPDATE_JOB)
        assert job is not None, "no next-update refresh scheduled after a refresh"
        assert job.next_run_time == next_update + dt.timedelta(minutes=5)
    finally:
        scheduler.shutdown(wait=True)


def test_a_configured_crl_refresh_is_planned_before_the_installation_id(
        settings: Settings) -> None:
    assert not (settings.home / "installation-id").exists()
    assert "crl_refresh" not in dict(next_runs(settings, now=START))  # its minute is unknown
    configured = make_settings(settings.home, schedule={"crl_refresh": "20 7 * * *"})
    refresh = dict(next_runs(configured, now=START))["crl_refresh"]
    # START is Monday 08:30 in Paris: the next 07:20 is Tuesday's
    assert f"{refresh.astimezone(ZoneInfo('Europe/Paris')):%a %H:%M}" == "Tue 07:20"
