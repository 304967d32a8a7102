"""`certmgr tui`: the operator console (Textual)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from certmgr.cli._common import AppContext, ExitCode, pass_app
from certmgr.clock import Clock
from certmgr.config import Settings
from certmgr.errors import InputError
from certmgr.pki.keys import DEFAULT_KDF_ROUNDS
from certmgr.services.console import Console
from certmgr.store.audit import os_user

__all__ = ["make_console", "open_console", "tui"]


def make_console(settings: Settings, *, create: bool = False,
                 kdf_rounds: int = DEFAULT_KDF_ROUNDS) -> Console:
    """The console's services handle, with what only an entry point may hand it: the
    scheduler's planner (the jobs' next runs) and the job runner ("run now")."""
    from certmgr.jobs import JOBS, run_job  # noqa: PLC0415 - the console only
    from certmgr.scheduler import next_runs  # noqa: PLC0415

    return Console(settings, create=create, kdf_rounds=kdf_rounds, planner=next_runs,
                   runner=run_job, job_names=tuple(JOBS))


def open_console(*, settings: Settings, clock: Clock, create: bool = False) -> None:
    """Run the console until the operator quits.

    The `tui` package is loaded with `importlib` on purpose: the headless core must
    never import Textual (import-linter contract, and `certmgr --help` stays fast),
    and a plain import inside this function would still be an edge of the static
    import graph that import-linter checks.
    """
    app_module: Any = importlib.import_module("tui.app")
    app_module.run_console(settings=settings, clock=clock, actor=os_user(),
                           console=make_console(settings, create=create))


@click.command()
@pass_app
def tui(app: AppContext) -> int:
    """Open the operator console: dashboard, mailboxes, actions (keys: ? for help)."""
    # Without a terminal (cron, a pipe, CI) nobody can drive the console: say so at once
    # rather than draw escape codes into a file and wait forever for a key.
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InputError("the console needs a terminal (stdin and stdout are not one); "
                         "use `certmgr status`, `mailbox list` or `report` in scripts",
                         source="certmgr tui")
    open_console(settings=app.settings, clock=app.clock)
    return ExitCode.OK
