"""Scheduler wiring, started paused: jobs, triggers, defaults, persistence, catch-up."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from certmgr.config import Settings
from certmgr.scheduler import JOB_DEFAULTS, installation_id, start
from certmgr.store.session import Store
from certmgr.triggers import CRL_WINDOW

from .conftest import START


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
