"""`certmgr jobs`: each job's next run, from the schedule `certmgr serve` stored, or
planned from the configuration before any `serve` ran, saying which it is."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from certmgr.config import Settings, load_settings
from certmgr.scheduler import NEXT_UPDATE_JOB, next_runs, start
from certmgr.store.models_alerts import JobRun
from certmgr.store.session import Store

from .conftest import START, Invoke, add_crl

PARIS = ZoneInfo("Europe/Paris")


def _listed(cli: Invoke) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    outcome = cli("jobs", "--json")
    assert outcome.code == 0, outcome
    document = json.loads(outcome.out)
    return document, {job["job"]: job for job in document["jobs"]}


def _when(job: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(job["next_run"])


def _plan(settings: Settings, now: dt.datetime) -> dict[str, dt.datetime]:
    # the CLI loads the settings from the home, as here
    return dict(next_runs(load_settings(home=settings.home, environ={}), now=now))


def test_before_serve_the_next_runs_are_planned_from_the_configuration(
        cli: Invoke, store: Store, settings: Settings) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "config.toml").write_text('[schedule]\nalerts = "0 6 * * 1"\n',
                                               encoding="utf-8")
    before = dt.datetime.now(dt.UTC)
    document, jobs = _listed(cli)
    after = dt.datetime.now(dt.UTC)
    assert document["schedule_stored"] is False
    for name in ("alerts", "digest", "probe_endpoints"):
        assert jobs[name]["next_run_source"] == "config"
        assert _when(jobs[name]) in {_plan(settings, before)[name], _plan(settings, after)[name]}
    alerts_at = _when(jobs["alerts"]).astimezone(PARIS)  # the [schedule] line, not 08:30
    assert (alerts_at.weekday(), alerts_at.hour, alerts_at.minute) == (0, 6, 0)
    assert "minute='0'" in jobs["alerts"]["trigger"]
    heartbeat = _when(jobs["heartbeat"])
    assert before + dt.timedelta(minutes=5) <= heartbeat <= after + dt.timedelta(minutes=5)
    # no installation id yet: the refresh minute is not known, and the scan follows it
    assert (jobs["crl_refresh"]["next_run"], jobs["scan"]["next_run"]) == (None, None)
    text = cli("jobs").out
    line = {row.split()[0]: row for row in text.splitlines() if row.strip()}
    assert "(planned)" in line["alerts"]
    assert "07:15-08:00, minute set by serve" in line["crl_refresh"]
    assert "no schedule stored yet" in text
    # listing wrote nothing: the job store's table is `serve`'s to create
    assert not sa.inspect(store.engine).has_table("apscheduler_jobs")


def test_the_crl_refresh_is_planned_once_the_installation_id_exists(
        cli: Invoke, store: Store, settings: Settings) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "installation-id").write_text("jobs-cli-test\n", encoding="ascii")
    add_crl(store, dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    _document, jobs = _listed(cli)
    refresh = _when(jobs["crl_refresh"])
    assert dt.time(7, 15) <= refresh.astimezone(PARIS).time() < dt.time(8, 0)
    assert jobs["crl_refresh"]["next_run_source"] == "config"
    assert (_when(jobs["scan"]), jobs["scan"]["trigger"]) == (refresh, "after crl_refresh")
    assert jobs[NEXT_UPDATE_JOB]["next_run_source"] == "config"


def test_once_serve_stored_the_schedule_its_next_runs_are_shown(
        cli: Invoke, store: Store, settings: Settings) -> None:
    next_update = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    add_crl(store, next_update)
    scheduler, _missed = start(settings, now=dt.datetime.now(dt.UTC), paused=True)
    try:
        scheduler.remove_job("digest")  # a job this schedule lacks: planned instead
        stored = {job.id: job.next_run_time for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert {"alerts", "crl_refresh", NEXT_UPDATE_JOB} <= set(stored)
    # the one-off refresh when the CRL reaches its nextUpdate, 5 minutes after it
    assert stored[NEXT_UPDATE_JOB] == next_update + dt.timedelta(minutes=5)
    document, jobs = _listed(cli)
    assert document["schedule_stored"] is True
    for name, when in stored.items():
        assert (_when(jobs[name]), jobs[name]["next_run_source"]) == (when, "serve")
    assert jobs["digest"]["next_run_source"] == "config"
    assert (_when(jobs["scan"]), jobs["scan"]["next_run_source"]) == (stored["crl_refresh"],
                                                                      "serve")
    line = {row.split()[0]: row for row in cli("jobs").out.splitlines() if row.strip()}
    assert "(stored by serve)" in line["alerts"]
    assert "(planned)" in line["digest"]


def test_the_last_result_is_the_newest_run(cli: Invoke, store: Store) -> None:
    with store.transaction() as session:
        for hours, ok in ((0, True), (1, False), (2, True), (3, False)):
            at = START + dt.timedelta(hours=hours)
            session.add(JobRun(job="heartbeat", started_at=at, finished_at=at, ok=ok,
                               error=None if ok else f"failed at {hours}", details={}))
    _document, jobs = _listed(cli)
    assert (jobs["heartbeat"]["last_ok"], jobs["heartbeat"]["last_error"]) == (False,
                                                                               "failed at 3")
    assert jobs["alerts"]["last_run"] is None
    line = {row.split()[0]: row for row in cli("jobs").out.splitlines() if row.strip()}
    assert line["heartbeat"].endswith("last FAILED (failed at 3)")
