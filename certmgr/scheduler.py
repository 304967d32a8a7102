"""APScheduler 3 wiring: which job runs when. The jobs themselves are `certmgr.jobs`.

- Job store: `SQLAlchemyJobStore` on the inventory database (table `apscheduler_jobs`,
  created and owned by APScheduler), so schedules and next run times survive restarts.
- Time zone: `settings.timezone` (Europe/Paris).
- Defaults: `coalesce=True` (missed runs collapse into one), `max_instances=1`,
  `misfire_grace_time=3600`.
- Schedules: CRL refresh once a day at a per-installation minute between 07:15 and
  08:00 (`JitteredDailyTrigger` seeded by `installation_id`), followed by a scan, and
  again 5 minutes after the earliest current CRL's nextUpdate (scheduled at start and
  again after every refresh); alerts at 08:30; the
  digest at 08:45; a heartbeat every 5 minutes; endpoint probes every hour at minute 0
  (each mailbox is probed in its own hour of the day, `certmgr.jobs.probe_endpoints`).
  `[schedule]` in config.toml overrides any of them with a crontab line
  (`alerts = "30 8 * * 1-5"`) or `"every N s"`.
- Planning: `next_runs` computes the next fire time of each job from the same triggers
  without a scheduler (the console and `certmgr jobs` show it before `serve` has stored
  its jobs); `stored_jobs` reads what `serve` stored.
- Catch-up: `start` runs once every stored job whose run time passed while no
  scheduler was running (downtime), then resumes the normal schedule.

Scheduled callables take only text arguments (home, db URL) and reload the settings,
so a job stored in the database never holds stale configuration; they read the clock
(they are entry points). The key passphrase `serve` reads at start is never one of those
arguments (they are stored in the database): `start(..., passphrase=)` keeps it in this
process's memory, and `run_scheduled` hands it to the jobs that use keys.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import col, select

from certmgr.clock import SystemClock
from certmgr.config import load_settings
from certmgr.errors import ConfigError
from certmgr.store.engine import make_engine
from certmgr.store.models import Crl
from certmgr.triggers import JitteredDailyTrigger, next_after_next_update

if TYPE_CHECKING:
    from collections.abc import Callable

    from apscheduler.events import JobExecutionEvent
    from apscheduler.triggers.base import BaseTrigger
    from sqlalchemy.engine import Engine

    from certmgr.config import Settings
    from certmgr.secrets import Secret

__all__ = ["JOB_DEFAULTS", "NEXT_UPDATE_JOB", "build_scheduler", "describe_jobs",
           "earliest_next_update", "installation_id", "next_runs", "planned_triggers",
           "run_scheduled", "schedule_jobs", "schedule_next_update_refresh", "start",
           "stored_jobs"]

log = logging.getLogger("certmgr.scheduler")
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
_EVERY = re.compile(r"^every\s+(\d+)\s*s$")
NEXT_UPDATE_JOB = "crl_refresh_next_update"
_INSTALLATION_ID = "installation-id"
_JOB_TABLE = "apscheduler_jobs"  # SQLAlchemyJobStore's default table name


def installation_id(home: Path) -> str:
    """This installation's id (`<home>/installation-id`, created on first use): the seed
    that spreads CRL downloads between installations."""
    path = home / _INSTALLATION_ID
    try:
        value = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        value = ""
    if not value:
        home.mkdir(parents=True, exist_ok=True)
        value = uuid.uuid4().hex
        path.write_text(value + "\n", encoding="ascii")
    return value


class _ProcessSecrets:
    """The key passphrase given to `start`, for this process only (see the module doc)."""

    passphrase: Secret | None = None


def run_scheduled(name: str, home: str, db_url: str) -> None:
    """What the scheduler calls: reload the settings, read the clock, run job `name`
    (`crl_refresh` is followed by a scan; `start`'s listener then schedules the next
    next-update refresh)."""
    from certmgr import jobs  # noqa: PLC0415 - the services load only in the service

    settings = load_settings(home=home, db_url=db_url)
    now = SystemClock().now()
    log.info("job %s starting", name, extra={"job": name})
    try:
        if name == "crl_refresh":
            try:
                jobs.crl_refresh(settings, now=now)
            finally:  # scan right after each refresh, even a partly failed one
                jobs.scan(settings, now=SystemClock().now())
        else:
            jobs.run_job(name, settings, now=now, passphrase=_ProcessSecrets.passphrase)
    except Exception:
        log.exception("job %s failed", name, extra={"job": name})
        raise
    log.info("job %s done", name, extra={"job": name})


def _trigger(settings: Settings, name: str, default: BaseTrigger | None, *,
             start: dt.datetime | None = None) -> BaseTrigger | None:
    spec = settings.extra.get("schedule", {}).get(name)
    if spec is None:
        return default
    text = str(spec).strip()
    every = _EVERY.match(text)
    try:
        if every:
            seconds = int(every.group(1))
            return IntervalTrigger(seconds=seconds, timezone=settings.timezone,
                                   start_date=None if start is None
                                   else start + dt.timedelta(seconds=seconds))
        return _crontab(text, timezone=settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"[schedule] {name}: {exc}", source=settings.config_file) from exc


def _crontab(line: str, *, timezone: str) -> CronTrigger:
    """A crontab line "m h dom mon dow" as crontab(5) reads it. (APScheduler 3's own
    `from_crontab` counts days of the week from 0 = Monday, so "1-5" would run Tuesday to
    Saturday; here 0 and 7 are Sunday, 1 Monday, as in cron.)"""
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab line has 5 fields (m h dom mon dow), not {len(fields)}")
    minute, hour, day, month, dow = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_cron_days(dow), timezone=timezone)


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_days(field: str) -> str:
    """A crontab day-of-week field (numbers 0-7 or names, lists, ranges, steps) as the
    APScheduler field of the same days ("*", or days numbered from 0 = Monday)."""
    days: set[int] = set()  # cron numbering, 0 = Sunday
    for item in field.lower().split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"day of week {field!r}: bad step {step_text!r}")
        if span == "*":
            first, last = 0, 6
        else:
            start, _, end = span.partition("-")
            first = _cron_day(start, field)
            last = _cron_day(end, field) if end else (6 if step else first)
        if last < first:
            raise ValueError(f"day of week {field!r}: range {span!r} goes backwards")
        days.update(d % 7 for d in range(first, last + 1, step or 1))
    if days == set(range(7)):
        return "*"
    return ",".join(str((d - 1) % 7) for d in sorted(days, key=lambda d: (d - 1) % 7))


def _cron_day(text: str, field: str) -> int:
    if text in _DAY_NAMES:
        return _DAY_NAMES.index(text)
    if text.isdigit() and int(text) <= 7:
        return int(text)
    raise ValueError(f"day of week {field!r}: {text!r} is not 0-7 or sun-sat")


def _triggers(settings: Settings, *, seed: str | None,
              start: dt.datetime | None = None) -> dict[str, BaseTrigger]:
    """The trigger of each job. `seed` is the installation id (None: no CRL refresh
    trigger, unless `[schedule]` sets one); interval triggers count from `start` (None:
    from the clock, as APScheduler)."""
    tz = settings.timezone
    defaults: dict[str, BaseTrigger | None] = {
        "alerts": CronTrigger(hour=8, minute=30, timezone=tz),
        "digest": CronTrigger(hour=8, minute=45, timezone=tz),
        "heartbeat": IntervalTrigger(minutes=5, timezone=tz, start_date=None if start is None
                                     else start + dt.timedelta(minutes=5)),
        "probe_endpoints": CronTrigger(minute=0, timezone=tz),
    }
    refresh = None if seed is None else JitteredDailyTrigger(seed=seed, timezone=tz)
    triggers = {name: _trigger(settings, name, default, start=start)
                for name, default in {"crl_refresh": refresh, **defaults}.items()}
    return {name: trigger for name, trigger in triggers.items() if trigger is not None}


def build_scheduler(settings: Settings) -> BackgroundScheduler:
    """A scheduler with the database job store, not started and without jobs."""
    engine = make_engine(settings.db_url)
    return BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=engine)},
                               job_defaults=dict(JOB_DEFAULTS), timezone=settings.timezone)


def schedule_jobs(scheduler: BackgroundScheduler, settings: Settings) -> None:
    """Add (or replace) every job; the scheduler must be started (paused is fine)."""
    args = [str(settings.home), settings.db_url]
    for name, trigger in _triggers(settings, seed=installation_id(settings.home)).items():
        scheduler.add_job(run_scheduled, trigger=trigger, args=[name, *args], id=name,
                          name=name, replace_existing=True)


def earliest_next_update(engine: Engine, *, now: dt.datetime) -> dt.datetime | None:
    """The earliest nextUpdate after `now` of a current CRL (what the one-off refresh
    `crl_refresh_next_update` waits for), or None."""
    with engine.connect() as conn:
        value: dt.datetime | None = conn.execute(select(Crl.next_update).where(
            col(Crl.is_current).is_(True), col(Crl.next_update) > now).order_by(
            col(Crl.next_update)).limit(1)).scalar()
    return value


def schedule_next_update_refresh(scheduler: BackgroundScheduler, settings: Settings, *,
                                 now: dt.datetime) -> dt.datetime | None:
    """A one-off refresh 5 minutes after the earliest future nextUpdate of a current CRL."""
    engine = make_engine(settings.db_url)
    try:
        earliest = earliest_next_update(engine, now=now)
    finally:
        engine.dispose()
    if earliest is None:
        return None
    when = next_after_next_update(earliest)
    scheduler.add_job(run_scheduled, trigger=DateTrigger(run_date=when),
                      args=["crl_refresh", str(settings.home), settings.db_url],
                      id=NEXT_UPDATE_JOB, name=NEXT_UPDATE_JOB, replace_existing=True)
    return when


def start(settings: Settings, *, now: dt.datetime, paused: bool = False,
          passphrase: Secret | None = None) -> tuple[BackgroundScheduler, list[str]]:
    """Start a scheduler with every job; run once (now) each stored job whose time passed
    during downtime. Returns the scheduler and the names of the jobs caught up.
    `passphrase` opens the held keys for the jobs that use them (kept in memory only)."""
    _ProcessSecrets.passphrase = passphrase
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    missed = [job.id for job in scheduler.get_jobs()
              if job.next_run_time is not None and job.next_run_time < now]
    schedule_jobs(scheduler, settings)
    schedule_next_update_refresh(scheduler, settings, now=now)
    scheduler.add_listener(_after_refresh(scheduler, settings),
                           EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    for job_id in missed:
        if scheduler.get_job(job_id) is not None:
            scheduler.modify_job(job_id, next_run_time=now)
            log.info("catching up job %s missed during downtime", job_id,
                     extra={"job": job_id})
    if not paused:
        scheduler.resume()
    return scheduler, missed


def _after_refresh(scheduler: BackgroundScheduler, settings: Settings
                   ) -> Callable[[JobExecutionEvent], None]:
    """A listener that, after each CRL refresh (daily or one-off, ok or failed), schedules
    the one-off refresh at the new earliest nextUpdate: the refresh "when a CRL reaches its
    nextUpdate" follows every CRL, not only the one current when `start` ran."""
    def listener(event: JobExecutionEvent) -> None:
        if event.job_id not in {"crl_refresh", NEXT_UPDATE_JOB}:
            return
        try:
            when = schedule_next_update_refresh(scheduler, settings, now=SystemClock().now())
        except Exception:  # the daily refresh still runs; never kill the executor thread
            log.exception("cannot schedule the next-update CRL refresh",
                          extra={"job": NEXT_UPDATE_JOB})
            return
        if when is not None:
            log.info("next-update CRL refresh at %s", when.isoformat(),
                     extra={"job": NEXT_UPDATE_JOB})
    return listener


def describe_jobs(scheduler: BackgroundScheduler) -> list[dict[str, Any]]:
    """Every job: id, trigger and next run time (for `certmgr jobs`)."""
    return [{"job": job.id, "trigger": str(job.trigger), "next_run": job.next_run_time}
            for job in sorted(scheduler.get_jobs(), key=lambda j: j.id)]


def stored_jobs(settings: Settings, engine: Engine) -> list[dict[str, Any]]:
    """`describe_jobs` of the schedule `certmgr serve` stored in the database (empty when
    no `serve` ever ran: the job store's table is then not created). Runs nothing."""
    if not sa.inspect(engine).has_table(_JOB_TABLE):
        return []
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)  # reads the job store; a paused scheduler runs nothing
    try:
        return describe_jobs(scheduler)
    finally:
        scheduler.shutdown(wait=False)


def planned_triggers(settings: Settings) -> dict[str, str]:
    """Each job's trigger as `start` would schedule it, as text (`[schedule]` included;
    no `crl_refresh` before the installation id exists, as in `next_runs`)."""
    return {name: str(trigger)
            for name, trigger in _triggers(settings, seed=_seed(settings)).items()}


def _seed(settings: Settings) -> str | None:
    """The installation id if `start` created it (never created here)."""
    path = settings.home / _INSTALLATION_ID
    seed = path.read_text(encoding="ascii").strip() if path.is_file() else ""
    return seed or None


def next_runs(settings: Settings, *, now: dt.datetime,
              crl_next_update: dt.datetime | None = None) -> list[tuple[str, dt.datetime]]:
    """When each job `start` schedules would run next after `now`, without a scheduler:
    the same triggers (`[schedule]` overrides included), first fire time at or after
    `now`, in UTC, soonest first. No database, no clock, nothing written: it only reads
    the installation id if there is one.

    `crl_refresh` is left out until `start` has created the installation id (its minute
    depends on it), unless `[schedule]` sets it; `crl_next_update` (the earliest future
    nextUpdate of a current CRL) adds the one-off `crl_refresh_next_update`. Interval jobs
    count from `now`, as if the scheduler started then. Raises ConfigError on a bad
    `[schedule]` line."""
    if now.tzinfo is None:
        raise ValueError("next_runs needs an aware `now`")
    out: list[tuple[str, dt.datetime]] = []
    for name, trigger in _triggers(settings, seed=_seed(settings), start=now).items():
        fire = trigger.get_next_fire_time(None, now)
        if fire is not None:
            out.append((name, fire.astimezone(dt.UTC)))
    if crl_next_update is not None and crl_next_update > now:
        out.append((NEXT_UPDATE_JOB, next_after_next_update(crl_next_update)))
    return sorted(out, key=lambda item: (item[1], item[0]))
