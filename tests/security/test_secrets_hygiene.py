"""Secrets never travel on the command line: no option of any command takes a passphrase,
a password or a key as its value (only a file that holds it), and what the process
shows about itself (`ps`) never contains one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click

from certmgr.cli import main

from .conftest import FIXED, PASSPHRASE

_SECRET_WORDS = ("passphrase", "password", "secret", "token", "private-key", "revocation-code")


def _commands(command: click.Command, ctx: click.Context
              ) -> Iterator[tuple[str, click.Command]]:
    """Every command and subcommand (the top group loads its commands lazily)."""
    yield ctx.command_path, command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from _commands(sub, click.Context(sub, info_name=name, parent=ctx))


def test_no_option_takes_a_secret_as_its_value() -> None:
    commands = dict(_commands(main, click.Context(main, info_name="certmgr")))
    flags = {f"{name} {flag}" for name, command in commands.items()
             for param in command.params if isinstance(param, click.Option)
             and not param.is_flag for flag in param.opts}
    assert "certmgr import --p12-password-file" in flags  # the walk reaches subcommands
    assert "certmgr order revocation-code --passphrase-file" in flags
    offending = [f for f in flags if any(w in f.rsplit(" ", 1)[1] for w in _SECRET_WORDS)
                 and not f.endswith("-file")]
    assert offending == []


def test_ps_never_shows_the_passphrase(tmp_path: Path) -> None:
    """A long import of PKCS#12 files (the key passphrase in the environment and in a file):
    its command line, as any local user reads it in /proc, holds neither."""
    secret = tmp_path / "secret"
    secret.write_text(PASSPHRASE + "\n")
    secret.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    env["CERTMGR_P12_PASSWORD"] = "fixture-p12-password"
    proc = subprocess.Popen(
        [sys.executable, "-m", "certmgr", "--home", str(tmp_path / "home"), "import",
         FIXED / "bundles" / "el-org-auth-valid.p12", "--passphrase-file", secret],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[bytes] = []
    while proc.poll() is None:
        try:
            seen.append(Path(f"/proc/{proc.pid}/cmdline").read_bytes())
        except OSError:
            break
        time.sleep(0.01)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert seen
    assert all(PASSPHRASE.encode() not in line and b"fixture-p12-password" not in line
               for line in seen)
    assert PASSPHRASE not in out + err
