"""`certmgr jobs [run NAME]`: the scheduled jobs, their next runs and last results.

Exit codes: 0 ok; 1 the job run failed (`jobs run`); 2 unknown job, --passphrase-file or
--all with a job that opens no key, an unusable passphrase source, or a bad `[schedule]`
line; 3 the store failed.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app
from certmgr.cli._passphrase import key_passphrase, passphrase_file_option
from certmgr.secrets import ENV_PASSPHRASE
from certmgr.triggers import CRL_WINDOW

__all__ = ["jobs"]


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def jobs(ctx: click.Context, as_json: bool) -> int | None:
    """List the scheduled jobs with their next run and last result.

    The next run is the one `certmgr serve` stored in the database, or, before any `serve`
    ran (or for a job it has not stored), the one planned from the configuration."""
    if ctx.invoked_subcommand is not None:
        return None
    app = ctx.find_object(AppContext)
    assert app is not None
    return _list(app, as_json=as_json)


def _list(app: AppContext, *, as_json: bool) -> int:
    from sqlalchemy import func  # noqa: PLC0415 - lazy CLI
    from sqlmodel import col, select  # noqa: PLC0415

    from certmgr.jobs import JOBS  # noqa: PLC0415
    from certmgr.scheduler import (  # noqa: PLC0415
        earliest_next_update,
        next_runs,
        planned_triggers,
        stored_jobs,
    )
    from certmgr.store.models_alerts import JobRun  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    settings, now = app.settings, app.clock.now()
    with open_store(settings) as store:
        stored = {d["job"]: d for d in stored_jobs(settings, store.engine)}
        planned = dict(next_runs(settings, now=now,
                                 crl_next_update=earliest_next_update(store.engine, now=now)))
        newest = select(func.max(col(JobRun.id))).group_by(col(JobRun.job))
        with store.sessions() as session:  # each job's newest run, not the whole history
            last = {row.job: row for row in session.scalars(
                select(JobRun).where(col(JobRun.id).in_(newest)))}
    triggers = planned_triggers(settings)
    rows: list[dict[str, Any]] = []
    for name in sorted(set(JOBS) | set(stored) | set(planned)):
        run = last.get(name)
        nxt, source, trigger = _next_run(name, stored, planned, triggers)
        rows.append({"job": name, "trigger": trigger, "next_run": nxt,
                     "next_run_source": source,
                     "last_run": None if run is None else run.started_at,
                     "last_ok": None if run is None else run.ok,
                     "last_error": None if run is None else run.error})
    if as_json:
        echo_json({"jobs": rows, "schedule_stored": bool(stored)})
        return ExitCode.OK
    tz = ZoneInfo(settings.timezone)
    for r in rows:
        when = _UNPLANNED.get(r["job"], "-") if r["next_run"] is None else (
            f"{r['next_run'].astimezone(tz):%Y-%m-%d %H:%M %Z} ({_SOURCES[r['next_run_source']]})")
        result = {None: "never run", True: "ok", False: "FAILED"}[r["last_ok"]]
        click.echo(f"{r['job']:<24} next {when:<38} last {result}"
                   + ("" if r["last_error"] is None else f" ({r['last_error']})"))
    if not stored:
        click.echo("(no schedule stored yet: next runs are planned from the configuration; "
                   "`certmgr serve` stores and runs them)")
    return ExitCode.OK


_SOURCES = {"serve": "stored by serve", "config": "planned"}
# its minute in the window comes from the installation id, created by the first `serve`
_UNPLANNED = {"crl_refresh": f"daily {CRL_WINDOW[0]:%H:%M}-{CRL_WINDOW[1]:%H:%M}, minute "
                             "set by serve",
              "scan": "after crl_refresh"}


def _next_run(name: str, stored: dict[str, dict[str, Any]], planned: dict[str, dt.datetime],
              triggers: dict[str, str]) -> tuple[dt.datetime | None, str | None, str | None]:
    """A job's next run, where it comes from ("serve": its job store, else "config") and
    its trigger; `scan` runs right after `crl_refresh`, so it shares its next run."""
    if name in stored:
        job = stored[name]
        return job["next_run"], None if job["next_run"] is None else "serve", job["trigger"]
    if name in planned:
        return planned[name], "config", triggers.get(name, "date")
    if name == "scan":
        after, source, _trigger = _next_run("crl_refresh", stored, planned, triggers)
        return after, source, "after crl_refresh"
    return None, None, triggers.get(name, _UNPLANNED.get(name))


@jobs.command("run")
@click.argument("name")
@passphrase_file_option
@click.option("--all", "every", is_flag=True,
              help="probe_endpoints: probe every endpoint, not only those due this hour.")
@json_option
@pass_app
def run_cmd(app: AppContext, name: str, passphrase_file: Path | None, every: bool,
            as_json: bool) -> int:
    """Run job NAME once now (crl_refresh, scan, alerts, digest, heartbeat, probe_endpoints).

    probe_endpoints probes the endpoints whose daily slot falls in this hour (--all: every
    endpoint), presenting each mailbox's certificate and held key when the key passphrase
    is given (--passphrase-file, CERTMGR_PASSPHRASE, or a prompt on a terminal); without
    one it probes without client certificates, as `certmgr serve` does."""
    from certmgr.errors import JobError  # noqa: PLC0415
    from certmgr.jobs import JOBS, KEY_JOBS, run_job  # noqa: PLC0415

    if name not in JOBS:
        raise click.BadParameter(f"unknown job {name!r} (one of {', '.join(JOBS)})",
                                 param_hint="NAME")
    if (passphrase_file is not None or every) and name not in KEY_JOBS:
        raise click.UsageError(f"--passphrase-file and --all go with the jobs that open keys "
                               f"({', '.join(sorted(KEY_JOBS))}), not {name}")
    passphrase = None
    if name in KEY_JOBS and (passphrase_file is not None or ENV_PASSPHRASE in os.environ
                             or sys.stdin.isatty()):
        passphrase = key_passphrase(passphrase_file, confirm=False)
    try:
        details = run_job(name, app.settings, now=app.clock.now(), passphrase=passphrase,
                          every=every)
    except JobError as exc:
        if as_json:
            echo_json({"job": name, "ok": False, "error": str(exc)})
        else:
            err(f"error: {exc}")
        return ExitCode.FINDING
    if as_json:
        echo_json({"job": name, "ok": True, "details": details})
    else:
        click.echo(f"{name}: ok {details}")
    return ExitCode.OK
