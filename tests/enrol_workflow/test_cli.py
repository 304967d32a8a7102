"""The commands end to end: csr new, order, import, export (p12/pem, hook), revocation code,
and SIGKILL safety of `csr new`."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlmodel import col, select

from certmgr.store.audit import verify_chain
from certmgr.store.models import AuditEvent, KeyRecord, Renewal, RevocationCode
from certmgr.store.session import Store

from .conftest import ADDRESS, PASSPHRASE, Invoke, issue, write_cert

EXPORT_PASSWORD = "export-pw-1"


@pytest.fixture
def active(store: Store, cli: Invoke, tmp_path: Path) -> Store:
    """A mailbox whose renewal went CSR -> ORDERED -> ACTIVE through the CLI."""
    made = cli("csr", "new", ADDRESS, "--json")
    assert made.code == 0, made.err
    csr_path = Path(made.json()["csr_path"])
    assert "Demander un certificat" in " ".join(made.json()["next_steps"])
    marked = cli("order", "mark", ADDRESS, "--ref", "ANS-77", "--json")
    assert marked.code == 0, marked.err
    assert marked.json()["state"] == "ORDERED"
    again = cli("order", "mark", ADDRESS)
    assert again.code == 2
    assert "cannot become ORDERED" in again.err
    cert_file = write_cert(issue(csr_path.read_bytes()), tmp_path / "download.crt")
    imported = cli("import", cert_file, "--json")
    assert imported.code == 0, imported.err
    listed = cli("order", "list", "--all", "--json")
    assert [r["state"] for r in listed.json()] == ["ACTIVE"]
    return store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestExport:
    """PKCS#12 modern and legacy, PEM, overwrite refusal, deploy hook."""

    @pytest.mark.parametrize("legacy", [False, True])
    def test_p12_opens_with_cryptography_and_openssl(self, active: Store, cli: Invoke,
                                                     tmp_path: Path, legacy: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CERTMGR_EXPORT_PASSWORD", EXPORT_PASSWORD)
        out = tmp_path / "out.p12"
        args = ["export", ADDRESS, "--format", "p12", "--chain", "--out", out, "--json"]
        done = cli(*args, *(["--legacy-p12"] if legacy else []))
        assert done.code == 0, done.err
        assert _mode(out) == 0o600
        key, cert, cas = pkcs12.load_key_and_certificates(out.read_bytes(),
                                                          EXPORT_PASSWORD.encode())
        assert key is not None
        assert cert is not None
        assert len(cas) == 2  # ACI-EL-ORG and ACR-EL
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("no openssl")
        base = [openssl, "pkcs12", "-info", "-noout", "-in", str(out),
                "-passin", f"pass:{EXPORT_PASSWORD}"]
        plain = subprocess.run(base, capture_output=True, check=False)
        with_legacy = subprocess.run([*base, "-legacy"], capture_output=True, check=False)
        assert with_legacy.returncode == 0, with_legacy.stderr
        if legacy:
            # 3DES is in OpenSSL 3's default provider: `-legacy` is not even needed (RC2
            # would need it); both ways must open it.
            assert plain.returncode == 0, plain.stderr
            assert b"pbeWithSHA1And3-KeyTripleDES-CBC" in plain.stderr
        else:
            assert plain.returncode == 0, plain.stderr
            assert b"AES-256-CBC" in plain.stderr
        refused = cli(*args)
        assert refused.code == 2
        assert "already exists" in refused.err
        assert cli(*args, "--force").code == 0

    def test_pem_and_deploy_hook(self, active: Store, cli: Invoke, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CERTMGR_EXPORT_PASSWORD", EXPORT_PASSWORD)
        seen = tmp_path / "seen.txt"
        hook = tmp_path / "hook.py"
        hook.write_text("import os, sys\n"
                        f"open({str(seen)!r}, 'w').write('\\n'.join(os.environ.get(n, '-') "
                        "for n in ('CERTMGR_MAILBOX', 'CERTMGR_EXPORT_CERT', "
                        "'CERTMGR_EXPORT_KEY', 'CERTMGR_EXPORT_P12')))\n"
                        "sys.exit(int(sys.argv[1]))\n")
        outdir = tmp_path / "pem"
        done = cli("export", ADDRESS, "--format", "pem", "--out", outdir, "--json",
                   "--deploy-hook", f"{sys.executable} {hook} 0")
        assert done.code == 0, done.err
        assert done.json()["deploy_hook_exit_code"] == 0
        mailbox, cert, key, p12 = seen.read_text().splitlines()
        assert (mailbox, Path(cert), Path(key), p12) == (
            ADDRESS, outdir / "cert.pem", outdir / "key.pem", "-")
        assert _mode(outdir / "key.pem") == 0o600
        assert b"ENCRYPTED PRIVATE KEY" in (outdir / "key.pem").read_bytes()
        failed = cli("export", ADDRESS, "--format", "pem", "--out", outdir, "--force",
                     "--deploy-hook", f"{sys.executable} {hook} 5")
        assert failed.code == 1
        assert "exited with code 5" in failed.err

    def test_deploy_hook_never_sees_the_secrets(self, active: Store, cli: Invoke,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        secrets = {"CERTMGR_EXPORT_PASSWORD": EXPORT_PASSWORD,
                   "CERTMGR_SMTP_PASSWORD": "smtp-pw-2", "CERTMGR_P12_PASSWORD": "p12-pw-3",
                   "CERTMGR_WEBHOOK_SECRET": "hmac-4", "PGPASSWORD": "pg-pw-5",
                   "CERTMGR_TEST_PG_URL": "postgresql+psycopg://u:url-pw-6@127.0.0.1/x"}
        for name, value in secrets.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CERTMGR_EXPORT_CHAIN", "/stale/from/the/caller")
        monkeypatch.setenv("HOOK_SETTING", "kept")
        dump = tmp_path / "env.json"
        hook = tmp_path / "dump_env.py"
        hook.write_text(f"import json, os\nopen({str(dump)!r}, 'w').write("
                        "json.dumps(dict(os.environ)))\n")
        out = tmp_path / "hooked.p12"
        done = cli("export", ADDRESS, "--out", out, "--deploy-hook",
                   f"{sys.executable} {hook}")
        assert done.code == 0, done.err
        env: dict[str, str] = json.loads(dump.read_text())
        assert env["CERTMGR_MAILBOX"] == ADDRESS
        assert env["CERTMGR_EXPORT_P12"] == str(out)
        assert env["HOOK_SETTING"] == "kept"
        assert env["PATH"] == os.environ["PATH"]
        assert "CERTMGR_EXPORT_CHAIN" not in env  # not written by this export
        assert not {*secrets, "CERTMGR_PASSPHRASE"} & env.keys()
        leaked = [v for v in (*secrets.values(), "url-pw-6", PASSPHRASE)
                  if any(v in seen for seen in env.values())]
        assert leaked == []
        # the export itself used the password the hook did not get
        assert pkcs12.load_key_and_certificates(out.read_bytes(), EXPORT_PASSWORD.encode())[0]

    def test_export_password_sources_are_named(self, active: Store, cli: Invoke,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
        out = tmp_path / "pw.p12"
        monkeypatch.delenv("CERTMGR_EXPORT_PASSWORD", raising=False)
        missing = cli("export", ADDRESS, "--out", out)
        assert missing.code == 2
        assert "CERTMGR_EXPORT_PASSWORD" in missing.err
        assert "--password-file" in missing.err
        assert "CERTMGR_PASSPHRASE" not in missing.err
        assert len(missing.err.strip().splitlines()) == 1
        monkeypatch.setenv("CERTMGR_EXPORT_PASSWORD", "")
        empty = cli("export", ADDRESS, "--out", out)
        assert empty.code == 2
        assert "CERTMGR_EXPORT_PASSWORD is set but empty" in empty.err
        assert not out.exists()
        monkeypatch.delenv("CERTMGR_EXPORT_PASSWORD")
        password_file = tmp_path / "export.pass"
        password_file.write_text("from-the-file\n")
        password_file.chmod(0o600)
        done = cli("export", ADDRESS, "--out", out, "--password-file", password_file)
        assert done.code == 0, done.err
        assert pkcs12.load_key_and_certificates(out.read_bytes(), b"from-the-file")[0]


class TestRevocationCode:
    """Stored encrypted, revealed on request only, every reveal audited."""

    def test_set_and_reveal(self, active: Store, cli: Invoke,
                            monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys, "stdin", io.StringIO("RC-SECRET-1234\n"))
        assert cli("order", "revocation-code", ADDRESS, "--set").code == 0
        with active.sessions() as session:
            row = session.scalars(select(RevocationCode)).one()
            assert b"RC-SECRET-1234" not in row.ciphertext
        shown = cli("order", "revocation-code", ADDRESS, "--reveal", "--json")
        assert shown.code == 0, shown.err
        assert shown.json()["revocation_code"] == "RC-SECRET-1234"
        monkeypatch.setenv("CERTMGR_PASSPHRASE", "not the passphrase")
        assert cli("order", "revocation-code", ADDRESS, "--reveal").code == 2
        with active.sessions() as session:
            events = session.scalars(select(AuditEvent)).all()
        assert [e.action for e in events].count("revocation_code.revealed") == 1
        assert all("RC-SECRET" not in str(e.details) for e in events)


def test_every_step_is_audited(active: Store, cli: Invoke, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 5, item 7: key generated, CSR created, order marked, certificate matched,
    exported, revocation code stored and revealed, each an audit event naming the
    mailbox, in that order, with no secret in any of them; the chain verifies."""
    monkeypatch.setenv("CERTMGR_EXPORT_PASSWORD", EXPORT_PASSWORD)
    assert cli("export", ADDRESS, "--format", "p12", "--out", tmp_path / "a.p12").code == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("RC-SECRET-77\n"))
    assert cli("order", "revocation-code", ADDRESS, "--set").code == 0
    assert cli("order", "revocation-code", ADDRESS, "--reveal").code == 0
    with active.sessions() as session:
        events = session.scalars(select(AuditEvent).order_by(col(AuditEvent.id))).all()
        chain = verify_chain(session)
    steps = ["key.generated", "csr.created", "order.marked", "certificate.matched",
             "renewal.activated", "exported", "revocation_code.stored",
             "revocation_code.revealed"]
    actions = [e.action for e in events]
    assert [a for a in actions if a in steps] == steps
    assert chain.ok, chain.reason
    for event in events:
        text = json.dumps(event.details)
        assert "RC-SECRET" not in text
        assert PASSPHRASE not in text
        assert EXPORT_PASSWORD not in text


class TestCrashSafety:
    """SIGKILL during `csr new`: no row without its key file, no partial key file."""

    @pytest.mark.parametrize("point", ["keyfile:mid-write", "keyfile:before-rename",
                                       "keyfile:after-rename"])
    def test_sigkill(self, store: Store, home: Path, point: str) -> None:
        env = {**os.environ, "CERTMGR_FAULT": point, "CERTMGR_PASSPHRASE": PASSPHRASE}
        env.pop("CERTMGR_DB", None)
        done = subprocess.run([sys.executable, "-m", "certmgr", "--home", str(home), "csr",
                               "new", ADDRESS], env=env, capture_output=True, check=False,
                              timeout=120)
        assert done.returncode == -signal.SIGKILL, done.stderr
        with store.sessions() as session:
            assert session.scalars(select(KeyRecord)).all() == []
            assert session.scalars(select(Renewal)).all() == []
        finals = [p for p in (home / "keys").iterdir() if not p.name.startswith(".")]
        for path in finals:  # only after the rename: the complete, encrypted key
            assert path.read_bytes().rstrip().endswith(b"-----END ENCRYPTED PRIVATE KEY-----")
        assert bool(finals) == (point == "keyfile:after-rename")


class TestCommands:
    """Exit codes, human and --json output of `csr new` and `order`."""

    def test_csr_new_human_output_and_usage(self, store: Store, cli: Invoke) -> None:
        assert cli("csr", "new").code == 2
        assert cli("csr", "new", ADDRESS, "--due").code == 2
        made = cli("csr", "new", ADDRESS)
        assert made.code == 0, made.err
        assert "Sur le portail ANS (https://pro.esante.gouv.fr)" in made.out
        assert f"certmgr order mark {ADDRESS} --ref" in made.out
        again = cli("csr", "new", ADDRESS)
        assert again.code == 2
        assert "already has renewal" in again.err

    def test_a_mistyped_passphrase_writes_no_key(self, store: Store, cli: Invoke, home: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        """Every key of a home shares one passphrase: once a key is held, `csr new` under
        another one is refused (exit 2, the key named), with no key file and no renewal."""
        assert cli("csr", "new", ADDRESS).code == 0
        assert cli("order", "abandon", ADDRESS).code == 0
        keys = sorted((home / "keys").glob("*.pem"))
        monkeypatch.setenv("CERTMGR_PASSPHRASE", "correct horse battery stapel")
        refused = cli("csr", "new", ADDRESS)
        assert refused.code == 2
        assert "does not open the keys already held here (keys/" in refused.err
        assert refused.err.count("\n") == 1
        batch = cli("csr", "new", "--due", "--within", "100000", "--json")
        assert batch.code == 2
        assert sorted((home / "keys").glob("*.pem")) == keys
        monkeypatch.setenv("CERTMGR_PASSPHRASE", PASSPHRASE)
        assert cli("csr", "new", ADDRESS).code == 0

    def test_key_choices_ec_plaintext_and_out(self, store: Store, cli: Invoke, home: Path,
                                              tmp_path: Path) -> None:
        """--ec-p256 warns that IGC Santé may refuse it; --insecure-plaintext-key warns
        and writes a plaintext key (still 0600, in keys/); --out takes the CSR elsewhere;
        --key-size 3072 gives an encrypted RSA-3072 key."""
        out_dir = tmp_path / "csrs"
        out_dir.mkdir()
        done = cli("csr", "new", ADDRESS, "--ec-p256", "--insecure-plaintext-key",
                   "--out", out_dir, "--json")
        assert done.code == 0, done.err
        assert "IGC Santé is not known to accept EC keys" in done.err
        assert "stored UNENCRYPTED" in done.err
        made = done.json()
        assert (made["algorithm"], made["encrypted"]) == ("ec-p256", False)
        key_path, csr_path = Path(made["key_path"]), Path(made["csr_path"])
        assert csr_path.parent == out_dir
        assert key_path.parent == home / "keys"
        assert _mode(key_path) == 0o600
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert cli("csr", "lint", csr_path, "--profile", "ORG_AUTH_CLI").code == 0
        assert cli("order", "abandon", ADDRESS).code == 0
        rsa3072 = cli("csr", "new", ADDRESS, "--key-size", "3072", "--json")
        assert rsa3072.code == 0, rsa3072.err
        assert (rsa3072.json()["algorithm"], rsa3072.json()["encrypted"]) == ("rsa3072", True)
        pem = Path(rsa3072.json()["key_path"]).read_bytes()
        assert b"ENCRYPTED PRIVATE KEY" in pem
        loaded = serialization.load_pem_private_key(pem, password=PASSPHRASE.encode())
        assert isinstance(loaded, rsa.RSAPrivateKey)
        assert loaded.key_size == 3072

    def test_from_csv_reports_each_row(self, store: Store, cli: Invoke, tmp_path: Path,
                                       ) -> None:
        listed = tmp_path / "renew.csv"
        listed.write_text(f"comment,address\nx,{ADDRESS}\ny,nobody@nowhere.fr\n",
                          encoding="utf-8")
        done = cli("csr", "new", "--from-csv", listed, "--json")
        assert done.code == 1
        report = done.json()
        assert (report["created"], report["failed"]) == (1, 1)
        by_address = {i["address"]: i["status"] for i in report["items"]}
        assert by_address == {ADDRESS: "created", "nobody@nowhere.fr": "failed"}

    def test_order_list_flags_stale_orders(self, store: Store, cli: Invoke) -> None:
        assert cli("csr", "new", ADDRESS).code == 0
        assert cli("order", "mark", ADDRESS, "--ref", "R-9").code == 0
        fresh = cli("order", "list", "--json")
        assert fresh.code == 0
        assert [(r["state"], r["order_ref"], r["stale"]) for r in fresh.json()] == [
            ("ORDERED", "R-9", False)]
        stale = cli("order", "list", "--stale-days", "0")
        assert stale.code == 1
        assert "ORDERED MORE THAN 0 DAYS AGO" in stale.out
        assert cli("order", "reject", ADDRESS, "--reason", "bad OU").code == 0
        assert cli("order", "abandon", ADDRESS).code == 2  # nothing open any more
        assert cli("order", "list", "--json").json() == []

    def test_export_refuses_a_missing_directory(self, active: Store, cli: Invoke,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CERTMGR_EXPORT_PASSWORD", EXPORT_PASSWORD)
        missing = tmp_path / "nowhere" / "out.p12"
        done = cli("export", ADDRESS, "--out", missing)
        assert done.code == 2
        assert "does not exist" in done.err
        assert not missing.parent.exists()
        assert cli("order", "revocation-code", ADDRESS, "--set", "--reveal").code == 2
