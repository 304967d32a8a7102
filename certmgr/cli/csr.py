"""`certmgr csr ...`: certificate signing requests for IGC Santé products.

`certmgr csr lint FILE... [--profile P] [--service S] [--json]`
exit 0: no ERROR finding; 1: at least one ERROR finding; 2: a file is
unreadable or not a CSR (one line on stderr naming it).

`certmgr csr new ADDRESS | --due [--within DAYS] | --from-csv FILE` (see
`certmgr.services.enrol`): key + CSR + a CSR_READY renewal per mailbox.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app
from certmgr.cli._passphrase import key_passphrase, passphrase_file_option
from certmgr.pki.csr import DEFAULT_PROFILE, PROFILES
from certmgr.pki.csr_lint import lint_csr
from certmgr.pki.findings import Finding, Severity
from certmgr.pki.keys import KeySpec
from certmgr.pki.load import read_input
from certmgr.services.enrol import (
    BatchReport,
    KeyOptions,
    due_addresses,
    generate_csr,
    generate_csrs,
    next_steps,
)
from certmgr.store.audit import os_user
from certmgr.store.session import Store, open_store

__all__ = ["csr"]


@click.group()
def csr() -> None:
    """Create and check certificate signing requests for IGC Santé."""


@csr.command("lint")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES), case_sensitive=False),
    help="IGC Santé product the request is for (checks the requested extensions too).",
)
@click.option("--service", metavar="NAME", help="Target service with CN rules (e.g. INSI).")
@json_option
def lint(files: tuple[Path, ...], profile: str | None, service: str | None, as_json: bool) -> int:
    """Check CSRs (made by certmgr, openssl or anything else) against IGC Santé's rules.

    \b
    Exit codes: 0 no error finding, 1 an error finding (ANS would reject it),
                2 a file is unreadable or not a CSR.
    """
    results: list[tuple[Path, tuple[Finding, ...]]] = []
    for path in files:
        data = read_input(path)
        results.append((path, lint_csr(data, profile=profile, service=service, source=str(path))))
    failed = any(f.severity >= Severity.ERROR for _, fs in results for f in fs)
    if as_json:
        echo_json(
            [
                {
                    "file": str(path),
                    "ok": not any(f.severity >= Severity.ERROR for f in fs),
                    "findings": [f.to_json() for f in fs],
                }
                for path, fs in results
            ]
        )
    else:
        for path, fs in results:
            if not fs:
                click.echo(f"{path}: ok")
            for finding in fs:
                click.echo(f"{path}: {finding.severity} {finding.code}: {finding.message}")
    return ExitCode.FINDING if failed else ExitCode.OK


@csr.command("new")
@click.argument("address", required=False)
@click.option("--profile", type=click.Choice(sorted(PROFILES), case_sensitive=False),
              default=DEFAULT_PROFILE, show_default=True, help="IGC Santé product.")
@click.option("--key-size", type=click.Choice(["2048", "3072", "4096"]), default="2048",
              show_default=True, help="RSA key size (IGC Santé issues 2048).")
@click.option("--ec-p256", is_flag=True,
              help="EC P-256 key instead of RSA (IGC Santé is not known to accept it).")
@click.option("--cn", metavar="CN", help="Common name (default: the mailbox address).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the CSR files (default: <home>/csr).")
@click.option("--insecure-plaintext-key", is_flag=True,
              help="Store the private key unencrypted (NOT recommended).")
@click.option("--due", is_flag=True, help="Every mailbox that needs a renewal.")
@click.option("--within", "within_days", type=click.IntRange(min=0), metavar="DAYS",
              help="With --due: certificates ending within DAYS (default: renew_soon_days).")
@click.option("--from-csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Every mailbox listed in FILE (column `address`, or the first column).")
@click.option("--processes", type=click.IntRange(min=1), help="Worker processes (batches).")
@passphrase_file_option
@json_option
@pass_app
def new(app: AppContext, address: str | None, profile: str, key_size: str, ec_p256: bool,
        cn: str | None, out_dir: Path | None, insecure_plaintext_key: bool, due: bool,
        within_days: int | None, csv_file: Path | None, processes: int | None,
        passphrase_file: Path | None, as_json: bool) -> int:
    """Create a private key and a CSR for ADDRESS (or --due / --from-csv mailboxes).

    The key is encrypted under the passphrase (CERTMGR_PASSPHRASE, --passphrase-file or
    a prompt; never on the command line) and written 0600 under <home>/keys before the
    database refers to it.

    \b
    Exit codes: 0 created, 1 a mailbox of a batch failed, 2 usage/unknown mailbox/
                renewal already under way.
    """
    modes = sum((address is not None, due, csv_file is not None))
    if modes != 1:
        raise click.UsageError("give exactly one of ADDRESS, --due or --from-csv")
    if cn is not None and address is None:
        raise click.UsageError("--cn applies to a single ADDRESS")
    if ec_p256:
        err("warning: EC P-256 requested: IGC Santé is not known to accept EC keys")
    options = KeyOptions(algorithm=KeySpec.EC_P256 if ec_p256 else KeySpec.parse(
        f"rsa{key_size}"), plaintext=insecure_plaintext_key, allow_ec=ec_p256)
    if insecure_plaintext_key:
        err("warning: the private key will be stored UNENCRYPTED (--insecure-plaintext-key)")
    passphrase = None if insecure_plaintext_key else key_passphrase(passphrase_file,
                                                                      confirm=True)
    at = app.clock.now()
    with open_store(app.settings, create=True) as store:
        if address is not None:
            result = generate_csr(store=store, settings=app.settings, address=address,
                                  profile=profile, passphrase=passphrase, at=at,
                                  actor=os_user(), common_name=cn, out_dir=out_dir,
                                  options=options)
            if as_json:
                echo_json({**result.to_json(), "next_steps": next_steps(result)})
            else:
                click.echo(f"key:  {result.key_path}"
                           f"{'' if result.encrypted else ' (UNENCRYPTED)'}")
                click.echo(f"csr:  {result.csr_path}")
                click.echo(f"subject: {result.subject}")
                click.echo("Next steps:")
                for line in next_steps(result):
                    click.echo(f"  {line}")
            return ExitCode.OK
        if due:
            within = app.settings.renew_soon_days if within_days is None else within_days
            addresses = due_addresses(store=store, at=at, within_days=within)
        else:
            assert csv_file is not None
            addresses = _csv_addresses(csv_file)
        report = _run_batch(store, app, addresses, profile=profile, options=options,
                            passphrase=passphrase, out_dir=out_dir, processes=processes, at=at)
    if as_json:
        echo_json(report.to_json())
    else:
        for item in report.created:
            click.echo(f"{item.address}: {item.csr_path}")
        for failure in report.failed:
            click.echo(f"{failure.address}: FAILED: {failure.error}")
        click.echo(f"{len(report.created)} CSR(s) created, {len(report.failed)} failed "
                   f"in {report.seconds:.1f} s")
    return ExitCode.OK if report.ok else ExitCode.FINDING


def _csv_addresses(path: Path) -> list[str]:
    text = read_input(path).decode("utf-8-sig", errors="replace")
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    if "address" in header:
        index = header.index("address")
        return [r[index].strip() for r in rows[1:] if len(r) > index and r[index].strip()]
    return [r[0].strip() for r in rows if r[0].strip()]


def _run_batch(store: Store, app: AppContext, addresses: list[str], *, profile: str,
               options: KeyOptions, passphrase: bytes | None, out_dir: Path | None,
               processes: int | None, at: dt.datetime) -> BatchReport:
    kwargs: dict[str, Any] = {"store": store, "settings": app.settings, "addresses": addresses,
                              "profile": profile, "options": options, "passphrase": passphrase,
                              "at": at, "actor": os_user(), "out_dir": out_dir,
                              "processes": processes, "elapsed": time.monotonic}
    if not sys.stderr.isatty() or not addresses:
        return generate_csrs(**kwargs)
    with Progress(TextColumn("CSRs"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("csr", total=len(addresses))
        return generate_csrs(**kwargs, progress=lambda done, total: bar.update(
            task, completed=done, total=total))
