"""`certmgr status`: counts per status, next expiries, CRL freshness, last scan.

Exit code 0 (a read-only overview); 3 when the database cannot be read.
"""

from __future__ import annotations

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, json_option, pass_app

__all__ = ["status_cmd"]


@click.command("status")
@click.option("--next", "limit", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many of the soonest expiries to show.")
@json_option
@pass_app
def status_cmd(app: AppContext, limit: int, as_json: bool) -> int:
    """Overview of the inventory as the last scan left it."""
    from certmgr.services.status import status_summary  # noqa: PLC0415 - lazy CLI
    from certmgr.store.session import open_store  # noqa: PLC0415

    with open_store(app.settings) as store:
        summary = status_summary(store=store, at=app.clock.now(), limit=limit)
    if as_json:
        echo_json(summary.to_json())
        return ExitCode.OK
    last = "never" if summary.last_scan is None else f"{summary.last_scan:%Y-%m-%d %H:%M}Z"
    click.echo(f"{summary.total} active mailboxes; last scan: {last}")
    for status, n in summary.counts.items():
        click.echo(f"  {status:<14} {n:>6}")
    if summary.next_expiries:
        click.echo("next expiries:")
        for e in summary.next_expiries:
            click.echo(f"  {e.not_after:%Y-%m-%d}  {e.days_left:>4}d  {e.address}  ({e.status})")
    if summary.crls:
        click.echo("CRLs:")
        for c in summary.crls:
            state = "fresh" if c.fresh else "STALE"
            nxt = "-" if c.next_update is None else f"{c.next_update:%Y-%m-%d %H:%M}Z"
            kind = " (delta)" if c.is_delta else ""
            click.echo(f"  {state:<5} next update {nxt}  {c.issuer}{kind}")
    else:
        click.echo("CRLs: none in the store (run `certmgr crl import`)")
    return ExitCode.OK
