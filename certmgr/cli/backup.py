"""`certmgr backup FILE` and `certmgr restore FILE`: encrypted archives of a SQLite home.

The passphrase comes from --passphrase-file, CERTMGR_PASSPHRASE or a prompt (never
argv). Exit codes: 0 done; 2 bad input (PostgreSQL store, non-empty home, wrong
passphrase, altered or foreign archive); 3 the write failed.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, json_option, pass_app
from certmgr.secrets import ENV_PASSPHRASE, Secret, read_passphrase

__all__ = ["backup_cmd", "restore_cmd"]

_PASSPHRASE_HELP = (f"File (mode 0600) whose first line is the passphrase. Else {ENV_PASSPHRASE}, "
                    "else a prompt.")


def _passphrase(passphrase_file: Path | None, *, confirm: bool) -> Secret:
    prompt = getpass.getpass if sys.stdin.isatty() else None
    return read_passphrase(env=os.environ, passphrase_file=passphrase_file, prompt=prompt,
                           confirm=confirm)


@click.command("backup")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--passphrase-file", type=click.Path(path_type=Path, dir_okay=False),
              help=_PASSPHRASE_HELP)
@json_option
@pass_app
def backup_cmd(app: AppContext, file: Path, passphrase_file: Path | None, as_json: bool) -> int:
    """Write an encrypted archive of the database and keys (safe while `serve` runs).

    SQLite only: back up a PostgreSQL database with pg_dump.
    """
    from certmgr.services.backup import create_backup  # noqa: PLC0415

    passphrase = _passphrase(passphrase_file, confirm=True)
    report = create_backup(settings=app.settings, out=file, passphrase=passphrase.reveal(),
                           at=app.clock.now())
    for warning in report.warnings:
        click.echo(f"certmgr: warning: {warning}", err=True)
    if as_json:
        echo_json(report.to_json())
    else:
        click.echo(f"backup written to {file}: {len(report.files)} file(s), "
                   f"{report.total_bytes} bytes, schema revision {report.revision or '-'}")
    return ExitCode.OK


@click.command("restore")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--passphrase-file", type=click.Path(path_type=Path, dir_okay=False),
              help=_PASSPHRASE_HELP)
@json_option
@pass_app
def restore_cmd(app: AppContext, file: Path, passphrase_file: Path | None, as_json: bool) -> int:
    """Restore a backup into an EMPTY or absent home (certmgr --home NEW restore FILE)."""
    from certmgr.services.backup import restore_backup  # noqa: PLC0415

    passphrase = _passphrase(passphrase_file, confirm=False)
    report = restore_backup(settings=app.settings, archive=file, passphrase=passphrase.reveal())
    if as_json:
        echo_json(report.to_json())
    else:
        click.echo(f"restored {len(report.files)} file(s) into {app.settings.home} "
                   f"(backup of {report.created_at:%Y-%m-%d %H:%M} UTC, schema revision "
                   f"{report.revision or '-'}); run `certmgr doctor` and `certmgr audit verify`")
    return ExitCode.OK
