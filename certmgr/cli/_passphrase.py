"""Passphrases and passwords for the enrolment commands: file, environment or prompt."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from certmgr.secrets import Secret, read_passphrase

__all__ = ["ENV_EXPORT_PASSWORD", "export_password", "key_passphrase", "passphrase_file_option"]

ENV_EXPORT_PASSWORD = "CERTMGR_EXPORT_PASSWORD"  # noqa: S105 - a variable name

P = ParamSpec("P")
R = TypeVar("R")


def passphrase_file_option(func: Callable[P, R]) -> Callable[P, R]:
    """Add `--passphrase-file FILE` (the key passphrase)."""
    return click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
                        help="File whose first line is the key passphrase "
                             "(else CERTMGR_PASSPHRASE, else a prompt).")(func)


def key_passphrase(passphrase_file: Path | None, *, confirm: bool) -> Secret:
    """The key passphrase: --passphrase-file, CERTMGR_PASSPHRASE, or a prompt (never argv)."""
    prompt = getpass.getpass if sys.stdin.isatty() else None
    return read_passphrase(env=os.environ, passphrase_file=passphrase_file, prompt=prompt,
                           confirm=confirm)


def export_password(password_file: Path | None) -> Secret:
    """The export password: --password-file, CERTMGR_EXPORT_PASSWORD, or a prompt."""
    env = {}
    if ENV_EXPORT_PASSWORD in os.environ:
        env["CERTMGR_PASSPHRASE"] = os.environ[ENV_EXPORT_PASSWORD]
    prompt = getpass.getpass if sys.stdin.isatty() else None
    return read_passphrase(env=env, passphrase_file=password_file, prompt=prompt, confirm=True)
