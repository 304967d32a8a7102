"""What the console shows is safe for the terminal: hostile subjects, structure names and
audit details are shown escaped; the last probe appears (or "no probe yet")."""

from __future__ import annotations

import datetime as dt
import importlib.util

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlmodel import col, select

from certmgr.pki.facts import certificate_facts
from certmgr.services.console_queries import terminal_safe
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.enums import BindingRole
from certmgr.store.models import Binding, Mailbox
from certmgr.store.rows import certificate_row
from certmgr.store.session import Store
from tui.app import CertmgrApp

from .conftest import ACTOR, AT
from .screen_text import flowing, reveal, screen_text, settle

SIZE = (120, 36)
RLO, ESC = "\u202e", "\x1b"
HOSTILE_O = f"Evil{RLO}Corp [bold red]pwn[/] {ESC}[2J"
HOSTILE_ADDRESS = "evil@hostile.mssante.fr"


def hostile_certificate() -> tuple[x509.Certificate, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, HOSTILE_O),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"cn{RLO}[link=x]y")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(AT - dt.timedelta(days=1))
            .not_valid_after(AT + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert, cert.public_bytes(serialization.Encoding.DER)


def seed_hostile(store: Store) -> None:
    add_mailbox(store=store, spec=MailboxSpec(
        address=HOSTILE_ADDRESS, idnat="3" + "10000000000042", organization=HOSTILE_O,
        application=f"DPI{RLO}x", department="75"), at=AT, actor=ACTOR, force_idnat=True)
    cert, der = hostile_certificate()
    with store.transaction() as session:
        row = certificate_row(certificate_facts(cert, der=der), der=der, imported_at=AT,
                              source="hostile")
        session.add(row)
        session.flush()
        mailbox_id = session.scalar(select(col(Mailbox.id)).where(
            col(Mailbox.address) == HOSTILE_ADDRESS))
        assert row.id is not None
        assert mailbox_id is not None
        session.add(Binding(mailbox_id=mailbox_id, certificate_id=row.id,
                            role=BindingRole.CURRENT, bound_at=AT))



def assert_safe(text: str) -> None:
    assert RLO not in text
    assert ESC not in text
    assert "\\u202e" in text


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain é ü", "plain é ü"),
    (f"a{RLO}b", "a\\u202eb"),
    ("a\u2066b\u2069", "a\\u2066b\\u2069"),
    (f"{ESC}[31mred", "\\x1b[31mred"),
    ("line\nbreak\r\tx", "line\\x0abreak\\x0d\\x09x"),
    ("c1\x9bx\x7f", "c1\\x9bx\\x7f"),
])
def test_terminal_safe(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown


@pytest.mark.asyncio
async def test_hostile_subject_is_escaped_everywhere(app: CertmgrApp, seeded: Store) -> None:
    seed_hostile(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_mailbox(HOSTILE_ADDRESS)
        await settle(app, pilot)
        text = screen_text(app)
        assert_safe(text)
        assert "[bold red]pwn[/]" in text  # markup in data is shown, not interpreted
        assert "\\x1b[2J" in text
        assert "cn\\u202e[link=x]y" in text
        await pilot.press("escape", "m")
        await settle(app, pilot)
        await pilot.press("slash", *"hostile")
        await pilot.pause()
        text = screen_text(app)
        assert "1 of 8 mailboxes" in text
        assert_safe(text)
        await pilot.press("escape", "l")
        await settle(app, pilot)
        await pilot.press("slash", *"hostile")
        await pilot.pause()
        text = screen_text(app)
        assert HOSTILE_ADDRESS in text
        assert "application=DPI\\u202ex" in text
        assert_safe(text)


@pytest.mark.asyncio
async def test_last_probe_or_no_probe_yet(app: CertmgrApp, seeded: Store) -> None:
    address = "dpi@clinique-bellevue.mssante.fr"
    probes = importlib.util.find_spec("certmgr.store.models_probes") is not None
    if probes:
        from certmgr.store.models_probes import ProbeResult  # noqa: PLC0415

        with seeded.transaction() as session:
            mailbox_id = session.scalar(select(col(Mailbox.id)).where(
                col(Mailbox.address) == address))
            assert mailbox_id is not None
            session.add(ProbeResult(mailbox_id=mailbox_id, at=AT, host="smtp.example.org",
                                    port=587, starttls="smtp", ok=False, status="CRITICAL",
                                    tls_version="TLSv1.3", client_outcome=f"rejected{RLO}",
                                    codes=["CLIENT_REJECTED"]))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_mailbox(address)
        await settle(app, pilot)
        await reveal(app, pilot, "#facts")
        text = screen_text(app)
    if probes:
        assert "Last probe   2025-06-01 12:00 UTC  CRITICAL" in text
        assert "client cert rejected\\u202e" in flowing(text)
        assert RLO not in text
    else:  # pragma: no cover - a build without the probe history
        assert "Last probe   no probe yet" in text


@pytest.mark.asyncio
async def test_no_probe_yet(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_mailbox("labo@biolab-lyon.mssante.fr")
        await settle(app, pilot)
        await reveal(app, pilot, "#facts")
        assert "Last probe   no probe yet" in screen_text(app)
