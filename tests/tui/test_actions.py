"""Pilot tests of every console action against a real SQLite file: CSR form, mark ordered,
import of the issued certificate, PKCS#12 export, acknowledging alerts, running a job,
and the errors that must stay notifications (bad file, locked database)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import load_pem_x509_csr
from sqlmodel import col, select
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select

from certmgr.clock import FixedClock
from certmgr.config import Settings
from certmgr.services.console import Console
from certmgr.services.renewal import list_renewals
from certmgr.store.models import Renewal, RenewalState
from certmgr.store.models_alerts import AlertState, JobRun
from certmgr.store.session import Store
from tui.app import CertmgrApp
from tui.screens.activity import JobsScreen
from tui.screens.detail import MailboxScreen
from tui.screens.mailboxes import MailboxesScreen
from tui.screens.modals import ConfirmScreen, CsrForm, FilePicker, PassphraseScreen

from .conftest import (
    ACTOR,
    AT,
    FIXED,
    TEST_KDF_ROUNDS,
    current_fingerprint,
    issue,
    seed_alert,
)
from .screen_text import errors, notes, reveal, screen_text, settle

SIZE = (120, 36)
ADDRESS = "dpi@clinique-bellevue.mssante.fr"
PASSPHRASE = "correcthorsebatterystaple"



def renewal(store: Store, address: str = ADDRESS) -> Renewal:
    with store.sessions() as session:
        row = session.scalars(select(Renewal).order_by(col(Renewal.id).desc())).first()
    assert row is not None, f"no renewal for {address}"
    return row


def make_csr(store: Store, settings: Settings) -> Path:
    """A CSR_READY renewal made through the service, as the form would; the CSR path."""
    made = Console(settings, kdf_rounds=TEST_KDF_ROUNDS).generate_csr(
        address=ADDRESS, profile="ORG_AUTH_CLI", key_size=2048, passphrase=PASSPHRASE, at=AT,
        actor=ACTOR)
    return made.csr_path


def issued_file(csr_path: Path, tmp_path: Path) -> tuple[Path, str]:
    cert = issue(csr_path.read_bytes())
    path = tmp_path / "certificat-ans.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


async def open_detail(app: CertmgrApp, pilot: Pilot[None], address: str = ADDRESS) -> None:
    await settle(app, pilot)
    app.open_mailbox(address)
    await settle(app, pilot)
    assert isinstance(app.screen, MailboxScreen)


async def type_into(pilot: Pilot[None], field: Input, text: str) -> None:
    field.focus()
    await pilot.pause()
    await pilot.press(*text)


class TestRenewal:
    """CSR form, mark ordered, import of the issued certificate, export."""

    @pytest.mark.asyncio
    async def test_csr_form_makes_files_and_a_renewal(self, app: CertmgrApp,
                                                      seeded: Store) -> None:
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot)
            await pilot.press("g")
            await pilot.pause()
            form = app.screen
            assert isinstance(form, CsrForm)
            assert form.query_one("#profile", Select).value == "ORG_AUTH_CLI"
            form.query_one("#size", Select).value = 3072
            await type_into(pilot, form.query_one("#pass1", Input), PASSPHRASE)
            await type_into(pilot, form.query_one("#pass2", Input), "different-one-here")
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is form  # refused: the entries differ
            assert "differ" in screen_text(app)
            form.query_one("#pass2", Input).value = ""
            await type_into(pilot, form.query_one("#pass2", Input), PASSPHRASE)
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, MailboxScreen)
            text = screen_text(app)
            assert "Renewal: CSR ready" in text
            assert "ORG_AUTH_CLI CSR 2025-06-01" in text
        row = renewal(seeded)
        assert row.state is RenewalState.CSR_READY
        assert row.csr_path is not None
        done = [n for n in notes(app) if n.startswith("CSR generated")]
        assert done
        assert "ANS portal" in done[0]
        csr_file = next(Path(p.split(": ", 1)[1]) for p in done[0].split(" — ")[1].split(", ")
                        if p.startswith("csr:"))
        assert csr_file.is_file()
        public_key = load_pem_x509_csr(csr_file.read_bytes()).public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        assert public_key.key_size == 3072
        key_file = next(Path(p.split(": ", 1)[1]) for p in done[0].split(" — ")[1].split(", ")
                        if p.startswith("key:"))
        assert key_file.is_file()
        assert PASSPHRASE.encode() not in key_file.read_bytes()

    @pytest.mark.asyncio
    async def test_mark_ordered_moves_the_renewal_and_the_table(
            self, app: CertmgrApp, seeded: Store, settings: Settings) -> None:
        make_csr(seeded, settings)
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot)
            assert "Renewal: CSR ready" in screen_text(app)
            await pilot.press("o")
            await settle(app, pilot)
            assert "Renewal: ordered" in screen_text(app)
            await pilot.press("escape", "m")
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, MailboxesScreen)
            assert {r.address: r.renewal for r in screen.rows}[ADDRESS] == "ordered"
        views = list_renewals(store=seeded, at=AT)
        assert [(v.address, v.state, v.ordered_by) for v in views] == [
            (ADDRESS, RenewalState.ORDERED, ACTOR)]

    @pytest.mark.asyncio
    async def test_import_issued_through_the_path_input(
            self, app: CertmgrApp, seeded: Store, settings: Settings, tmp_path: Path) -> None:
        path, fingerprint = issued_file(make_csr(seeded, settings), tmp_path)
        assert current_fingerprint(seeded, ADDRESS) != fingerprint
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot)
            await pilot.press("i")
            await pilot.pause()
            picker = app.screen
            assert isinstance(picker, FilePicker)
            field = picker.query_one("#path", Input)
            field.focus()
            field.value = str(path)
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, MailboxScreen)
            assert not errors(app), errors(app)
            await reveal(app, pilot, "#facts")
            assert fingerprint in screen_text(app)  # the detail shows the new certificate
        assert current_fingerprint(seeded, ADDRESS) == fingerprint
        assert renewal(seeded).state is RenewalState.ACTIVE

    @pytest.mark.asyncio
    async def test_import_of_a_file_without_the_mailbox_certificate_says_so(
            self, app: CertmgrApp, seeded: Store, tmp_path: Path) -> None:
        ca = tmp_path / "ACI-EL-ORG.pem"
        ca.write_bytes((FIXED / "ca" / "ACI-EL-ORG.pem").read_bytes())
        before = current_fingerprint(seeded, ADDRESS)
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot)
            await pilot.press("i")
            await pilot.pause()
            field = app.screen.query_one("#path", Input)
            field.value = str(ca)
            field.focus()
            await pilot.press("enter")
            await settle(app, pilot)
            assert not errors(app), errors(app)
            assert f"Read ACI-EL-ORG.pem: no certificate in it is for {ADDRESS}" in notes(app)
        assert current_fingerprint(seeded, ADDRESS) == before

    @pytest.mark.asyncio
    async def test_export_asks_to_confirm_then_the_passphrase(
            self, app: CertmgrApp, seeded: Store, settings: Settings, tmp_path: Path) -> None:
        path, fingerprint = issued_file(make_csr(seeded, settings), tmp_path)
        Console(settings).import_issued(address=ADDRESS, path=path, at=AT, actor=ACTOR)
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot)
            await pilot.press("e")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await pilot.pause()
            ask = app.screen
            assert isinstance(ask, PassphraseScreen)
            await type_into(pilot, ask.query_one("#pass1", Input), PASSPHRASE)
            await pilot.press("enter")
            await settle(app, pilot)
            assert not errors(app), errors(app)
        files = list(settings.home.rglob("*.p12"))
        assert len(files) == 1
        key, cert, _ = pkcs12.load_key_and_certificates(files[0].read_bytes(),
                                                         PASSPHRASE.encode())
        assert key is not None
        assert cert is not None
        der = cert.public_bytes(serialization.Encoding.DER)
        assert hashlib.sha256(der).hexdigest() == fingerprint
        assert any(str(files[0]) in n for n in notes(app))


class TestAlertsAndJobs:
    """Acknowledging alerts from a mailbox; running a job (the alerts screen:
    test_alerts.py)."""

    @pytest.mark.asyncio
    async def test_acknowledge_from_the_mailbox(self, app: CertmgrApp, seeded: Store) -> None:
        address = "labo@biolab-lyon.mssante.fr"
        alert_id = seed_alert(seeded, address)
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot, address)
            assert "1 alert(s) to acknowledge" in screen_text(app)
            await pilot.press("k")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")  # No: nothing is written
            await settle(app, pilot)
            assert _acknowledged(seeded) == []
            await pilot.press("k")
            await pilot.pause()
            await pilot.press("y")
            await settle(app, pilot)
            assert "alert(s) to acknowledge" not in screen_text(app)
            await pilot.press("k")  # nothing left: said, not failed
            await pilot.pause()
            assert type(app.screen).__name__ == "MailboxScreen"
            assert not errors(app)
        assert _acknowledged(seeded) == [(AT, ACTOR)]
        assert alert_id > 0

    @pytest.mark.asyncio
    async def test_run_a_job_now(self, app: CertmgrApp, seeded: Store) -> None:
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("j")
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, JobsScreen)
            names = [r.name for r in screen.rows]
            assert "heartbeat" in names
            assert "never run" in screen_text(app)
            screen.query_one(DataTable).move_cursor(row=names.index("heartbeat"))
            await pilot.press("n")
            await settle(app, pilot)
            row = next(r for r in screen.rows if r.name == "heartbeat")
            assert row.last_ok is True
            assert row.runs == 1
            assert any(n.startswith("Job heartbeat done") for n in notes(app))
            await pilot.press("d")
            await settle(app, pilot)
            assert "heartbeat" in screen_text(app)  # the dashboard's jobs
        with seeded.sessions() as session:
            runs = session.scalars(select(JobRun)).all()
        assert [(r.job, r.ok, r.started_at) for r in runs] == [("heartbeat", True, AT)]


def _acknowledged(store: Store) -> list[tuple[object, object]]:
    with store.sessions() as session:
        return [(s.acknowledged_at, s.acknowledged_by)
                for s in session.scalars(select(AlertState)).all()
                if s.acknowledged_at is not None]


class TestErrors:
    """Service errors are one-line notifications; the console keeps running."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize(("name", "content"), [
        ("pas-un-certificat.pem", b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n"),
        ("vide.pem", b""),
        ("binaire.der", bytes(range(256))),
        ("absent.pem", None),
        ("un-dossier", "dir"),
    ])
    async def test_bad_file_import(self, app: CertmgrApp, seeded: Store, tmp_path: Path,
                                   name: str, content: bytes | str | None) -> None:
        bad = tmp_path / name
        if content == "dir":
            bad.mkdir()
        elif isinstance(content, bytes):
            bad.write_bytes(content)
        before = current_fingerprint(seeded, ADDRESS)
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot)
            await pilot.press("i")
            await pilot.pause()
            field = app.screen.query_one("#path", Input)
            field.value = str(bad)
            field.focus()
            await pilot.press("enter")
            await settle(app, pilot)
            assert app.is_running
            assert isinstance(app.screen, MailboxScreen)
            (message,) = errors(app)
            assert str(bad) in message
            assert "\n" not in message
            assert not message.startswith("internal error")
        assert current_fingerprint(seeded, ADDRESS) == before  # nothing changed

    @pytest.mark.asyncio
    async def test_mark_ordered_without_a_csr(self, app: CertmgrApp) -> None:
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot)
            await pilot.press("o")
            await settle(app, pilot)
            assert app.is_running
            (message,) = errors(app)
            assert ADDRESS in message
            assert "\n" not in message

    @pytest.mark.asyncio
    async def test_locked_database(self, app: CertmgrApp, seeded: Store, settings: Settings,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("certmgr.store.engine._BUSY_TIMEOUT_MS", 50)
        make_csr(seeded, settings)
        database = settings.db_url.removeprefix("sqlite:///")
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot)
            holder = sqlite3.connect(database, timeout=0.05, isolation_level=None)
            try:
                holder.execute("BEGIN IMMEDIATE")  # another process writing
                await pilot.press("o")
                await settle(app, pilot)
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert app.is_running
            (message,) = errors(app)
            assert "locked" in message
            assert "\n" not in message
        assert renewal(seeded).state is RenewalState.CSR_READY


@pytest.mark.asyncio
async def test_console_without_store_reports_jobs_and_alerts_empty(
        tmp_path: Path, clock: FixedClock, settings: Settings, store: Store) -> None:
    """A fresh inventory: every job listed as never run, no alert, no scheduler."""
    console = Console(settings)
    try:
        jobs = console.job_rows(names=("scan", "heartbeat"), at=clock.now())
        assert [(j.name, j.result, j.next_run) for j in jobs] == [
            ("heartbeat", "never run", None), ("scan", "never run", None)]
        assert console.alert_rows(at=clock.now()) == ()
        assert console.dashboard(at=clock.now()).alerts == ()
    finally:
        console.close()
    del tmp_path, store
