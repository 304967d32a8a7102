"""A renewal that becomes ACTIVE re-validates its mailbox at once: `status`, `report` and
`mailbox show` show the new certificate's status without waiting for the next scan.

The old fixture certificate (el-org-auth-valid) has 695 days left at `AT`; with
thresholds of 800 (RENEW_SOON) and 700 (CRITICAL) days it is CRITICAL, and the new one
(four years from `AT`) is OK.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from certmgr import jobs
from certmgr.config import Settings
from certmgr.services.alerts import evaluate_alerts
from certmgr.services.enrol import KeyOptions, generate_csr
from certmgr.services.importer import import_paths
from certmgr.services.mailboxes import show_mailbox
from certmgr.services.renewal import activate, mark_ordered
from certmgr.services.report import report_rows
from certmgr.services.scan import ACTIVATION_TRIGGER, scan
from certmgr.services.status import Thresholds, status_summary
from certmgr.store.enums import BindingRole, MailboxStatus
from certmgr.store.models import (
    AuditEvent,
    Binding,
    Certificate,
    Mailbox,
    Renewal,
    ValidationRun,
)
from certmgr.store.session import Store, open_store
from tests.support import cli_runner, seed_enrolment

from .conftest import ACTOR, ADDRESS, AT, PASSPHRASE, Invoke, issue, write_cert

THRESHOLDS = Thresholds(renew_soon_days=800, critical_days=700)
FAST = KeyOptions(kdf_rounds=1_000)


@pytest.fixture
def both_store(db_url: str, tmp_path: Path) -> Iterator[tuple[Store, Settings]]:
    """The enrolment seed on SQLite and on PostgreSQL (skipped without a server)."""
    settings = Settings(home=tmp_path / "pg-home", db_url=db_url)
    settings.home.mkdir(mode=0o700)
    with open_store(settings) as opened:
        seed_enrolment(opened)
        yield opened, settings


def _status(store: Store) -> tuple[str, int | None]:
    with store.sessions() as session:
        mailbox = session.scalars(select(Mailbox).where(col(Mailbox.address) == ADDRESS)).one()
        return str(mailbox.status), mailbox.days_left


def _critical_then_renewed(store: Store, settings: Settings, tmp_path: Path) -> Path:
    """The mailbox scanned CRITICAL, a renewal ORDERED, and ANS's certificate on disk."""
    scan(store=store, at=AT, actor=ACTOR, thresholds=THRESHOLDS, processes=1)
    assert _status(store)[0] == MailboxStatus.CRITICAL
    made = generate_csr(store=store, settings=settings, address=ADDRESS,
                        passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
    mark_ordered(store=store, address=ADDRESS, at=AT, actor=ACTOR, ref="R-9")
    return write_cert(issue(made.csr_path.read_bytes()), tmp_path / "issued.crt")


class TestService:
    def test_activation_rescans_the_mailbox(self, both_store: tuple[Store, Settings],
                                            tmp_path: Path) -> None:
        store, settings = both_store
        issued = _critical_then_renewed(store, settings, tmp_path)
        later = AT + dt.timedelta(days=2)
        report = import_paths(store=store, paths=[issued], at=later, actor=ACTOR,
                              thresholds=THRESHOLDS, revalidate=True)
        assert report.ok
        match = report.files[0].items[0].to_json()["key"]
        assert (match["status"], match["mailbox_status"]) == ("active", "OK")
        assert "mailbox now OK" in match["note"]
        status, left = _status(store)
        assert status == MailboxStatus.OK
        assert left is not None
        assert left > 800
        # the read side, no scan in between
        summary = status_summary(store=store, at=later)
        assert summary.counts[MailboxStatus.OK] == 1
        assert summary.counts[MailboxStatus.CRITICAL] == 0
        assert summary.last_scan == AT  # the one-mailbox run is not "the last scan"
        (row,) = report_rows(store=store)
        assert row.status is MailboxStatus.OK
        assert row.fingerprint_sha256 == _renewed_fingerprint(store)
        shown = show_mailbox(store=store, address=ADDRESS)
        assert shown.to_json()["status"] == "OK"
        with store.sessions() as session:
            triggers = list(session.scalars(select(ValidationRun.trigger)
                                             .order_by(col(ValidationRun.id))))
            # the scan, then the activation (re-validated once: not again as an import)
            assert triggers == ["scan", ACTIVATION_TRIGGER]
            events = session.scalars(select(AuditEvent).where(
                col(AuditEvent.action) == "mailbox.revalidated")
                .order_by(col(AuditEvent.id))).all()
            assert [e.details["reason"] for e in events] == ["renewal #1 activated"]
            assert events[-1].details["status"] == "OK"

    def test_old_certificate_falls_silent_and_is_kept(
            self, both_store: tuple[Store, Settings], tmp_path: Path) -> None:
        """Issue 5, item 4: once ACTIVE, the old certificate is PREVIOUS, still stored,
        and no alert names it any more (alerts follow CURRENT bindings)."""
        store, settings = both_store
        issued = _critical_then_renewed(store, settings, tmp_path)
        with store.sessions() as session:
            old = session.scalars(select(Certificate)).one().fingerprint_sha256
        before = evaluate_alerts(store=store, at=AT, thresholds=[700])
        assert [e.fingerprint for e in before if e.mailbox == ADDRESS] == [old]
        import_paths(store=store, paths=[issued], at=AT, actor=ACTOR, thresholds=THRESHOLDS)
        after = evaluate_alerts(store=store, at=AT, thresholds=[700])
        assert [e for e in after if e.fingerprint == old] == []
        with store.sessions() as session:
            roles = dict(session.execute(
                select(Certificate.fingerprint_sha256, Binding.role)
                .join(Binding, col(Binding.certificate_id) == col(Certificate.id))).all())
        assert roles[old] == BindingRole.PREVIOUS
        assert sorted(roles.values()) == [BindingRole.CURRENT, BindingRole.PREVIOUS]

    def test_activate_later_rescans_too(self, both_store: tuple[Store, Settings],
                                        tmp_path: Path) -> None:
        """A certificate imported before its notBefore stays ISSUED (bound NEXT, the mailbox
        still CRITICAL); `activate` once it is valid makes the mailbox OK."""
        store, settings = both_store
        scan(store=store, at=AT, actor=ACTOR, thresholds=THRESHOLDS, processes=1)
        start = _issued_early(store, settings, tmp_path)
        with store.sessions() as session:
            assert session.scalars(select(Renewal.state)).one() == "ISSUED"
        assert _status(store)[0] == MailboxStatus.CRITICAL
        outcome = activate(store=store, address=ADDRESS, at=start + dt.timedelta(hours=1),
                           actor=ACTOR, thresholds=THRESHOLDS)
        assert (outcome.status, outcome.mailbox_status) == ("active", "OK")
        assert _status(store)[0] == MailboxStatus.OK

    def test_the_scheduled_scan_activates_it_once_started(
            self, both_store: tuple[Store, Settings], tmp_path: Path) -> None:
        """No operator command: the scan job (`certmgr.jobs.scan`) activates an ISSUED
        renewal whose certificate has started, and leaves one not started yet alone."""
        store, settings = both_store
        start = _issued_early(store, settings, tmp_path)
        before = jobs.scan(settings, now=start - dt.timedelta(seconds=1))
        assert before["activated"] == []
        with store.sessions() as session:
            assert session.scalars(select(Renewal.state)).one() == "ISSUED"
        after = jobs.scan(settings, now=start + dt.timedelta(hours=1))
        assert after["activated"] == [ADDRESS]
        with store.sessions() as session:
            assert session.scalars(select(Renewal.state)).one() == "ACTIVE"
        assert _status(store)[0] == MailboxStatus.OK  # default thresholds: 4 years left


def _issued_early(store: Store, settings: Settings, tmp_path: Path) -> dt.datetime:
    """A CSR for ADDRESS, its certificate starting 10 days after AT imported at AT (the
    renewal stays ISSUED); returns the certificate's notBefore."""
    made = generate_csr(store=store, settings=settings, address=ADDRESS,
                        passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
    start = AT + dt.timedelta(days=10)
    early = write_cert(issue(made.csr_path.read_bytes(), not_before=start),
                       tmp_path / "early.crt")
    import_paths(store=store, paths=[early], at=AT, actor=ACTOR, thresholds=THRESHOLDS)
    return start


def _renewed_fingerprint(store: Store) -> str:
    """The fingerprint of the certificate the ACTIVE renewal holds."""
    with store.sessions() as session:
        renewal = session.scalars(select(Renewal)).one()
        cert = session.get(Certificate, renewal.certificate_id)
        assert cert is not None
        return cert.fingerprint_sha256


class TestCli:
    def test_status_is_green_right_after_import(
            self, both_store: tuple[Store, Settings], capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """`certmgr import` of the issued certificate, then `status`/`report`/`mailbox show`
        without a scan: OK, with the thresholds of config.toml (SQLite and PostgreSQL)."""
        _store, settings = both_store
        monkeypatch.setenv("CERTMGR_PASSPHRASE", PASSPHRASE)
        monkeypatch.delenv("CERTMGR_DB", raising=False)
        cli = cli_runner(capsys, "--home", settings.home, "--db", settings.db_url)
        (settings.home / "config.toml").write_text(
            "renew_soon_days = 800\ncritical_days = 700\n", encoding="utf-8")
        before = cli("scan", "--at", AT.isoformat(), "--json")
        assert before.code == 1, before.err
        assert before.json()["counts"]["CRITICAL"] == 1
        made = cli("csr", "new", ADDRESS, "--json")
        assert made.code == 0, made.err
        csr_path = Path(made.json()["csr_path"])
        cert_file = write_cert(issue(csr_path.read_bytes()), tmp_path / "download.crt")
        imported = cli("import", cert_file)
        assert imported.code == 0, imported.err
        assert "active, mailbox now OK" in imported.out
        status = cli("status", "--json")
        assert status.code == 0, status.err
        assert status.json()["counts"]["OK"] == 1
        assert status.json()["counts"]["CRITICAL"] == 0
        report = cli("report", "--format", "json")
        assert [r["status"] for r in report.json()] == ["OK"]
        shown = cli("mailbox", "show", ADDRESS, "--json")
        assert shown.json()["status"] == "OK"


def test_order_activate_command(store: Store, settings: Settings, cli: Invoke,
                                tmp_path: Path) -> None:
    """A certificate ANS dated ahead: the import leaves the renewal ISSUED; `order
    activate` says why (exit 1) until it is valid, then makes it ACTIVE (exit 0) and the
    mailbox is re-validated. A renewal that is not ISSUED: exit 2."""
    assert cli("order", "activate", ADDRESS).code == 2  # no renewal under way
    made = cli("csr", "new", ADDRESS, "--json")
    assert made.code == 0, made.err
    assert cli("order", "activate", ADDRESS).code == 2  # CSR_READY
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    future = issue(Path(made.json()["csr_path"]).read_bytes(), not_before=start)
    assert cli("import", write_cert(future, tmp_path / "future.crt")).code == 0
    waiting = cli("order", "activate", ADDRESS, "--json")
    assert waiting.code == 1, waiting.err
    assert waiting.json()["status"] == "issued"
    assert "not valid before" in waiting.json()["reason"]
    # the store as the CLI left it, activated at the certificate's start
    outcome = activate(store=store, address=ADDRESS, at=start + dt.timedelta(minutes=1),
                       actor=ACTOR)
    assert (outcome.status, outcome.mailbox_status) == ("active", "OK")
    assert cli("order", "activate", ADDRESS).code == 2  # no renewal under way any more
