"""Security fixtures: a populated SQLite home (mailboxes, fixture certificates and CRLs,
an encrypted key file, audit events) and the real entry point run in-process."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.cli import run
from certmgr.config import Settings, load_settings
from certmgr.pki.keys import encrypt_key
from certmgr.services.importer import import_paths
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.keyfiles import write_private_file
from certmgr.store.session import open_store
from tests.support import Outcome

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "pki" / "fixed"
AT = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # after certmgr's release date
ACTOR = "tester"
SIRET = "3" + "73282932000074"
PASSPHRASE = "correct horse $(rm -rf ~) `id`; 'q' \"dq\" battery"
FAST_KDF = 14  # scrypt 2**14 in tests: the format is the same, only slower to guess


def settings_for(home: Path) -> Settings:
    return load_settings(home=home, environ={})




Invoke = Callable[..., Outcome]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """The real entry point (CERTMGR_DB unset so that --home decides)."""
    monkeypatch.delenv("CERTMGR_DB", raising=False)
    monkeypatch.delenv("CERTMGR_PASSPHRASE", raising=False)

    def invoke(*args: str | Path) -> Outcome:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            run([str(a) for a in args])
        captured = capsys.readouterr()
        code = info.value.code
        return Outcome(int(code) if isinstance(code, int) else 0, captured.out, captured.err)

    return invoke


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A populated home: 2 mailboxes, the fixture CAs, leaves and CRLs, one key file."""
    if not (FIXED / "index.json").is_file():
        pytest.skip("fixture PKI not generated")
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    path.chmod(0o700)
    settings = settings_for(path)
    with open_store(settings, create=True) as store:
        for n, address in enumerate(("dpi@ch-test.mssante.fr", "labo@ch-test.mssante.fr")):
            add_mailbox(store=store, spec=MailboxSpec(address=address, idnat=SIRET,
                                                      organization=f"CH Test {n}"),
                        at=AT, actor=ACTOR)
        import_paths(store=store, paths=[FIXED / "ca" / "ACR-EL.pem",
                                         FIXED / "ca" / "ACI-EL-ORG.pem",
                                         FIXED / "leaves" / "el-org-auth-valid.pem",
                                         FIXED / "leaves" / "el-org-auth-expired.pem"],
                     at=AT, actor=ACTOR)
    key = encrypt_key(ec.generate_private_key(ec.SECP256R1()), passphrase=PASSPHRASE.encode(),
                      kdf_rounds=1000)
    settings.keys_dir.mkdir(mode=0o700)  # write_private_file makes parents with the umask
    settings.keys_dir.chmod(0o700)
    write_private_file(settings.keys_dir / "dpi" / "key.pem", key)
    (path / "certmgr.sqlite3").chmod(0o600)
    return path


def import_crls(home: Path) -> None:
    with open_store(settings_for(home)) as store:
        import_paths(store=store, paths=[FIXED / "crl" / "ACR-EL.crl",
                                         FIXED / "crl" / "ACI-EL-ORG.crl"], at=AT, actor=ACTOR)
