"""`certmgr demo`: a fresh demo PKI in the home directory, and what certmgr makes of it."""

from __future__ import annotations

import sys

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, json_option, pass_app
from certmgr.cli.status import status_lines
from certmgr.errors import InputError
from certmgr.services.demo import (
    DemoInventory,
    DemoReport,
    build_demo_pki,
    demo_settings,
    seed_demo_inventory,
    verify_demo_pki,
)
from certmgr.services.status import StatusSummary, status_summary
from certmgr.store.audit import os_user
from certmgr.store.keyfiles import make_private_dirs
from certmgr.store.session import open_store

__all__ = ["demo"]


@click.command()
@click.option("--headless", is_flag=True,
              help="Print the demo as plain text and exit (default: open the console).")
@json_option
@pass_app
def demo(app: AppContext, headless: bool, as_json: bool) -> int:
    """Build a demo PKI relative to now in the home directory and show what certmgr does.

    The demo PKI copies the IGC Santé structure (three roots, ORGANISATIONS and PERSONNES
    intermediates, real leaf profiles) but is marked `OU=IGC-SANTE FIXTURE`: it can never
    pass for production. Nothing reaches the network.
    """
    at = app.clock.now().replace(microsecond=0)
    settings = demo_settings(app.settings)
    try:  # the home and the demo sandbox are private, as any home (`certmgr doctor`)
        make_private_dirs(settings.home)
    except OSError as exc:
        raise InputError(f"cannot create the demo home: {exc.strerror or exc}",
                         source=settings.home) from None
    index = build_demo_pki(home=app.settings.home, at=at)
    report = verify_demo_pki(index, at=at)
    # The demo inventory lives in its own sandbox (<home>/demo, its own SQLite database),
    # rebuilt on every run, so it never mixes with a real inventory.
    database = settings.home / "certmgr.sqlite3"
    for leftover in (database, database.with_name(database.name + "-wal"),
                     database.with_name(database.name + "-shm")):
        leftover.unlink(missing_ok=True)
    with open_store(settings, create=True) as store:
        inventory = seed_demo_inventory(store=store, index=index, at=at, actor=os_user())
        summary = status_summary(store=store, at=at)
    if as_json:
        echo_json({**report.to_json(), "inventory": inventory.to_json(),
                   "status": summary.to_json(), "home": str(settings.home)})
        return ExitCode.OK
    # Without a terminal (a pipe, CI) there is nobody to drive the console: print instead.
    if not headless and sys.stdin.isatty() and sys.stdout.isatty():
        from certmgr.cli.tui import open_console  # noqa: PLC0415 - loads Textual only here

        open_console(settings=settings, clock=app.clock, create=True)
        return ExitCode.OK
    _print_report(report)
    _print_inventory(inventory, summary, home=str(settings.home))
    return ExitCode.OK


def _print_inventory(inventory: DemoInventory, summary: StatusSummary, *, home: str) -> None:
    click.echo("")
    click.echo(f"Demo inventory: {inventory.mailboxes} mailboxes, {inventory.certificates} "
               f"certificates, {inventory.cas} CA certificates, {inventory.crls} CRLs, "
               "scanned now:")
    for line in inventory.refused:
        click.echo(f"  refused on import (as it should be): {line}")
    click.echo("")
    for line in status_lines(summary):
        click.echo(line)
    click.echo("")
    click.echo(f"Explore it: certmgr --home {home} mailbox list   (or: status, report, tui)")


def _print_report(report: DemoReport) -> None:
    click.echo(f"certmgr demo — test PKI built at {report.at:%Y-%m-%d %H:%M} UTC")
    click.echo(f"  in {report.pki_dir}")
    click.echo("")
    click.echo("Every scenario certificate, validated as an MSSanté applicative mailbox "
               "certificate (profile ORG_AUTH_CLI, CRLs in hard-fail):")
    click.echo("")
    width = max(len(leaf.name) for leaf in report.leaves)
    for leaf in report.leaves:
        verdict = "valid  " if leaf.valid else "INVALID"
        days = f"{leaf.days_left:>5} d" if leaf.days_left is not None else "      -"
        codes = ", ".join(leaf.codes) or "-"
        click.echo(f"  {leaf.name:<{width}}  {verdict}  {days}  {codes}")
    valid = sum(1 for leaf in report.leaves if leaf.valid)
    click.echo("")
    click.echo(f"{valid} valid, {len(report.leaves) - valid} invalid, "
               f"out of {len(report.leaves)} certificates.")
    click.echo("Try: certmgr verify --trust <root> --untrusted <intermediate> --crl <crl> "
               "--profile mailbox <leaf.pem>")
