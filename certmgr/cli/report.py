"""`certmgr report --format csv|json|md [--out FILE]`: one row per active mailbox.

`--json` is `--format json` (every reporting command takes `--json`). CSV cells that a
spreadsheet would run as a formula are neutralised. Exit 0; 2 when FILE cannot be
written, or for `--json` with another `--format`.
"""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from certmgr.cli._common import AppContext, ExitCode, err, json_option
from certmgr.errors import InputError

__all__ = ["report_cmd"]


@click.command("report")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "md"]), default="csv",
              show_default=True, help="Output format.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write to FILE instead of stdout.")
@json_option
@click.pass_context
def report_cmd(ctx: click.Context, fmt: str, out: Path | None, as_json: bool) -> int:
    """Report every active mailbox: structure, certificate, expiry, status, findings."""
    if as_json:
        if fmt != "json" and ctx.get_parameter_source("fmt") is not ParameterSource.DEFAULT:
            raise click.UsageError(f"--json and --format {fmt} disagree: give one of them")
        fmt = "json"
    app = ctx.find_object(AppContext)
    assert app is not None
    from certmgr.services.report import ReportFormat, render_report, report_rows  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    with open_store(app.settings) as store:
        rows = report_rows(store=store)
    text = render_report(rows, fmt=ReportFormat(fmt))
    if out is None:
        click.echo(text, nl=False)
        return ExitCode.OK
    try:
        # CSV for spreadsheets: a BOM lets Excel read the UTF-8 accents right
        out.write_text(("\ufeff" if fmt == "csv" else "") + text, encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", source=out) from None
    err(f"wrote {len(rows)} mailboxes to {out}")
    return ExitCode.OK
