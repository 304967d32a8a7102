"""`certmgr status`: counts per status, next expiries, CRL freshness, last scan.

Exit code 0 (a read-only overview); 3 when the database cannot be read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, json_option, pass_app

if TYPE_CHECKING:
    from certmgr.services.status import StatusSummary

__all__ = ["status_cmd", "status_lines"]


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
    for line in status_lines(summary):
        click.echo(line)
    return ExitCode.OK


def status_lines(summary: StatusSummary) -> list[str]:
    """The text form of `summary` (shared with `certmgr demo`)."""
    out: list[str] = []
    last = "never" if summary.last_scan is None else f"{summary.last_scan:%Y-%m-%d %H:%M}Z"
    out.append(f"{summary.total} active mailboxes; last scan: {last}")
    out.extend(f"  {status:<14} {n:>6}" for status, n in summary.counts.items())
    if summary.next_expiries:
        out.append("next expiries:")
        out.extend(f"  {e.not_after:%Y-%m-%d}  {e.days_left:>4}d  {e.address}  ({e.status})"
                   for e in summary.next_expiries)
    if summary.crls:
        out.append("CRLs:")
        for c in summary.crls:
            state = "fresh" if c.fresh else "STALE"
            nxt = "-" if c.next_update is None else f"{c.next_update:%Y-%m-%d %H:%M}Z"
            kind = " (delta)" if c.is_delta else ""
            out.append(f"  {state:<5} next update {nxt}  {c.issuer}{kind}")
    else:
        out.append("CRLs: none in the store (run `certmgr crl import`)")
    return out
