"""`certmgr crl import|list|refresh`: the CRL store.

Exit codes: 0 ok; 1 a file was rejected (`crl import`); 2 bad usage; 3 the store failed.
A CRL whose issuer CA is not in the store is kept, unverified, and is not a rejection.
"""

from __future__ import annotations

from pathlib import Path

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, json_option, pass_app
from certmgr.cli.importcmd import run_import

__all__ = ["crl"]


@click.group()
def crl() -> None:
    """Certificate revocation lists: import and list."""


@crl.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@pass_app
def import_cmd(app: AppContext, files: tuple[Path, ...], as_json: bool) -> int:
    """Add CRLs (PEM or DER) to the store; a newer verified CRL becomes current."""
    return run_import(app, files, accept=frozenset({"crl"}), as_json=as_json)


@crl.command("list")
@click.option("--current", "current_only", is_flag=True, help="Only the current CRLs.")
@json_option
@pass_app
def list_cmd(app: AppContext, current_only: bool, as_json: bool) -> int:
    """List the CRLs: issuer, thisUpdate, nextUpdate, entries, number, freshness now."""
    from certmgr.services.crls import list_crls  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    now = app.clock.now()
    with open_store(app.settings) as store:
        views = list_crls(store=store, now=now, current_only=current_only)
    if as_json:
        echo_json({"now": now, "crls": [v.to_json() for v in views]})
        return ExitCode.OK
    for v in views:
        flags = " ".join(f for f, on in (("current", v.current), ("delta", v.is_delta),
                                          ("unverified", not v.verified)) if on)
        next_update = "-" if v.next_update is None else f"{v.next_update:%Y-%m-%d %H:%M}"
        number = "-" if v.number is None else str(v.number)
        click.echo(f"{v.freshness:<14} {v.this_update:%Y-%m-%d %H:%M} -> {next_update:<16} "
                   f"#{number:<6} {v.entries:>6} entries  {flags:<24} {v.issuer}")
    click.echo(f"{len(views)} CRL(s)")
    return ExitCode.OK


@crl.command("refresh")
@json_option
@pass_app
def refresh_cmd(app: AppContext, as_json: bool) -> int:
    """Download the CRLs of the inventory (allow-listed hosts only) and store the valid ones.

    Exit 0 when every URL gave a valid CRL (or was skipped: LDAP), 1 otherwise; a failed
    or invalid download keeps the last valid CRL.
    """
    from certmgr.fetch.http import HttpFetcher  # noqa: PLC0415
    from certmgr.fetch.policy import UrlPolicy  # noqa: PLC0415
    from certmgr.services.crl_refresh import refresh_crls  # noqa: PLC0415
    from certmgr.store.audit import os_user  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    settings = app.settings
    with open_store(settings) as store, HttpFetcher(now=app.clock.now) as fetcher:
        report = refresh_crls(store=store, fetcher=fetcher,
                              policy=UrlPolicy.for_crls(settings.crl_hosts),
                              at=app.clock.now(), actor=os_user(),
                              extra_urls=settings.extra.get("crl_urls", ()))
    if as_json:
        echo_json(report.to_json())
    else:
        for o in report.outcomes:
            tail = "" if o.detail is None else f"  ({o.detail})"
            click.echo(f"{o.status:<8} {o.url}{tail}")
        click.echo(f"{len(report.outcomes)} URL(s)")
    return ExitCode.OK if report.ok else ExitCode.FINDING
