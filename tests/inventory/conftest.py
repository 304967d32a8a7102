"""Inventory fixtures: a migrated store per test (SQLite file, and PostgreSQL when
CERTMGR_TEST_PG_URL is set), the fixture PKI, and helpers that put CA certificates,
CRLs and bound leaves into the store directly with the models."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlmodel import col, select

from certmgr.cli import run
from certmgr.config import Settings
from certmgr.pki.classify import Environment
from certmgr.pki.facts import certificate_facts
from certmgr.pki.findings import Finding
from certmgr.pki.load import load_bundle
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.engine import make_engine
from certmgr.store.enums import BindingRole, MailboxEnvironment
from certmgr.store.migrate import upgrade
from certmgr.store.models import Binding, CACertificate, Certificate, Crl, Mailbox
from certmgr.store.rows import ca_certificate_row, certificate_row
from certmgr.store.session import Store, open_store
from certmgr.store.testing import BACKENDS, temporary_database_url
from certmgr.testpki import FIXED_AT, PkiIndex, load_index

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "pki" / "fixed"
AT = FIXED_AT
ACTOR = "tester"
USABLE_CRLS = frozenset({"current", "delta"})
SIRET = "3" + "73282932000074"  # a SIRET that passes Luhn (INSEE's own)


@pytest.fixture(scope="session")
def pki() -> PkiIndex:
    if not (FIXED / "index.json").is_file():
        pytest.skip("fixture PKI not generated")
    return load_index(FIXED)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with temporary_database_url(request.param, directory=tmp_path) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        yield url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", db_url=db_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with open_store(settings) as opened:
        yield opened


# ---------------------------------------------------------------------------- trust
@dataclass(frozen=True)
class RowTrust:
    """The trust material of the store as `load_trust_material` would give it."""

    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    crls: tuple[bytes, ...]
    trust_store_findings: tuple[Finding, ...] = field(default=())


def row_trust(*, session: Any, environment: Environment | None = None) -> RowTrust:
    """Stand-in for `certmgr.services.trustctx.load_trust_material` until it lands: the
    CA rows of `environment` (and of the FIXTURE PKI) and the current CRLs."""
    envs = {str(environment), "FIXTURE"} if environment is not None else None
    cas = [c for c in session.exec(select(CACertificate)).all()
           if envs is None or c.environment in envs]
    crls = session.exec(select(Crl.der).where(col(Crl.is_current).is_(True))).all()
    load = x509.load_der_x509_certificate
    return RowTrust(anchors=tuple(load(c.der) for c in cas if c.is_anchor),
                    intermediates=tuple(load(c.der) for c in cas if not c.is_anchor),
                    crls=tuple(crls))


def trust_loader() -> Callable[..., Any]:
    """The real loader when `certmgr.services.trustctx` exists, else `row_trust`."""
    try:
        from certmgr.services.trustctx import load_trust_material  # noqa: PLC0415
    except ImportError:
        return row_trust
    return load_trust_material


def seed_trust(store: Store, pki: PkiIndex, *, crl_scenarios: frozenset[str] = USABLE_CRLS,
               ) -> None:
    """The 9 trusted fixture CAs and the usable CRLs, straight into the tables."""
    with store.transaction() as session:
        for ca in pki.of_kind("ca"):
            if not ca.trusted:
                continue
            der = pki.path(ca.name, "der").read_bytes()
            facts = certificate_facts(x509.load_der_x509_certificate(der), der=der)
            session.add(ca_certificate_row(facts, der=der, is_anchor=ca.issuer == ca.name,
                                           source="test"))
        for crl in pki.of_kind("crl"):
            if crl.scenario not in crl_scenarios:
                continue
            der = pki.path(crl.name, "der").read_bytes()
            parsed = x509.load_der_x509_crl(der)
            assert crl.this_update is not None
            aki = parsed.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
            key_id = aki.value.key_identifier
            session.add(Crl(
                der=der, fingerprint_sha256=hashlib.sha256(der).hexdigest(),
                issuer=parsed.issuer.rfc4514_string(), aki=None if key_id is None
                else key_id.hex().upper(), crl_number=crl.crl_number,
                this_update=crl.this_update, next_update=crl.next_update,
                is_delta=crl.scenario == "delta", entries=len(crl.revoked), source="test",
                fetched_at=AT, verified=True, is_current=True))


# ---------------------------------------------------------------------------- mailboxes
def add(store: Store, address: str, *, idnat: str = SIRET, org: str = "Clinique Test",
        env: MailboxEnvironment = MailboxEnvironment.PRODUCTION, app: str = "DPI") -> None:
    add_mailbox(store=store, spec=MailboxSpec(address=address, idnat=idnat, organization=org,
                                              application=app, environment=env),
                at=AT, actor=ACTOR)


def leaf_der(pki: PkiIndex, name: str) -> bytes:
    pem = pki.path(name, "pem").read_bytes()
    return load_bundle(pem, source=name).certificates[0].der


def bind(store: Store, address: str, leaf: str | bytes, pki: PkiIndex | None = None, *,
         role: BindingRole = BindingRole.CURRENT) -> int:
    """Store the leaf (a fixture name or DER) and bind it to `address` with `role`."""
    der = leaf if isinstance(leaf, bytes) else leaf_der(pki, leaf)  # type: ignore[arg-type]
    facts = certificate_facts(x509.load_der_x509_certificate(der), der=der)
    with store.transaction() as session:
        cert = session.scalars(select(Certificate).where(
            col(Certificate.fingerprint_sha256) == facts.fingerprint_sha256)).first()
        if cert is None:
            cert = certificate_row(facts, der=der, imported_at=AT, source="test")
            session.add(cert)
            session.flush()
        mailbox = session.scalars(select(Mailbox).where(col(Mailbox.address) == address)).one()
        assert cert.id is not None
        assert mailbox.id is not None
        session.add(Binding(mailbox_id=mailbox.id, certificate_id=cert.id, role=role,
                            bound_at=AT))
        return int(cert.id)


# ---------------------------------------------------------------------------- CLI
@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Invoke = Callable[..., Outcome]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], settings: Settings) -> Invoke:
    """The real entry point on the test database, `--at`-free commands at the clock."""
    def invoke(*args: str | Path) -> Outcome:
        capsys.readouterr()
        argv = ["--home", str(settings.home), "--db", settings.db_url, *map(str, args)]
        with pytest.raises(SystemExit) as info:
            run(argv)
        captured = capsys.readouterr()
        code = info.value.code
        return Outcome(int(code) if isinstance(code, int) else 0, captured.out, captured.err)

    return invoke


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)
