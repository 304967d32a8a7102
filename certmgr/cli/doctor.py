"""`certmgr doctor`: permissions, schema revision, trust pins, CRL freshness, clock, audit,
key files (every key row's file present and complete; unreferenced key files reported).

One line per check, `OK|WARN|FAIL name: detail`. Exit codes: 0 no FAIL (WARNs
allowed), 1 at least one FAIL.
"""

from __future__ import annotations

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, json_option, pass_app

__all__ = ["doctor"]


@click.command("doctor")
@json_option
@pass_app
def doctor(app: AppContext, as_json: bool) -> int:
    """Check the home's health; exit 1 on any FAIL."""
    from certmgr.services.doctor import run_doctor  # noqa: PLC0415

    report = run_doctor(settings=app.settings, now=app.clock.now())
    if as_json:
        echo_json(report.to_json())
    else:
        for check in report.checks:
            click.echo(check.line())
    return ExitCode.OK if report.ok else ExitCode.FINDING
