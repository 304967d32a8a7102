"""An import (`revalidate=True`: the CLI's and the console's) that gives a mailbox a new
current certificate re-validates that mailbox at once (the scan's rules): `status`,
`report` and `mailbox show` do not say NO_CERTIFICATE (or the old certificate's status)
until the next scan. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func
from sqlmodel import col, select

from certmgr.services.importer import import_paths
from certmgr.services.scan import IMPORT_TRIGGER
from certmgr.services.status import status_summary
from certmgr.store.enums import MailboxStatus
from certmgr.store.models import AuditEvent, Mailbox, ValidationResult, ValidationRun
from certmgr.store.session import Store

from .conftest import ACTOR, AT, Invoke, add

ADDRESS = "app@ch.mssante.fr"


def _mailbox(store: Store, address: str = ADDRESS) -> tuple[str, int | None]:
    with store.sessions() as session:
        row = session.scalars(select(Mailbox).where(col(Mailbox.address) == address)).one()
        return str(row.status), row.days_left


def _runs(store: Store) -> list[str]:
    with store.sessions() as session:
        return list(session.scalars(select(ValidationRun.trigger).order_by(
            col(ValidationRun.id))))


def test_bound_current_is_validated_at_once(store: Store, pki: Path) -> None:
    add(store, ADDRESS)
    add(store, "other@ch.mssante.fr")
    import_paths(store=store, paths=[pki / "ca", pki / "crl"], at=AT, actor=ACTOR,
                 revalidate=True)
    assert _runs(store) == []  # no leaf bound: nothing to re-validate
    report = import_paths(store=store, paths=[pki / "leaves" / "el-org-auth-valid.pem"],
                          at=AT, actor=ACTOR, mailbox=ADDRESS, revalidate=True)
    assert report.ok
    assert _mailbox(store) == ("OK", 695)
    assert _mailbox(store, "other@ch.mssante.fr") == ("NO_CERTIFICATE", None)
    summary = status_summary(store=store, at=AT)
    assert summary.counts[MailboxStatus.OK] == 1
    assert summary.last_scan is None  # not a scan
    with store.sessions() as session:
        result = session.scalars(select(ValidationResult)).one()
        assert (result.status, result.valid) == ("OK", True)
        event = session.scalars(select(AuditEvent).where(
            col(AuditEvent.action) == "mailbox.revalidated")).one()
        assert event.details["mailbox"] == ADDRESS
        assert event.details["reason"] == "new current certificate imported"
    assert _runs(store) == [IMPORT_TRIGGER]
    # the same file again, and an expired certificate (bound PREVIOUS): no current change
    import_paths(store=store, paths=[pki / "leaves" / "el-org-auth-valid.pem",
                                     pki / "leaves" / "el-org-auth-expired.pem"],
                 at=AT, actor=ACTOR, mailbox=ADDRESS, revalidate=True)
    assert _runs(store) == [IMPORT_TRIGGER]
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ValidationResult)) == 1


def test_untrusted_certificate_shows_invalid(store: Store, pki: Path) -> None:
    """Imported before any trust anchor: what a scan would say (INVALID), not
    NO_CERTIFICATE."""
    add(store, ADDRESS)
    import_paths(store=store, paths=[pki / "leaves" / "el-org-auth-valid.pem"], at=AT,
                 actor=ACTOR, mailbox=ADDRESS, revalidate=True)
    assert _mailbox(store)[0] == "INVALID"


def test_without_revalidate_the_next_scan_decides(store: Store, pki: Path) -> None:
    """The service's default (seeding, tests, the demo which scans next): statuses are
    left as they are."""
    add(store, ADDRESS)
    import_paths(store=store, paths=[pki / "ca", pki / "crl"], at=AT, actor=ACTOR)
    import_paths(store=store, paths=[pki / "leaves" / "el-org-auth-valid.pem"], at=AT,
                 actor=ACTOR, mailbox=ADDRESS)
    assert _mailbox(store) == ("NO_CERTIFICATE", None)
    assert _runs(store) == []


def test_cli_mailbox_show_after_import(cli: Invoke, store: Store, pki: Path) -> None:
    add(store, ADDRESS)
    cli("import", pki / "ca", pki / "crl")  # exit 1: the fixture impostor CA is refused
    done = cli("import", pki / "leaves" / "el-org-auth-valid.pem", "--mailbox", ADDRESS)
    assert done.code == 0, done.err
    shown = cli("mailbox", "show", ADDRESS, "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["status"] in {"OK", "RENEW_SOON", "CRITICAL"}  # now-relative
    assert shown.json()["status"] != "NO_CERTIFICATE"
    report = cli("report", "--format", "json")
    assert [r["status"] for r in report.json()] == [shown.json()["status"]]
