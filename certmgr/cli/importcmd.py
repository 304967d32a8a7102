"""`certmgr import PATH...`: certificates, chains, PKCS#7/#12 and CRLs into the inventory.

Secrets (never argv): the key passphrase comes from --passphrase-file, else
CERTMGR_PASSPHRASE, else (a terminal, and a PKCS#12 among the inputs) a prompt. A
PKCS#12's private key is re-encrypted under it and kept in `keys/`. The PKCS#12's own
password is --p12-password-file, else CERTMGR_P12_PASSWORD, else the key passphrase.
Without any passphrase, unprotected PKCS#12 still load (their key is ignored) and
protected ones are rejected.

Exit codes: 0 every file imported (or already known); 1 a file was rejected (unreadable,
nothing usable, an impostor CA); 2 bad usage, an unknown or archived --mailbox, an unsafe
passphrase file, a PKCS#12 the password does not open (checked before anything is
stored: nothing changes). One line per file on stdout; warnings on stderr; a progress bar
on stderr only when it is a terminal.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app
from certmgr.errors import ConflictError, NotFoundError, PassphraseError
from certmgr.secrets import ENV_PASSPHRASE, Secret, read_passphrase

if TYPE_CHECKING:
    from certmgr.services.importer import FileReport, ImportReport, Progress
    from certmgr.services.intake import KeyIntake

# The services (and SQLAlchemy, Alembic) are imported inside the commands: `certmgr --help`
# loads every command module and must stay light.
_ALL_KINDS = frozenset({"leaf", "ca", "crl"})

__all__ = ["ENV_P12_PASSWORD", "import_cmd", "print_import", "progress_bar", "run_import"]

ENV_P12_PASSWORD = "CERTMGR_P12_PASSWORD"  # noqa: S105 - a variable name, not a secret

_PLURAL = {"certificates": ("certificate", "certificates"),
           "cas": ("CA certificate", "CA certificates"), "crls": ("CRL", "CRLs")}


@contextmanager
def progress_bar(description: str) -> Iterator[Progress | None]:
    """A rich progress callback when stderr is a terminal, else None (piped: no bar)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console  # noqa: PLC0415 - only on a terminal
    from rich.progress import Progress as RichProgress  # noqa: PLC0415

    with RichProgress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _counts(counts: dict[str, int]) -> str:
    parts = [f"{n} {_PLURAL[k][n != 1]}" for k, n in counts.items() if n]
    return ", ".join(parts)


def _keyless(report: FileReport) -> list[str]:
    """Fingerprints of the file's leaf certificates for which no private key is held here."""
    from certmgr.services.importer import LeafOutcome  # noqa: PLC0415

    return [i.fingerprint for i in report.items if isinstance(i, LeafOutcome)
            and i.match is not None and i.match.status == "no-key"]


def _line(report: FileReport) -> str:
    from certmgr.services.crls import CrlOutcome  # noqa: PLC0415
    from certmgr.services.intake import NO_KEY  # noqa: PLC0415

    if report.error is not None:
        return f"rejected {report.error}"
    parts: list[str] = []
    added = _counts(report.added())
    if added:
        parts.append(f"added {added}")
    if report.known:
        parts.append(f"{report.known} already known")
    parts += [f"bound to {b.address} ({b.role})" for b in report.bound]
    parts += [f"refused: {o.finding.message}" for o in report.refused if o.finding is not None]
    parts += [f"CRL of {i.issuer} kept unverified (issuer CA not in the store)"
              for i in report.items if isinstance(i, CrlOutcome) and not i.verified]
    parts += list(report.notes)
    # Issue 5: a certificate whose key we do not hold is imported but said so, once per file.
    keyless = len(_keyless(report))
    if keyless:
        parts.append(NO_KEY if keyless == 1 else f"{NO_KEY} for {keyless} certificates")
    return f"{report.status:<8} {report.path}: {'; '.join(parts) or 'nothing to do'}"


def print_import(report: ImportReport, *, as_json: bool) -> int:
    """Print `report` (text or JSON) and return the exit code."""
    from certmgr.services.trust import CaOutcome  # noqa: PLC0415

    for file in report.files:
        for item in file.items:
            if isinstance(item, CaOutcome) and item.warning:
                err(f"warning: {item.warning}")
    keyless = {file.path: _keyless(file) for file in report.files}
    total_keyless = sum(len(v) for v in keyless.values())
    if as_json:
        document = report.to_json()
        # `no_private_key`: fingerprints of the leaves imported without a key held here
        for entry in document["files"]:
            entry["no_private_key"] = keyless.get(entry["file"], [])
        document["totals"]["no_private_key"] = total_keyless
        echo_json(document)
    else:
        for file in report.files:
            click.echo(_line(file))
        totals = report.totals()
        added = _counts({k: totals.get(k, 0) for k in _PLURAL}) or "nothing new"
        tail = f"; {total_keyless} with no private key here" if total_keyless else ""
        click.echo(f"{totals['files']} file(s): {added}; {totals['rejected']} rejected{tail}")
    return ExitCode.OK if report.ok else ExitCode.FINDING


def _key_passphrase(paths: tuple[Path, ...], passphrase_file: Path | None, *,
                    keys_wanted: bool) -> Secret | None:
    """The key passphrase, or None when there is none to be had without asking for
    nothing (no file, no environment, and no PKCS#12 to ask for on a terminal)."""
    if passphrase_file is not None or ENV_PASSPHRASE in os.environ:
        return read_passphrase(env=os.environ, passphrase_file=passphrase_file, prompt=None,
                               confirm=False)
    if not (keys_wanted and sys.stdin.isatty()):
        return None
    from certmgr.services.importer import has_pkcs12  # noqa: PLC0415

    if not has_pkcs12(list(paths)):
        return None
    # it encrypts a key that will live here: asked twice, as for `csr new`
    return read_passphrase(env={}, passphrase_file=None, prompt=getpass.getpass, confirm=True)


def _p12_password(p12_password_file: Path | None, default: Secret | None) -> Secret | None:
    if p12_password_file is None and ENV_P12_PASSWORD not in os.environ:
        return default
    env = {ENV_PASSPHRASE: os.environ[ENV_P12_PASSWORD]} if ENV_P12_PASSWORD in os.environ else {}
    return read_passphrase(env=env, passphrase_file=p12_password_file, prompt=None,
                           confirm=False)


def _key_intake(app: AppContext, passphrase: Secret | None) -> KeyIntake | None:
    if passphrase is None:
        return None
    from certmgr.services.intake import KeyIntake  # noqa: PLC0415

    return KeyIntake.for_settings(app.settings, passphrase=passphrase.reveal())


def run_import(app: AppContext, paths: tuple[Path, ...], *, accept: frozenset[str],
               as_json: bool, mailbox: str | None = None,
               passphrase_file: Path | None = None,
               p12_password_file: Path | None = None) -> int:
    """The shared body of `import`, `trust import` and `crl import`."""
    from certmgr.services.binding import BindingRules  # noqa: PLC0415
    from certmgr.services.importer import import_paths  # noqa: PLC0415
    from certmgr.services.status import Thresholds  # noqa: PLC0415
    from certmgr.store.audit import os_user  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    keys_wanted = "leaf" in accept
    key_passphrase = _key_passphrase(paths, passphrase_file, keys_wanted=keys_wanted)
    p12_password = _p12_password(p12_password_file, key_passphrase)
    keys = _key_intake(app, key_passphrase) if keys_wanted else None
    rules = BindingRules.from_settings(app.settings)
    with open_store(app.settings, create=True) as store, progress_bar("importing") as bar:
        try:
            report = import_paths(
                store=store, paths=list(paths), at=app.clock.now(), actor=os_user(),
                mailbox=mailbox, rules=rules, accept=accept, progress=bar, keys=keys,
                passphrase=None if p12_password is None else p12_password.reveal(),
                stop_on_wrong_passphrase=p12_password is not None,
                thresholds=Thresholds.from_settings(app.settings), revalidate=True)
        except (NotFoundError, ConflictError) as exc:
            err(f"error: {exc}")
            return ExitCode.USAGE
        except PassphraseError as exc:  # a PKCS#12 it does not open: nothing was stored
            hint = "" if p12_password is not key_passphrase else (
                f" (if its password is not the key passphrase: --p12-password-file or "
                f"{ENV_P12_PASSWORD})")
            err(f"error: {exc}{hint}")
            return ExitCode.USAGE
    return print_import(report, as_json=as_json)


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--mailbox", metavar="ADDRESS",
              help="Bind the leaf certificates to this mailbox (else the binding rules apply).")
@click.option("--passphrase-file", type=click.Path(path_type=Path, dir_okay=False),
              help="File (mode 0600) whose first line is the key passphrase: PKCS#12 keys "
                   f"are kept encrypted under it. Else {ENV_PASSPHRASE}, else a prompt "
                   "(terminal only, when a PKCS#12 is imported).")
@click.option("--p12-password-file", type=click.Path(path_type=Path, dir_okay=False),
              help="File (mode 0600) whose first line opens the PKCS#12 files, when it is "
                   f"not the key passphrase. Else {ENV_P12_PASSWORD}.")
@json_option
@pass_app
def import_cmd(app: AppContext, paths: tuple[Path, ...], mailbox: str | None,
               passphrase_file: Path | None, p12_password_file: Path | None,
               as_json: bool) -> int:
    """Import certificates, chains, PKCS#7, PKCS#12 and CRLs (files or directories).

    CA certificates go to the CA store (pins checked, impostors refused), CRLs to the
    CRL store, leaves to the inventory, bound to --mailbox or by the binding rules.
    A PKCS#12's private key is kept in keys/, encrypted under the key passphrase, and
    its certificate matched to our renewal like any issued certificate. Importing twice
    changes nothing.
    """
    return run_import(app, paths, accept=_ALL_KINDS, as_json=as_json, mailbox=mailbox,
                      passphrase_file=passphrase_file, p12_password_file=p12_password_file)
