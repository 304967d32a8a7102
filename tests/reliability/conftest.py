"""Reliability fixtures: a prepared SQLite home, a real `python -m certmgr` runner with
fault injection, a fixture "ANS" that signs CSRs and CRLs, and the store invariants that
must hold after any crash."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import text
from sqlmodel import col, func, select

from certmgr.config import Settings
from certmgr.services.importer import import_paths
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.enums import BindingRole
from certmgr.store.keyfiles import FAULT_ENV, TEMP_MARKER
from certmgr.store.models import Binding, Crl, KeyRecord, Renewal
from certmgr.store.session import Store, open_store
from certmgr.testpki import FIXED_AT, load_key
from tests.support import Outcome, sign_auth_cli

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "pki" / "fixed"
AT = FIXED_AT
ACTOR = "tester"
ADDRESS = "bal.appli@ch-fixture.mssante.fr"
SIRET = "3" + "73282932000074"
PASSPHRASE = "correct horse battery staple"
_KEY_END = b"-----END ENCRYPTED PRIVATE KEY-----"


Done = Outcome
"""A finished `certmgr` process (exit code, stdout, stderr)."""


def certmgr_env(*, fault: str | None = None, db_url: str | None = None,
                extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a real certmgr process: no CERTMGR_* from the outer test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    env["CERTMGR_PASSPHRASE"] = PASSPHRASE
    env.update(extra or {})
    if fault:
        env[FAULT_ENV] = fault
    if db_url:
        env["CERTMGR_DB"] = db_url
    return env


def argv(home: Path, *args: str | Path) -> list[str]:
    return [sys.executable, "-m", "certmgr", "--home", str(home), *map(str, args)]


def certmgr(home: Path, *args: str | Path, fault: str | None = None,
            db_url: str | None = None, extra_env: dict[str, str] | None = None,
            timeout: float = 120) -> Done:
    """Run `python -m certmgr --home HOME ARGS...` to its end (or its SIGKILL)."""
    env = certmgr_env(fault=fault, db_url=db_url, extra=extra_env)
    proc = subprocess.run(argv(home, *args), capture_output=True, text=True, check=False,
                          env=env, timeout=timeout)
    return Done(proc.returncode, proc.stdout, proc.stderr)


def settings_for(home: Path, db_url: str | None = None) -> Settings:
    return Settings(home=home, db_url=db_url or f"sqlite:///{home / 'certmgr.sqlite3'}")


def prepare(home: Path, *, db_url: str | None = None) -> None:
    """A home with the fixture CAs and CRLs, one mailbox and its current certificate."""
    with open_store(settings_for(home, db_url), create=True) as store:
        add_mailbox(store=store, spec=MailboxSpec(address=ADDRESS, idnat=SIRET,
                    organization="Centre Hospitalier Fixture", department="75"),
                    at=AT, actor=ACTOR)
        import_paths(store=store, paths=[FIXED / "ca", FIXED / "crl"], at=AT, actor=ACTOR)
        import_paths(store=store, paths=[FIXED / "leaves" / "el-org-auth-valid.pem"], at=AT,
                     actor=ACTOR, mailbox=ADDRESS)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A prepared SQLite home (skipped when the fixture PKI is not generated)."""
    if not (FIXED / "index.json").is_file():
        pytest.skip("fixture PKI not generated")
    path = tmp_path / "home"
    prepare(path)
    return path


def issue(csr_pem: bytes, *, not_before: dt.datetime) -> bytes:
    """What ANS does: sign the CSR with the ACI-EL-ORG fixture key (AUTH_CLI); PEM out."""
    return sign_auth_cli(csr_pem, not_before=not_before,
                         not_after=not_before + dt.timedelta(days=3 * 365)
                         ).public_bytes(serialization.Encoding.PEM)


def newer_crl(*, this_update: dt.datetime, number: int) -> bytes:
    """A CRL of ACI-EL-ORG newer than the fixture one (DER), signed by its fixture key."""
    issuer_key = load_key("ACI-EL-ORG")
    issuer = x509.load_pem_x509_certificate((FIXED / "ca" / "ACI-EL-ORG.pem").read_bytes())
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
               .last_update(this_update).next_update(this_update + dt.timedelta(days=7))
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False))
    crl = builder.sign(issuer_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER)


def current_crls(store: Store) -> dict[tuple[str, str | None, bool], str]:
    """(issuer, AKI, delta) -> fingerprint of the current CRL; asserts one per group,
    and that it is a verified one."""
    with store.sessions() as session:
        rows = session.scalars(select(Crl).where(col(Crl.is_current).is_(True))).all()
    out: dict[tuple[str, str | None, bool], str] = {}
    for row in rows:
        group = (row.issuer, row.aki, row.is_delta)
        assert group not in out, f"two current CRLs for {group}"
        assert row.verified, f"unverified current CRL {row.fingerprint_sha256}"
        out[group] = row.fingerprint_sha256
    return out


def temp_files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if TEMP_MARKER in p.name]


def assert_consistent(home: Path, *, db_url: str | None = None) -> None:
    """The crash invariants, checked after a next run of certmgr (which cleans up).

    The audit chain verifies (`certmgr audit verify`, exit 0); no temporary file is left;
    every key row has its complete key file and every renewal its CSR file; at most one
    CURRENT binding per mailbox; one verified current CRL per issuer group; SQLite's
    integrity check passes."""
    verified = certmgr(home, "audit", "verify", db_url=db_url)
    assert verified.code == 0, verified.out + verified.err
    assert temp_files(home) == []
    with open_store(settings_for(home, db_url)) as store:
        current_crls(store)
        with store.sessions() as session:
            for key in session.scalars(select(KeyRecord)):
                data = (home / key.path).read_bytes()
                assert data.rstrip().endswith(_KEY_END), key.path
            for renewal in session.scalars(select(Renewal)):
                assert renewal.csr_path is not None
                assert Path(renewal.csr_path).is_file(), renewal.csr_path
            per_mailbox = session.execute(
                select(col(Binding.mailbox_id), func.count()).where(
                    col(Binding.role) == str(BindingRole.CURRENT)).group_by(
                    col(Binding.mailbox_id))).all()
            assert all(n == 1 for _, n in per_mailbox)
            if store.engine.dialect.name == "sqlite":
                assert session.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    for path in (home / "keys").glob("*") if (home / "keys").is_dir() else ():
        assert path.read_bytes().rstrip().endswith(_KEY_END), path
