"""Passphrases for private keys: where they come from, and how they stay out of logs.

Sources, first match wins:
1. `--passphrase-file FILE`: its first line (trailing CR/LF stripped). The file
   must be a regular file with no permission for group or others (like ssh
   keys): a readable-by-others file is refused, not warned about, because the
   passphrase is then already exposed.
2. `CERTMGR_PASSPHRASE` in the environment.
3. an interactive prompt (hidden input; asked twice when `confirm=True`, i.e.
   when a new key is being protected).
A passphrase is never taken from the command line (it would show in `ps`).

The value is returned as a `Secret`: a `bytes` subclass whose `repr`/`str` are
masked, so that tracebacks, log lines and assertion messages never show it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from certmgr.errors import PassphraseError

__all__ = ["ENV_PASSPHRASE", "Secret", "read_passphrase"]

ENV_PASSPHRASE = "CERTMGR_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
_MAX_FILE_BYTES = 64 * 1024


class Secret(bytes):
    """Bytes that never print themselves: `repr()` is `Secret('***')`, `str()` is `***`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, format_spec: str) -> str:
        return "***"

    def reveal(self) -> bytes:
        """The plain bytes, for the one call that needs them (key encryption/decryption)."""
        return bytes(self)


def read_passphrase(
    *,
    env: Mapping[str, str],
    passphrase_file: Path | None,
    prompt: Callable[[str], str] | None,
    confirm: bool,
) -> Secret:
    """The passphrase from the first available source (see the module docstring).

    `prompt` is e.g. `getpass.getpass` (None when not interactive). Raises
    PassphraseError when no source is available, the passphrase is empty, the
    file is unsafe or unreadable, or the confirmation differs. Messages never
    contain the passphrase.
    """
    if passphrase_file is not None:
        value = _from_file(passphrase_file)
    elif ENV_PASSPHRASE in env:
        value = env[ENV_PASSPHRASE].encode("utf-8")
        if not value:
            raise PassphraseError(f"{ENV_PASSPHRASE} is set but empty")
    elif prompt is not None:
        value = _from_prompt(prompt, confirm=confirm)
    else:
        raise PassphraseError(
            f"a passphrase is needed: set {ENV_PASSPHRASE}, use --passphrase-file, "
            "or run in a terminal"
        )
    return Secret(value)


def _from_file(path: Path) -> bytes:
    flags = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise PassphraseError(f"cannot open passphrase file: {exc.strerror}", source=path) from None
    try:
        # fstat on the opened descriptor: the checked file is the file read.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PassphraseError("passphrase file is not a regular file", source=path)
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise PassphraseError(
                f"passphrase file has mode {mode:04o}: group and others must have no access "
                f"(chmod 600 {path})",
                source=path,
            )
        if info.st_size > _MAX_FILE_BYTES:
            raise PassphraseError("passphrase file is too large", source=path)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    first = data.split(b"\n", 1)[0].removesuffix(b"\r")
    if not first:
        raise PassphraseError("the first line of the passphrase file is empty", source=path)
    return first


def _from_prompt(prompt: Callable[[str], str], *, confirm: bool) -> bytes:
    first = prompt("Passphrase: ")
    if not first:
        raise PassphraseError("empty passphrase")
    if confirm and prompt("Passphrase (again): ") != first:
        raise PassphraseError("the two passphrases differ")
    return first.encode("utf-8")
