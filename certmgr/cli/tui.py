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
from certmgr.store.audit import os_user

__all__ = ["open_console", "tui"]


def open_console(*, settings: Settings, clock: Clock, create: bool = False) -> None:
    """Run the console until the operator quits.

    The `tui` package is loaded with `importlib` on purpose: the headless core must
    never import Textual (import-linter contract, and `certmgr --help` stays fast),
    and a plain import inside this function would still be an edge of the static
    import graph that import-linter checks.
    """
    app_module: Any = importlib.import_module("tui.app")
    app_module.run_console(settings=settings, clock=clock, actor=os_user(), create=create)


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
