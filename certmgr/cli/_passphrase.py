"""Passphrases and passwords for the enrolment commands: file, environment or prompt."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from certmgr.errors import PassphraseError
from certmgr.secrets import Secret, read_passphrase
from certmgr.services.export import ENV_EXPORT_PASSWORD

__all__ = ["ENV_EXPORT_PASSWORD", "export_password", "key_passphrase", "passphrase_file_option"]

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
    """The export password: --password-file, CERTMGR_EXPORT_PASSWORD, or a prompt (asked
    twice). PassphraseError names these sources (not the key passphrase's) when none is
    usable."""
    if password_file is not None:
        return read_passphrase(env={}, passphrase_file=password_file, prompt=None,
                               confirm=False)
    if ENV_EXPORT_PASSWORD in os.environ:
        value = os.environ[ENV_EXPORT_PASSWORD]
        if not value:
            raise PassphraseError(f"{ENV_EXPORT_PASSWORD} is set but empty")
        return Secret(value.encode("utf-8"))
    if not sys.stdin.isatty():
        raise PassphraseError(f"an export password is needed: set {ENV_EXPORT_PASSWORD}, "
                              "use --password-file, or run in a terminal")
    return read_passphrase(env={}, passphrase_file=None, prompt=_export_prompt, confirm=True)


def _export_prompt(text: str) -> str:
    return getpass.getpass(text.replace("Passphrase", "Export password"))
