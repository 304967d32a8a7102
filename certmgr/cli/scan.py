"""`certmgr scan`: re-validate every mailbox's current certificate and store its status.

Exit codes: 0 every active mailbox is OK, RENEW_SOON or NO_CERTIFICATE; 1 some mailbox
is CRITICAL, EXPIRED, REVOKED or INVALID; 2 a bad `--at`; 3 the scan could not run.
"""

from __future__ import annotations

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app
from certmgr.clock import parse_instant

__all__ = ["scan_cmd"]


@click.command("scan")
@click.option("--at", "at_text", metavar="ISO8601",
              help="Validate at this instant instead of now (e.g. 2026-01-31T12:00:00Z).")
@click.option("--all", "show_all", is_flag=True,
              help="List every mailbox, not only those that are not OK.")
@json_option
@pass_app
def scan_cmd(app: AppContext, at_text: str | None, show_all: bool, as_json: bool) -> int:
    """Re-validate the current certificate of every active mailbox (path, CRL, profile,
    expiry) and store a status per mailbox."""
    from certmgr.services.scan import scan  # noqa: PLC0415 - lazy CLI
    from certmgr.services.status import Thresholds  # noqa: PLC0415
    from certmgr.store.audit import os_user  # noqa: PLC0415
    from certmgr.store.enums import MailboxStatus  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    now = app.clock.now()
    try:
        at = parse_instant(at_text) if at_text else now
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    with open_store(app.settings) as store:
        report = scan(store=store, at=at, now=now, actor=os_user(),
                      thresholds=Thresholds.from_settings(app.settings))
    if as_json:
        echo_json(report.to_json(all_mailboxes=show_all))
    else:
        for f in report.trust_findings:
            err(f"trust: {f.severity}: {f.code}: {f.message}")
        for m in report.mailboxes:
            if show_all or m.status is not MailboxStatus.OK:
                left = "-" if m.days_left is None else f"{m.days_left}d"
                click.echo(f"{m.status:<14} {left:>6}  {m.address}  {' '.join(m.codes)}".rstrip())
        counts = ", ".join(f"{k} {v}" for k, v in report.counts.items() if v)
        total = sum(report.timings.values()) or 1.0
        phases = ", ".join(f"{k} {v:.2f}s ({v / total:.0%})" for k, v in report.timings.items())
        click.echo(f"scanned {report.scanned} mailboxes at {report.at:%Y-%m-%dT%H:%M:%SZ}: "
                   f"{counts or 'none'}")
        click.echo(f"phases: {phases}")
    return ExitCode.FINDING if report.needs_attention else ExitCode.OK
