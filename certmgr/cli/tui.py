"""`certmgr tui`: the operator console (Textual)."""

from __future__ import annotations

import importlib
from typing import Any

import click

from certmgr.cli._common import AppContext, ExitCode, pass_app
from certmgr.clock import Clock
from certmgr.config import Settings
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
    open_console(settings=app.settings, clock=app.clock)
    return ExitCode.OK
