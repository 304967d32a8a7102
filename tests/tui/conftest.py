"""TUI fixtures: a migrated SQLite store per test, seeded from the fixture PKI through the
services (mailboxes, scan) and the models (trust material, bindings), a fixed clock."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import insert
from sqlmodel import Session, col, select

from certmgr.cli.tui import make_console
from certmgr.clock import FixedClock
from certmgr.config import Settings, load_settings
from certmgr.pki.facts import certificate_facts
from certmgr.pki.findings import Finding
from certmgr.pki.load import load_bundle
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.services.scan import scan
from certmgr.store.enums import BindingRole, MailboxEnvironment, MailboxStatus
from certmgr.store.models import Binding, CACertificate, Certificate, Crl, Mailbox, Structure
from certmgr.store.models_alerts import AlertSent
from certmgr.store.rows import ca_certificate_row, certificate_row
from certmgr.store.session import Store, open_store
from certmgr.testpki import FIXED_AT, PkiIndex, load_index
from tests.support import sign_auth_cli
from tui.app import CertmgrApp, make_app

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "pki" / "fixed"
AT = FIXED_AT
ACTOR = "tester"
SIRET = "3" + "73282932000074"
# (address, fixture leaf or None, structure)
MAILBOXES = (
    ("dpi@clinique-bellevue.mssante.fr", "el-org-auth-valid", "Clinique Bellevue"),
    ("labo@biolab-lyon.mssante.fr", "el-org-auth-expiring-60d", "Biolab Lyon"),
    ("radio@imagerie-nantes.mssante.fr", "el-org-auth-expiring-14d", "Imagerie Nantes"),
    ("urgences@chu-exemple.mssante.fr", "el-org-auth-expired", "CHU Exemple"),
    ("pharma@chu-exemple.mssante.fr", "el-org-auth-revoked", "CHU Exemple"),
    ("rdv@cabinet-martin.mssante.fr", "unknown-ca-auth", "Cabinet Martin"),
    ("nouveau@ehpad-les-tilleuls.mssante.fr", None, "EHPAD Les Tilleuls"),
)
USABLE_CRLS = frozenset({"current", "delta"})


@dataclass(frozen=True)
class RowTrust:
    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    crls: tuple[bytes, ...]
    trust_store_findings: tuple[Finding, ...] = field(default=())


def row_trust(*, session: Any, environment: Any = None) -> RowTrust:
    """The store's CA rows and current CRLs (stand-in until certmgr.services.trustctx)."""
    del environment
    cas = session.exec(select(CACertificate)).all()
    crls = session.exec(select(Crl.der).where(col(Crl.is_current).is_(True))).all()
    load = x509.load_der_x509_certificate
    return RowTrust(tuple(load(c.der) for c in cas if c.is_anchor),
                    tuple(load(c.der) for c in cas if not c.is_anchor), tuple(crls))


@pytest.fixture(scope="session")
def pki() -> PkiIndex:
    if not (FIXED / "index.json").is_file():
        pytest.skip("fixture PKI not generated")
    return load_index(FIXED)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(home=tmp_path / "home", environ={})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AT)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with open_store(settings, create=True) as opened:
        yield opened


def seed_trust(store: Store, pki: PkiIndex) -> None:
    with store.transaction() as session:
        for ca in pki.of_kind("ca"):
            if not ca.trusted:
                continue
            der = pki.path(ca.name, "der").read_bytes()
            facts = certificate_facts(x509.load_der_x509_certificate(der), der=der)
            session.add(ca_certificate_row(facts, der=der, is_anchor=ca.issuer == ca.name,
                                           source="fixture"))
        for crl in pki.of_kind("crl"):
            if crl.scenario not in USABLE_CRLS:
                continue
            der = pki.path(crl.name, "der").read_bytes()
            parsed = x509.load_der_x509_crl(der)
            assert crl.this_update is not None
            session.add(Crl(der=der, fingerprint_sha256=hashlib.sha256(der).hexdigest(),
                            issuer=parsed.issuer.rfc4514_string(), crl_number=crl.crl_number,
                            this_update=crl.this_update, next_update=crl.next_update,
                            is_delta=crl.scenario == "delta", entries=len(crl.revoked),
                            source="fixture", fetched_at=AT, verified=True, is_current=True))


def bind(store: Store, pki: PkiIndex, address: str, leaf: str) -> None:
    der = load_bundle(pki.path(leaf, "pem").read_bytes(), source=leaf).certificates[0].der
    facts = certificate_facts(x509.load_der_x509_certificate(der), der=der)
    with store.transaction() as session:
        cert = certificate_row(facts, der=der, imported_at=AT, source="fixture")
        session.add(cert)
        session.flush()
        assert isinstance(session, Session)
        mailbox = session.exec(select(Mailbox).where(col(Mailbox.address) == address)).one()
        assert cert.id is not None
        assert mailbox.id is not None
        session.add(Binding(mailbox_id=mailbox.id, certificate_id=cert.id,
                            role=BindingRole.CURRENT, bound_at=AT))


def seed_inventory(store: Store, pki: PkiIndex) -> None:
    """Trust material, seven mailboxes (one per interesting status) and a scan at AT."""
    seed_trust(store, pki)
    for i, (address, leaf, org) in enumerate(MAILBOXES):
        # The first structure has a valid SIRET (a CSR needs one); the others' are forced.
        idnat = SIRET if i == 0 else f"3{10000000000 + i:014d}"
        add_mailbox(store=store, spec=MailboxSpec(address=address, idnat=idnat,
                                                  organization=org, application="DPI",
                                                  department="75"), at=AT, actor=ACTOR,
                    force_idnat=True)
        if leaf is not None:
            bind(store, pki, address, leaf)
    scan(store=store, at=AT, actor=ACTOR, trust_loader=row_trust)


@pytest.fixture
def seeded(store: Store, pki: PkiIndex) -> Store:
    seed_inventory(store, pki)
    return store


TEST_KDF_ROUNDS = 1000
"""The fewest PBKDF2 rounds certmgr accepts: keys made in tests open in milliseconds."""


@pytest.fixture
def app(seeded: Store, settings: Settings, clock: FixedClock, tmp_path: Path) -> CertmgrApp:
    return make_app(settings=settings, clock=clock, actor=ACTOR, browse_root=tmp_path,
                    console=make_console(settings, kdf_rounds=TEST_KDF_ROUNDS))


def issue(csr_pem: bytes, *, not_before: dt.datetime = AT, years: int = 3) -> x509.Certificate:
    """What ANS does: sign the CSR with ACI-EL-ORG, AUTH_CLI extensions (fixture PKI)."""
    return sign_auth_cli(csr_pem, not_before=not_before,
                         not_after=not_before.replace(year=not_before.year + years))


def current_fingerprint(store: Store, address: str) -> str:
    """The SHA-256 of the mailbox's CURRENT certificate ('' when none)."""
    with store.sessions() as session:
        return session.scalar(
            select(Certificate.fingerprint_sha256)
            .join(Binding, col(Binding.certificate_id) == Certificate.id)
            .join(Mailbox, col(Mailbox.id) == Binding.mailbox_id)
            .where(col(Mailbox.address) == address,
                   col(Binding.role) == BindingRole.CURRENT)) or ""


def seed_alert(store: Store, address: str, *, at: dt.datetime = AT, threshold: int = 60,
               recipient: str = "ops@example.org") -> int:
    """One expiry alert told about the mailbox's current certificate; its id."""
    with store.transaction() as session:
        row = AlertSent(dedup_key=f"expiry:{address}:{threshold}", recipient=recipient,
                        channel="email", kind="EXPIRY_THRESHOLD", mailbox=address,
                        certificate_fingerprint=current_fingerprint(store, address),
                        threshold=threshold, sent_at=at)
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def seed_bulk(store: Store, n: int, *, at: dt.datetime = AT) -> None:
    """`n` mailboxes with spread statuses and days left, in a few bulk INSERTs."""
    statuses = list(MailboxStatus)
    with store.transaction() as session:
        session.add(Structure(name="Structure de masse", idnat_kind=3, idnat_value=SIRET[1:],
                              idnat=SIRET, created_at=at))
        session.flush()
        structure_id = session.scalars(select(Structure.id)).one()
        session.connection().execute(insert(Mailbox), [
            {"address": f"bal{i:05d}@structure{i % 97:02d}.mssante.fr",
             "structure_id": structure_id, "application": "DPI", "contacts": [],
             "environment": MailboxEnvironment.PRODUCTION,
             "status": statuses[i % len(statuses)], "days_left": (i * 7) % 400 - 20,
             "archived": False, "created_at": at, "updated_at": at} for i in range(n)])
