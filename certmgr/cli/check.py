"""`certmgr check`: a Nagios/Icinga plugin for cron and monitoring systems.

Exit codes are the Nagios states, not certmgr's usual ones: 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN (the store cannot be read, or anything else went wrong: one line, never a
traceback). The summary line is printed first, details after (`--json`: one document).
"""

from __future__ import annotations

import click

from certmgr.cli._common import AppContext, echo_json, json_option, pass_app

__all__ = ["check_cmd"]


@click.command("check")
@click.option("--scan", "scan_first", is_flag=True, help="Re-validate every mailbox first.")
@json_option
@pass_app
def check_cmd(app: AppContext, scan_first: bool, as_json: bool) -> int:
    """Nagios-style check of the inventory: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    from certmgr.services.check import CheckResult  # noqa: PLC0415 - lazy CLI

    try:
        from certmgr.services.check import check_inventory  # noqa: PLC0415
        from certmgr.store.audit import os_user  # noqa: PLC0415
        from certmgr.store.session import open_store  # noqa: PLC0415

        now = app.clock.now()
        with open_store(app.settings) as store:
            if scan_first:
                from certmgr.services.scan import scan  # noqa: PLC0415
                from certmgr.services.status import Thresholds  # noqa: PLC0415

                scan(store=store, at=now, actor=os_user(),
                     thresholds=Thresholds.from_settings(app.settings))
            result = check_inventory(store=store, at=now)
    except Exception as exc:  # a monitoring plugin answers UNKNOWN, always
        result = CheckResult.unknown(f"{type(exc).__name__}: {exc}")
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(result.summary)
        for detail in result.details:
            click.echo(detail)
    return int(result.state)
