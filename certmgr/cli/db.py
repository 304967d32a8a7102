"""`certmgr db upgrade` and `certmgr db current`: the inventory schema."""

from __future__ import annotations

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, json_option, pass_app


@click.group()
def db() -> None:
    """Create or upgrade the inventory database schema."""


@db.command("upgrade")
@json_option
@pass_app
def upgrade_cmd(app: AppContext, as_json: bool) -> int:
    """Create the schema, or migrate it to this certmgr's revision (back up first)."""
    from certmgr.store.engine import make_engine, redact_url  # noqa: PLC0415 - lazy CLI
    from certmgr.store.migrate import current_revision, head_revision, upgrade  # noqa: PLC0415

    engine = make_engine(app.settings.db_url)
    try:
        before = current_revision(engine)
        after = upgrade(engine)
    finally:
        engine.dispose()
    url = redact_url(app.settings.db_url)
    if as_json:
        echo_json({"url": url, "from": before, "to": after, "head": head_revision(),
                   "changed": before != after})
    elif before == after:
        click.echo(f"database at {url} is already at revision {after}")
    else:
        click.echo(f"database at {url} upgraded from {before or 'empty'} to revision {after}")
    return ExitCode.OK


@db.command("current")
@json_option
@pass_app
def current_cmd(app: AppContext, as_json: bool) -> int:
    """Show the schema revision. Exit code 1 when `certmgr db upgrade` is needed."""
    from certmgr.store.engine import make_engine, redact_url  # noqa: PLC0415 - lazy CLI
    from certmgr.store.migrate import current_revision, head_revision  # noqa: PLC0415

    engine = make_engine(app.settings.db_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    url = redact_url(app.settings.db_url)
    up_to_date = current == head
    if as_json:
        echo_json({"url": url, "current": current, "head": head, "up_to_date": up_to_date})
    else:
        state = "up to date" if up_to_date else "run `certmgr db upgrade`"
        click.echo(f"database at {url}: revision {current or 'none (empty)'}, "
                   f"certmgr needs {head}: {state}")
    return ExitCode.OK if up_to_date else ExitCode.FINDING
