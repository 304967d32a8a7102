"""`certmgr audit list|verify`: read and check the tamper-evident audit trail.

Exit codes: `list` 0 (2 for a bad --since); `verify` 0 when the chain is intact,
1 when an event was changed, deleted or inserted out of order (the first broken
event is named), 3 when the database cannot be read.
"""

from __future__ import annotations

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, json_option, pass_app
from certmgr.clock import parse_instant

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """The tamper-evident audit trail: list and verify."""


@audit.command("list")
@click.option("--since", metavar="ISO", help="Only events at or after this instant (ISO 8601).")
@click.option("--actor", metavar="USER", help="Only events by this actor.")
@click.option("--action", metavar="ACTION", help="Only events of this action (e.g. mailbox.add).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the newest N events.")
@json_option
@pass_app
def list_cmd(app: AppContext, since: str | None, actor: str | None, action: str | None,
             limit: int | None, as_json: bool) -> int:
    """List audit events, oldest first."""
    from certmgr.services.auditlog import list_events  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    try:
        since_at = None if since is None else parse_instant(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with open_store(app.settings) as store:
        entries = list_events(store=store, since=since_at, actor=actor, action=action,
                              limit=limit)
    if as_json:
        echo_json({"events": [e.to_json() for e in entries]})
        return ExitCode.OK
    for e in entries:
        target = "" if e.object_type is None else f" {e.object_type}:{e.object_id or '-'}"
        click.echo(f"{e.id:>6} {e.at:%Y-%m-%dT%H:%M:%SZ} {e.actor:<12} {e.action}{target}")
    click.echo(f"{len(entries)} event(s)")
    return ExitCode.OK


@audit.command("verify")
@click.option("--expected-last-hash", metavar="HEX",
              help="The last hash recorded earlier: also detects events removed from the end.")
@json_option
@pass_app
def verify_cmd(app: AppContext, expected_last_hash: str | None, as_json: bool) -> int:
    """Check every event's hash and link; exit 1 naming the first broken event."""
    from certmgr.services.auditlog import verify_audit  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    with open_store(app.settings) as store:
        report = verify_audit(store=store, expected_last_hash=expected_last_hash)
    if as_json:
        echo_json(report.to_json())
    elif report.ok:
        click.echo(f"audit chain intact: {report.count} event(s), last hash {report.last_hash}")
    else:
        where = ("at the end" if report.first_broken_id is None
                 else f"at event {report.first_broken_id}")
        click.echo(f"audit chain BROKEN {where}: {report.reason}")
    return ExitCode.OK if report.ok else ExitCode.FINDING
