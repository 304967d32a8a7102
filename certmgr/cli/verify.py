"""`certmgr verify` and `certmgr inspect`."""

from __future__ import annotations

import click

from certmgr.cli._common import ExitCode


@click.command()
def verify() -> int:
    """Validate certificates (path, revocation, IGC Santé profile)."""
    return ExitCode.OK


@click.command("inspect")
def inspect_cmd() -> int:
    """Show the facts and IGC Santé classification of certificates."""
    return ExitCode.OK
