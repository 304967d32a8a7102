"""`certmgr demo`: a fresh demo PKI in the home directory, and what certmgr makes of it."""

from __future__ import annotations

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, json_option, pass_app
from certmgr.services.demo import DemoReport, build_demo_pki, verify_demo_pki

__all__ = ["demo"]


@click.command()
@click.option("--headless", is_flag=True, help="Print the demo as plain text and exit.")
@json_option
@pass_app
def demo(app: AppContext, headless: bool, as_json: bool) -> int:
    """Build a demo PKI relative to now in the home directory and show what certmgr does.

    The demo PKI copies the IGC Santé structure (three roots, ORGANISATIONS and PERSONNES
    intermediates, real leaf profiles) but is marked `OU=IGC-SANTE FIXTURE`: it can never
    pass for production. Nothing reaches the network.
    """
    at = app.clock.now().replace(microsecond=0)
    home = app.settings.home
    index = build_demo_pki(home=home, at=at)
    report = verify_demo_pki(index, at=at)
    if as_json:
        echo_json(report.to_json())
        return ExitCode.OK
    _print_report(report, headless=headless)
    return ExitCode.OK


def _print_report(report: DemoReport, *, headless: bool) -> None:
    del headless  # the interactive console arrives with the TUI; both print text today
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
