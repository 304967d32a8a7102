"""`certmgr export ADDRESS --format pem|p12 [--legacy-p12] [--chain] [--out PATH] [--force]
[--deploy-hook CMD] [--json]`: see certmgr.services.export.

Exit codes: 0 exported (and the hook, if any, exited 0); 1 the deploy hook failed (the
files are written); 2 usage, unknown mailbox, no key here, file exists, wrong passphrase.
"""

from __future__ import annotations

from pathlib import Path

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app
from certmgr.cli._passphrase import export_password, key_passphrase, passphrase_file_option
from certmgr.services.export import FORMATS, export_mailbox
from certmgr.store.audit import os_user
from certmgr.store.session import open_store

__all__ = ["export_cmd"]


@click.command("export")
@click.argument("address")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="p12", show_default=True)
@click.option("--legacy-p12", is_flag=True,
              help="3DES/SHA-1 PKCS#12 for old Windows/Java stacks (weak: only when needed).")
@click.option("--chain", is_flag=True, help="Include the CA chain from the trust store.")
@click.option("--out", type=click.Path(path_type=Path),
              help="The .p12 file, or the PEM directory (default: under <home>/export).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--deploy-hook", metavar="CMD",
              help="Command run after the export (no shell), with CERTMGR_EXPORT_CERT/KEY/"
                   "P12/CHAIN and CERTMGR_MAILBOX in its environment; certmgr's passphrase, "
                   "passwords and database password are removed from that environment.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File whose first line is the export password "
                   "(else CERTMGR_EXPORT_PASSWORD, else a prompt).")
@passphrase_file_option
@json_option
@pass_app
def export_cmd(app: AppContext, address: str, fmt: str, legacy_p12: bool, chain: bool,
               out: Path | None, force: bool, deploy_hook: str | None,
               password_file: Path | None, passphrase_file: Path | None,
               as_json: bool) -> int:
    """Export the current certificate and private key of ADDRESS (files mode 0600)."""
    if legacy_p12 and fmt != "p12":
        raise click.UsageError("--legacy-p12 needs --format p12")
    passphrase = key_passphrase(passphrase_file, confirm=False)
    password = export_password(password_file)
    with open_store(app.settings) as store:
        result = export_mailbox(store=store, settings=app.settings, address=address,
                                passphrase=passphrase, export_password=password,
                                at=app.clock.now(), actor=os_user(), fmt=fmt,
                                legacy=legacy_p12, chain=chain, out=out, force=force,
                                deploy_hook=deploy_hook)
    if as_json:
        echo_json(result.to_json())
    else:
        for kind, path in result.files.items():
            click.echo(f"{kind}: {path}")
        if legacy_p12:
            err("note: legacy 3DES PKCS#12 (OpenSSL 3 needs `-legacy` to read it)")
    if result.hook_exit_code is not None:
        if result.hook_exit_code != 0:
            err(f"deploy hook exited with code {result.hook_exit_code}")
            return ExitCode.FINDING
        if not as_json:
            click.echo("deploy hook: exit code 0")
    return ExitCode.OK
