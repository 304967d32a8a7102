"""`certmgr demo`: a fresh demo PKI and inventory in the home directory."""

from __future__ import annotations

import click

from certmgr.cli._common import AppContext, ExitCode, pass_app


@click.command()
@click.option("--headless", is_flag=True, help="Print the demo as plain text and exit.")
@pass_app
def demo(app: AppContext, headless: bool) -> int:
    """Build a demo PKI relative to now and show what certmgr does with it."""
    click.echo(f"certmgr demo (home: {app.settings.home}) headless={headless}")
    return ExitCode.OK
