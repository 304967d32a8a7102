"""Enrolment workflow fixtures: a home with a migrated SQLite store, the fixture PKI's CAs
and CRLs imported as trust, one mailbox with its old certificate, an in-process CLI runner,
and a "fixture ANS" that signs a CSR with the ACI-EL-ORG test key (AUTH_CLI profile)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certmgr.cli import run
from certmgr.config import Settings
from certmgr.services.importer import import_paths
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.engine import make_engine
from certmgr.store.migrate import upgrade
from certmgr.store.session import Store, open_store
from certmgr.testpki import FIXED_AT, load_key, load_manifest
from certmgr.testpki.profiles import leaf_extensions

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "pki" / "fixed"
AT = FIXED_AT
ACTOR = "tester"
ADDRESS = "bal.appli@ch-fixture.mssante.fr"
SIRET = "3" + "73282932000074"
PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Invoke = Callable[..., Outcome]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    home.mkdir(mode=0o700)
    return Settings(home=home, db_url=f"sqlite:///{home / 'certmgr.sqlite3'}")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    if not (FIXED / "index.json").is_file():
        pytest.skip("fixture PKI not generated")
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    with open_store(settings) as opened:
        add_mailbox(store=opened, spec=MailboxSpec(address=ADDRESS, idnat=SIRET,
                    organization="Centre Hospitalier Fixture", department="75"),
                    at=AT, actor=ACTOR)
        import_paths(store=opened, paths=[FIXED / "ca", FIXED / "crl"], at=AT, actor=ACTOR)
        import_paths(store=opened, paths=[FIXED / "leaves" / "el-org-auth-valid.pem"], at=AT,
                     actor=ACTOR, mailbox=ADDRESS)
        yield opened


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch,
        ) -> Invoke:
    monkeypatch.setenv("CERTMGR_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("CERTMGR_DB", raising=False)

    def invoke(*args: str | Path) -> Outcome:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            run(["--home", str(home), *[str(a) for a in args]])
        captured = capsys.readouterr()
        code = info.value.code
        return Outcome(int(code) if isinstance(code, int) else 0, captured.out, captured.err)

    return invoke


def issue(csr_pem: bytes, *, not_before: dt.datetime = AT,
          years: int = 4) -> x509.Certificate:
    """What ANS does: sign the CSR with ACI-EL-ORG, AUTH_CLI extensions (fixture PKI)."""
    csr = x509.load_pem_x509_csr(csr_pem)
    manifest = load_manifest()
    issuer_key = load_key("ACI-EL-ORG")
    issuer = x509.load_pem_x509_certificate((FIXED / "ca" / "ACI-EL-ORG.pem").read_bytes())
    not_after = not_before.replace(year=not_before.year + years)
    public_key = csr.public_key()
    exts = leaf_extensions(profile="AUTH_CLI", public_key=public_key,  # type: ignore[arg-type]
                           issuer_public_key=issuer_key.public_key(), issuer_name="ACI-EL-ORG",
                           issuer_subject=issuer.subject, subject=csr.subject,
                           policy=manifest.policies["AUTH_CLI"], not_before=not_before,
                           not_after=not_after, urls=manifest.urls)
    builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(issuer.subject)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after))
    for value, critical in exts:
        builder = builder.add_extension(value, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path
