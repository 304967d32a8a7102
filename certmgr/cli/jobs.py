"""`certmgr jobs [run NAME]`: the scheduled jobs, their next runs and last results.

Exit codes: 0 ok; 1 the job run failed (`jobs run`); 2 unknown job, --passphrase-file or
--all with a job that opens no key, or an unusable passphrase source; 3 the store failed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app
from certmgr.cli._passphrase import key_passphrase, passphrase_file_option
from certmgr.secrets import ENV_PASSPHRASE

__all__ = ["jobs"]


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def jobs(ctx: click.Context, as_json: bool) -> int | None:
    """List the scheduled jobs with their next run and last result."""
    if ctx.invoked_subcommand is not None:
        return None
    app = ctx.find_object(AppContext)
    assert app is not None
    return _list(app, as_json=as_json)


def _list(app: AppContext, *, as_json: bool) -> int:
    from sqlmodel import col, select  # noqa: PLC0415 - lazy CLI

    from certmgr.jobs import JOBS  # noqa: PLC0415
    from certmgr.scheduler import build_scheduler, describe_jobs  # noqa: PLC0415
    from certmgr.store.models_alerts import JobRun  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    settings = app.settings
    with open_store(settings) as store:
        scheduler = build_scheduler(settings)
        scheduler.start(paused=True)  # reads the job store; runs nothing
        try:
            scheduled = {d["job"]: d for d in describe_jobs(scheduler)}
        finally:
            scheduler.shutdown(wait=False)
        last: dict[str, JobRun] = {}
        with store.sessions() as session:
            for row in session.scalars(select(JobRun).order_by(col(JobRun.started_at))):
                last[row.job] = row
    rows: list[dict[str, Any]] = []
    for name in sorted(set(JOBS) | set(scheduled)):
        run = last.get(name)
        rows.append({"job": name, "trigger": scheduled.get(name, {}).get("trigger"),
                     "next_run": scheduled.get(name, {}).get("next_run"),
                     "last_run": None if run is None else run.started_at,
                     "last_ok": None if run is None else run.ok,
                     "last_error": None if run is None else run.error})
    if as_json:
        echo_json({"jobs": rows})
        return ExitCode.OK
    for r in rows:
        nxt = "-" if r["next_run"] is None else f"{r['next_run']:%Y-%m-%d %H:%M %Z}"
        result = {None: "never run", True: "ok", False: "FAILED"}[r["last_ok"]]
        click.echo(f"{r['job']:<24} next {nxt:<22} last {result}"
                   + ("" if r["last_error"] is None else f" ({r['last_error']})"))
    if not scheduled:
        click.echo("(no schedule stored yet: `certmgr serve` creates it)")
    return ExitCode.OK


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
