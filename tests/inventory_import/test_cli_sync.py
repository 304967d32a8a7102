"""The commands: exit codes, --json, no progress bar when piped; trust sync over loopback
HTTP; two processes importing the same directory into one SQLite file."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from sqlalchemy import func
from sqlmodel import select

from certmgr.cli import run
from certmgr.config import Settings
from certmgr.fetch import HttpFetcher
from certmgr.fetch.testserver import LoopbackServer, Reply
from certmgr.pki.load import load_bundle
from certmgr.services.trust import BUNDLE_PATHS, sync_trust
from certmgr.store.audit import verify_chain
from certmgr.store.engine import make_engine
from certmgr.store.migrate import upgrade
from certmgr.store.models import CACertificate, Certificate, Crl
from certmgr.store.session import Store, open_store

from .conftest import ACTOR, AT, P12_PASSWORD, SHARED, Invoke, add, counts

ANS_P7B = SHARED / "production" / "Chaine_de_certification-IGC-Sante.p7b"


def test_import_command_json_and_exit_codes(cli: Invoke, pki: Path, tmp_path: Path) -> None:
    ok = cli("import", pki / "bundles" / "chain.p7b", pki / "leaves" / "el-org-auth-valid.pem",
             "--json")
    assert ok.code == 0, ok.err
    doc = ok.json()
    assert doc["ok"] is True
    assert doc["totals"]["cas"] == 9
    assert doc["totals"]["certificates"] == 1
    assert [f["status"] for f in doc["files"]] == ["added", "added"]
    again = cli("import", pki / "bundles" / "chain.p7b")
    assert again.code == 0
    assert again.out.startswith("known ")
    bad = tmp_path / "bad.der"
    bad.write_bytes(b"\x30\x82\x05\x00\x01")
    out = cli("import", bad, pki / "leaves" / "fo-org-auth-valid.pem")
    assert out.code == 1
    assert f"rejected {bad}: truncated DER" in out.out
    assert "added " in out.out
    assert "\x1b[" not in out.err  # no progress bar when stderr is not a terminal


def test_import_with_passphrase_file_and_mailbox(cli: Invoke, store: Store, pki: Path,
                                                  tmp_path: Path) -> None:
    add(store, "app@ch.mssante.fr")
    secret = tmp_path / "pass.txt"
    secret.write_text(P12_PASSWORD + "\n")
    secret.chmod(0o644)
    p12 = pki / "bundles" / "el-org-auth-valid.p12"
    unsafe = cli("import", p12, "--passphrase-file", secret)
    assert unsafe.code == 2
    assert "chmod 600" in unsafe.err
    secret.chmod(0o600)
    out = cli("import", p12, "--passphrase-file", secret, "--mailbox", "app@ch.mssante.fr",
              "--json")
    assert out.code == 0, out.err
    (file,) = out.json()["files"]
    # The PKCS#12's key is ours now: stored encrypted, owner-only, next to the others.
    assert file["notes"][0].startswith("private key stored in keys/imported-")
    (key_file,) = (tmp_path / "home" / "keys").glob("imported-*.key.pem")
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED" in key_file.read_bytes()
    assert file["bound"][0]["mailbox"] == "app@ch.mssante.fr"
    assert file["bound"][0]["role"] == "current"
    # what became of the certificate, said plainly (not "no renewal waiting for it")
    assert file["notes"][1] == ("came with its private key, both kept here: current "
                                "certificate of app@ch.mssante.fr")
    again = cli("import", p12, "--passphrase-file", secret, "--mailbox", "app@ch.mssante.fr")
    assert again.code == 0, again.err
    assert again.out.startswith("known ")
    assert ("private key already held here; came with its private key, both kept here: "
            "already bound to app@ch.mssante.fr") in again.out
    assert cli("import", p12, "--passphrase-file", secret, "--mailbox", "x@y.fr").code == 2


def test_pkcs12_with_no_mailbox_says_so(cli: Invoke, pki: Path, tmp_path: Path) -> None:
    """A PKCS#12 whose certificate no binding rule ties to a mailbox: the key is kept and
    the report says the certificate serves no mailbox yet, and how to bind it."""
    secret = tmp_path / "pass.txt"
    secret.write_text(P12_PASSWORD + "\n")
    secret.chmod(0o600)
    out = cli("import", pki / "bundles" / "el-org-auth-valid.p12", "--passphrase-file", secret)
    assert out.code == 0, out.err
    assert "private key stored in keys/imported-" in out.out
    assert ("came with its private key, both kept here: bound to no mailbox (import it "
            "again with --mailbox ADDRESS, or add a binding rule)") in out.out
    assert "no renewal waiting" not in out.out


def test_trust_commands(cli: Invoke, pki: Path) -> None:
    out = cli("trust", "import", pki / "ca" / "ACR-EL.pem", pki / "ca" / "IMPOSTOR-ACR-EL.pem",
              pki / "leaves" / "el-org-auth-valid.pem", "--json")
    assert out.code == 1
    statuses = [f["status"] for f in out.json()["files"]]
    assert statuses == ["added", "rejected", "rejected"]
    assert "IMPOSTOR_CA" in out.out
    assert "NOT_A_CA" in out.out
    assert "not IGC Santé production" in out.err
    listed = cli("trust", "list", "--json")
    assert listed.code == 0
    assert [(e["role"], e["environment"], e["pinned"]) for e in listed.json()] == [
        ("anchor", "FIXTURE", False)]
    assert "1 CA certificate(s)" in cli("trust", "list").out


def test_crl_commands(cli: Invoke, pki: Path) -> None:
    cli("trust", "import", pki / "bundles" / "chain.p7b")
    out = cli("crl", "import", pki / "crl" / "ACI-EL-ORG.crl",
              pki / "crl" / "crl-ACI-EL-ORG-stale.crl", pki / "leaves" / "el-org-sign-valid.pem",
              "--json")
    assert out.code == 1  # the certificate file holds no CRL
    assert out.json()["files"][2]["rejected"].endswith("holds no CRL")
    listed = cli("crl", "list", "--json").json()["crls"]
    assert [(c["number"], c["current"], c["verified"], c["entries"]) for c in listed] == [
        (100, True, True, 2), (99, False, True, 1)]
    assert {"freshness", "this_update", "next_update", "issuer", "delta"} <= set(listed[0])
    # the fixture CRLs' nextUpdate (a week after the fixture instant, 2025) has passed
    assert [c["freshness"] for c in listed] == ["stale", "stale"]
    assert listed[0]["issuer"].startswith("CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS")
    text = cli("crl", "list")
    assert text.code == 0
    assert text.out.startswith("stale ")


def test_commands_refuse_an_unmigrated_database(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.sqlite3").touch()  # an existing, empty database file
    with pytest.raises(SystemExit) as info:
        run(["--db", f"sqlite:///{tmp_path / 'x.sqlite3'}", "trust", "list"])
    assert info.value.code == 3
    assert "certmgr db upgrade" in capsys.readouterr().err


def test_no_progress_bar_when_piped(db_url: str, pki: Path, tmp_path: Path) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("one backend is enough for the terminal check")
    done = subprocess.run([sys.executable, "-m", "certmgr", "--home", str(tmp_path), "--db",
                           db_url, "import", str(pki / "leaves")], capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "\x1b" not in done.stdout


# ---------------------------------------------------------------------------- trust sync
def _p7b(*ders: bytes) -> bytes:
    return pkcs7.serialize_certificates([x509.load_der_x509_certificate(d) for d in ders],
                                        Encoding.DER)


def test_trust_sync_accepts_only_pinned(store: Store, pki: Path) -> None:
    if not ANS_P7B.is_file() or not (SHARED / "test-env").is_dir():
        pytest.skip("the real ANS files are not available")
    test_ders = [x509.load_pem_x509_certificate(p.read_bytes()).public_bytes(Encoding.DER)
                 if p.read_bytes().startswith(b"-----") else p.read_bytes()
                 for p in sorted((SHARED / "test-env").glob("*.cer"))]
    fixture = [(pki / "ca" / f"{n}.der").read_bytes() for n in ("ACR-EL", "ACI-EL-ORG")]
    with LoopbackServer() as server, HttpFetcher(now=lambda: AT) as fetcher:
        server.route(BUNDLE_PATHS["production"], Reply(body=ANS_P7B.read_bytes()))
        server.route(BUNDLE_PATHS["test"], Reply(body=_p7b(*test_ders, *fixture)))
        report = sync_trust(store=store, fetcher=fetcher, policy=server.policy(),
                            base_url=server.base_url, at=AT, actor=ACTOR)
    assert not report.ok  # the fixture CAs in the TEST bundle are not pinned
    # ANS's bundle holds 8 of the 9 production CAs (no FORT ORGANISATIONS), all pinned.
    published = len(load_bundle(ANS_P7B.read_bytes(), source="ans").certificates)
    expected = published + len(test_ders)
    assert (report.count("added"), report.count("refused")) == (expected, 2)
    with store.sessions() as session:
        rows = session.scalars(select(CACertificate)).all()
    assert len(rows) == expected
    assert all(r.pinned for r in rows)


def test_trust_sync_command(cli: Invoke, pki: Path) -> None:
    fixture = _p7b((pki / "ca" / "ACR-EL.der").read_bytes())
    with LoopbackServer() as server:
        server.route(BUNDLE_PATHS["production"], Reply(body=fixture))
        out = cli("trust", "sync", "--base-url", server.base_url, "--json")
        missing = cli("trust", "sync", "--base-url", server.base_url, "--env", "test")
        refused = cli("trust", "sync", "--base-url", "http://10.1.2.3:8080",
                      "--env", "production")
    assert out.code == 1
    doc = out.json()
    assert doc["refused"] == 1
    assert doc["added"] == 0
    assert "HTTP 404" in doc["sources"][1]["error"]
    assert missing.code == 1
    assert missing.out.startswith("failed   test:")
    # an explicit base URL allows its host, never a private address (refused before connecting)
    assert refused.code == 1
    assert "refused" in refused.out


# ---------------------------------------------------------------------------- processes
def test_two_processes_import_the_same_directory(tmp_path: Path, pki: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    # Both import the whole fixture tree: the impostor, the TEST look-alikes and the
    # protected PKCS#12 (no passphrase given) are rejected in both, the rest stored once.
    args = ["--home", str(tmp_path / "home"), "--db", url, "import", str(pki)]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=run, args=(args,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [1, 1]  # impostor + p12: rejected, nothing else
    with open_store(Settings(home=tmp_path / "home", db_url=url)) as store:
        totals = counts(store)
        with store.sessions() as session:
            distinct = session.scalar(select(func.count(func.distinct(
                Certificate.fingerprint_sha256))))
            crls = session.scalar(select(func.count(func.distinct(Crl.fingerprint_sha256))))
            chain = verify_chain(session)
    assert totals["certificates"] == distinct == len(list((pki / "leaves").glob("*.pem")))
    assert totals["crls"] == crls == len(list((pki / "crl").glob("*.crl")))
    assert chain.ok
