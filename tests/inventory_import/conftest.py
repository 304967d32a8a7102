"""Import fixtures: a migrated store per test (SQLite file, and PostgreSQL when
CERTMGR_TEST_PG_URL is set), the fixture PKI, an in-process CLI runner, and a small
certificate factory signing with the fixture CA keys."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func
from sqlmodel import select

from certmgr.cli import run
from certmgr.config import Settings
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.engine import make_engine
from certmgr.store.enums import MailboxEnvironment
from certmgr.store.migrate import upgrade
from certmgr.store.models import AuditEvent, Binding, CACertificate, Certificate, Crl
from certmgr.store.session import Store, open_store
from certmgr.store.testing import BACKENDS, temporary_database_url
from certmgr.testpki import FIXED_AT, load_key

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "pki" / "fixed"
SHARED = Path("/work/shared/igc-sante")
AT = FIXED_AT
ACTOR = "tester"
SIRET = "3" + "73282932000074"
P12_PASSWORD = "fixture-p12-password"


@pytest.fixture(scope="session")
def pki() -> Path:
    if not (FIXED / "index.json").is_file():
        pytest.skip("fixture PKI not generated")
    return FIXED


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


def counts(store: Store) -> dict[str, int]:
    """Rows per table that the import writes."""
    out: dict[str, int] = {}
    with store.sessions() as session:
        for name, model in (("certificates", Certificate), ("cas", CACertificate),
                            ("crls", Crl), ("bindings", Binding), ("events", AuditEvent)):
            out[name] = session.scalar(select(func.count()).select_from(model)) or 0
    return out


def add(store: Store, address: str,
        env: MailboxEnvironment = MailboxEnvironment.PRODUCTION) -> None:
    add_mailbox(store=store, spec=MailboxSpec(address=address, idnat=SIRET,
                                              organization="Clinique Test", application="DPI",
                                              environment=env), at=AT, actor=ACTOR)


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
def cli(capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path) -> Invoke:
    """`certmgr --home H --db URL ARGS...` in-process, with its exit code and output."""
    def invoke(*args: str | Path) -> Outcome:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            run(["--home", str(tmp_path / "home"), "--db", db_url, *[str(a) for a in args]])
        captured = capsys.readouterr()
        code = info.value.code
        return Outcome(int(code) if isinstance(code, int) else 0, captured.out, captured.err)

    return invoke


# ---------------------------------------------------------------------------- certificates
_ORG_CA = "ACI-EL-ORG"


@functools.cache
def _leaf_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ca_cert(pki: Path, name: str = _ORG_CA) -> x509.Certificate:
    return x509.load_der_x509_certificate((pki / "ca" / f"{name}.der").read_bytes())


def make_leaf(pki: Path, *, cn: str, not_before: dt.datetime, days: int,
              san_email: str | None = None, serial: int | None = None) -> bytes:
    """A PEM leaf issued by the fixture ACI-EL-ORG (signed with its fixture key)."""
    issuer = ca_cert(pki)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test"),
                                        x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .issuer_name(issuer.subject).public_key(_leaf_key().public_key())
               .serial_number(serial or x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_before + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if san_email is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(san_email)]), critical=False)
    cert = builder.sign(load_key(_ORG_CA), hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


def make_crl(pki: Path, *, this_update: dt.datetime, number: int,
             signer: str = _ORG_CA) -> bytes:
    """A DER CRL with ACI-EL-ORG's name and AKI, signed by `signer`'s fixture key."""
    issuer = ca_cert(pki)
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    crl = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
           .last_update(this_update).next_update(this_update + dt.timedelta(days=7))
           .add_extension(x509.CRLNumber(number), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                          critical=False)
           .sign(load_key(signer), hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.DER)
