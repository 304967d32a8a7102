"""`certmgr mailbox add|list|show|archive|import`: the applicative mailboxes and structures.

Exit codes: 0 ok; 1 a CSV row was rejected; 2 bad input (address, idNatStruct,
unreadable CSV), an address that already exists or no such mailbox.
"""

from __future__ import annotations

from pathlib import Path

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app
from certmgr.errors import ConflictError, NotFoundError
from certmgr.store.enums import MailboxEnvironment, MailboxStatus

__all__ = ["mailbox"]

_ENVS = click.Choice([e.value for e in MailboxEnvironment])
_STATUSES = click.Choice([s.value for s in MailboxStatus], case_sensitive=False)


@click.group()
def mailbox() -> None:
    """Applicative mailboxes (MSSanté) and their structures."""


@mailbox.command("add")
@click.argument("address")
@click.option("--structure", "idnat", required=True, metavar="IDNAT",
              help="The structure's idNatStruct (type digit + identifier, e.g. 3 + SIRET).")
@click.option("--org", "organization", required=True, metavar="NAME",
              help="The structure's name (raison sociale); used when the structure is new.")
@click.option("--department", metavar="NN", help="Département code of a new structure.")
@click.option("--app", "application", default="", metavar="NAME",
              help="The application that uses the mailbox.")
@click.option("--contact", "contacts", multiple=True, metavar="EMAIL",
              help="Who to warn about this mailbox. Repeatable.")
@click.option("--env", "environment", type=_ENVS, default="production", show_default=True)
@click.option("--force-idnat", is_flag=True,
              help="Record an idNatStruct whose check digit fails (ANS knows best).")
@json_option
@pass_app
def add_cmd(app: AppContext, address: str, idnat: str, organization: str,
            department: str | None, application: str, contacts: tuple[str, ...],
            environment: str, force_idnat: bool, as_json: bool) -> int:
    """Add a mailbox (and its structure when new)."""
    from certmgr.services.mailboxes import MailboxSpec, add_mailbox  # noqa: PLC0415
    from certmgr.store.audit import os_user  # noqa: PLC0415 - lazy: --help stays light
    from certmgr.store.session import open_store  # noqa: PLC0415

    spec = MailboxSpec(address=address, idnat=idnat, organization=organization,
                       department=department, application=application, contacts=contacts,
                       environment=MailboxEnvironment(environment))
    with open_store(app.settings, create=True) as store:
        try:
            added = add_mailbox(store=store, spec=spec, at=app.clock.now(), actor=os_user(),
                                force_idnat=force_idnat)
        except ConflictError as exc:
            err(f"error: {exc}")
            return ExitCode.USAGE
    if as_json:
        echo_json(added.to_json())
    else:
        made = " (new structure)" if added.structure_created else ""
        click.echo(f"added {added.address} for {added.structure_name} "
                   f"[{added.idnat}]{made}, {added.environment}")
    return ExitCode.OK


@mailbox.command("list")
@click.option("--status", "statuses", multiple=True, type=_STATUSES,
              help="Only mailboxes in this status (as of the last scan). Repeatable.")
@click.option("--expiring-within", type=click.IntRange(min=0), metavar="DAYS",
              help="Only certificates with 0 to DAYS days left.")
@click.option("--structure", metavar="IDNAT", help="Only the mailboxes of this structure.")
@click.option("--search", metavar="TEXT",
              help="Text in the address, application, structure name or idNatStruct.")
@click.option("--include-archived", is_flag=True, help="List archived mailboxes too.")
@json_option
@pass_app
def list_cmd(app: AppContext, statuses: tuple[str, ...], expiring_within: int | None,
             structure: str | None, search: str | None, include_archived: bool,
             as_json: bool) -> int:
    """List mailboxes with their status and days left."""
    from certmgr.services.mailboxes import list_mailboxes  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    with open_store(app.settings) as store:
        rows = list_mailboxes(store=store, statuses=[MailboxStatus(s.upper()) for s in statuses],
                              expiring_within=expiring_within, structure=structure,
                              search=search, include_archived=include_archived)
    if as_json:
        echo_json([r.to_json() for r in rows])
        return ExitCode.OK
    for r in rows:
        left = "-" if r.days_left is None else f"{r.days_left}d"
        archived = " (archived)" if r.archived else ""
        click.echo(f"{r.status:<14} {left:>6}  {r.address}  {r.structure_name} [{r.idnat}]"
                   f"  {r.environment}{archived}")
    if not rows:
        err("no mailbox matches")
    return ExitCode.OK


@mailbox.command("show")
@click.argument("address")
@json_option
@pass_app
def show_cmd(app: AppContext, address: str, as_json: bool) -> int:
    """Show a mailbox: structure, certificates, last validation, history."""
    from certmgr.services.mailboxes import show_mailbox  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    with open_store(app.settings) as store:
        try:
            detail = show_mailbox(store=store, address=address)
        except NotFoundError as exc:
            err(f"error: {exc}")
            return ExitCode.USAGE
    if as_json:
        echo_json(detail.to_json())
        return ExitCode.OK
    s = detail.summary
    left = "" if s.days_left is None else f", {s.days_left} days left"
    click.echo(f"{s.address}: {s.status}{left}{' (archived)' if s.archived else ''}")
    click.echo(f"  structure: {s.structure_name} [{s.idnat}] {detail.department or ''}".rstrip())
    click.echo(f"  application: {s.application or '-'}; environment: {s.environment}; "
               f"contacts: {', '.join(detail.contacts) or '-'}")
    for c in detail.certificates:
        click.echo(f"  {c.role:<8} serial {c.serial_hex} sha256 {c.fingerprint_sha256[:16]}… "
                   f"not after {c.not_after:%Y-%m-%d %H:%M}Z  {c.subject}")
    last = detail.last_validation
    if last is not None:
        click.echo(f"  last check {last['checked_at']:%Y-%m-%d %H:%M}Z: {last['status']}")
        for f in last["findings"]:
            click.echo(f"    {f['severity']}: {f['code']}: {f['message']}")
    for e in detail.events:
        click.echo(f"  {e['at']:%Y-%m-%d %H:%M}Z {e['actor']}: {e['action']}")
    return ExitCode.OK


@mailbox.command("archive")
@click.argument("address")
@json_option
@pass_app
def archive_cmd(app: AppContext, address: str, as_json: bool) -> int:
    """Archive a mailbox: it is no longer scanned nor listed by default."""
    from certmgr.services.mailboxes import archive_mailbox  # noqa: PLC0415
    from certmgr.store.audit import os_user  # noqa: PLC0415 - lazy: --help stays light
    from certmgr.store.session import open_store  # noqa: PLC0415

    with open_store(app.settings) as store:
        try:
            changed = archive_mailbox(store=store, address=address, at=app.clock.now(),
                                      actor=os_user())
        except NotFoundError as exc:
            err(f"error: {exc}")
            return ExitCode.USAGE
    if as_json:
        echo_json({"address": address.strip().lower(), "archived": True, "changed": changed})
    else:
        click.echo(f"{'archived' if changed else 'already archived'}: {address.strip().lower()}")
    return ExitCode.OK


@mailbox.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force-idnat", is_flag=True,
              help="Accept idNatStructs whose check digit fails.")
@json_option
@pass_app
def import_cmd(app: AppContext, file: Path, force_idnat: bool, as_json: bool) -> int:
    """Add the mailboxes of a CSV file (one report line per row; exit 1 if any is rejected).

    \b
    Columns (header row): address, idnat, organization, department, application,
    contacts (separated by ';'), environment (production or test).
    Delimiter ';' or ','; encoding UTF-8 (BOM allowed), else Windows-1252.
    """
    from certmgr.services.mailboxes import import_mailboxes_csv  # noqa: PLC0415
    from certmgr.store.audit import os_user  # noqa: PLC0415 - lazy: --help stays light
    from certmgr.store.session import open_store  # noqa: PLC0415

    with open_store(app.settings, create=True) as store:
        report = import_mailboxes_csv(store=store, path=file, at=app.clock.now(),
                                      actor=os_user(), force_idnat=force_idnat)
    if as_json:
        echo_json(report.to_json())
    else:
        for row in report.rows:
            if row.added:
                click.echo(f"line {row.line}: added {row.address}")
            else:
                click.echo(f"line {row.line}: rejected {row.address or '-'}: {row.reason}")
        click.echo(f"{report.added} added, {report.rejected} rejected ({report.encoding})")
    return ExitCode.FINDING if report.rejected else ExitCode.OK
