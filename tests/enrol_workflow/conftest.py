"""Enrolment workflow fixtures: a home with a migrated SQLite store, the fixture PKI's CAs
and CRLs imported as trust, one mailbox with its old certificate, an in-process CLI runner,
and a "fixture ANS" that signs a CSR with the ACI-EL-ORG test key (AUTH_CLI profile)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmgr.config import Settings
from certmgr.store.migrate import upgrade
from certmgr.store.session import Store, open_store
from tests.support import (
    ACTOR,
    ADDRESS,
    AT,
    FIXED,
    SIRET,
    Invoke,
    cli_runner,
    require_fixed_pki,
    seed_enrolment,
    sign_auth_cli,
    sqlite_settings,
)

__all__ = ["ACTOR", "ADDRESS", "AT", "FIXED", "PASSPHRASE", "SIRET", "Invoke", "issue",
           "write_cert"]

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    home.mkdir(mode=0o700)
    return sqlite_settings(home)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The home's store, migrated and seeded by `seed_enrolment`."""
    require_fixed_pki()
    upgrade(settings.db_url)
    with open_store(settings) as opened:
        seed_enrolment(opened)
        yield opened


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch,
        ) -> Invoke:
    monkeypatch.setenv("CERTMGR_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("CERTMGR_DB", raising=False)
    return cli_runner(capsys, "--home", home)


def issue(csr_pem: bytes, *, not_before: dt.datetime = AT,
          years: int = 4) -> x509.Certificate:
    """What ANS does: sign the CSR with ACI-EL-ORG, AUTH_CLI extensions (fixture PKI)."""
    return sign_auth_cli(csr_pem, not_before=not_before,
                         not_after=not_before.replace(year=not_before.year + years))


def write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path
