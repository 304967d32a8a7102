"""Import fixtures: the fixture PKI, an in-process CLI runner and a small certificate
factory signing with the fixture CA keys (the migrated store per test, SQLite file and
PostgreSQL, comes from `tests/conftest.py`)."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func
from sqlmodel import select

from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.enums import MailboxEnvironment
from certmgr.store.models import AuditEvent, Binding, CACertificate, Certificate, Crl
from certmgr.store.session import Store
from certmgr.testpki import load_key
from tests.support import ACTOR, AT, SIRET, Invoke, cli_runner, require_fixed_pki

__all__ = ["ACTOR", "AT", "P12_PASSWORD", "SHARED", "Invoke", "add", "counts", "make_crl",
           "make_leaf"]

SHARED = Path("/work/shared/igc-sante")
P12_PASSWORD = "fixture-p12-password"


@pytest.fixture(scope="session")
def pki() -> Path:
    return require_fixed_pki()


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


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path) -> Invoke:
    """`certmgr --home H --db URL ARGS...` in-process, with its exit code and output."""
    return cli_runner(capsys, "--home", tmp_path / "home", "--db", db_url)


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
