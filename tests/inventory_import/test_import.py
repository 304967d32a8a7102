"""`import_paths`: every format, idempotency, broken files, impostors, the real ANS files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlmodel import col, select

from certmgr.errors import NotFoundError
from certmgr.pki.anchors import PINNED_CAS
from certmgr.services.importer import import_paths
from certmgr.store.models import CACertificate, Certificate
from certmgr.store.session import Store

from .conftest import ACTOR, AT, P12_PASSWORD, SHARED, counts


def _import(store: Store, *paths: Path, passphrase: bytes | None = None,
            ) -> tuple[dict[str, str], bool]:
    report = import_paths(store=store, paths=list(paths), at=AT, actor=ACTOR,
                          passphrase=passphrase)
    return {Path(f.path).name: f.status for f in report.files}, report.ok


def test_every_fixture_format(store: Store, pki: Path) -> None:
    statuses, ok = _import(
        store, pki / "bundles" / "chain.p7b", pki / "bundles" / "chain-der.p7b",
        pki / "leaves" / "el-org-auth-valid.pem", pki / "leaves" / "el-org-auth-valid.der",
        pki / "leaves" / "el-org-sign-valid.pem", pki / "crl" / "ACI-EL-ORG.crl",
        pki / "crl" / "ACI-EL-ORG.pem", pki / "bundles" / "el-org-auth-valid.p12",
        passphrase=P12_PASSWORD.encode())
    assert ok
    assert statuses == {"chain.p7b": "added", "chain-der.p7b": "known",
                        "el-org-auth-valid.pem": "added", "el-org-auth-valid.der": "known",
                        "el-org-sign-valid.pem": "added", "ACI-EL-ORG.crl": "added",
                        "ACI-EL-ORG.pem": "known", "el-org-auth-valid.p12": "known"}
    assert counts(store) | {"events": 0} == {"certificates": 2, "cas": 9, "crls": 1,
                                             "bindings": 0, "events": 0}
    with store.sessions() as session:
        anchors = session.scalars(select(CACertificate.subject).where(
            col(CACertificate.is_anchor).is_(True))).all()
    assert len(anchors) == 3
    assert all("RACINE" in s for s in anchors)


def test_pkcs12_reports_the_ignored_key(store: Store, pki: Path) -> None:
    report = import_paths(store=store, paths=[pki / "bundles" / "el-org-auth-valid.p12"],
                          at=AT, actor=ACTOR, passphrase=P12_PASSWORD.encode())
    (file,) = report.files
    assert file.status == "added"
    assert "private key ignored" in file.notes
    assert file.added() == {"certificates": 1, "cas": 2, "crls": 0}


def test_import_twice_changes_nothing(store: Store, pki: Path) -> None:
    _first, ok = _import(store, pki / "leaves", pki / "bundles" / "chain.p7b", pki / "crl")
    assert ok
    before = counts(store)
    again, ok = _import(store, pki / "leaves", pki / "bundles" / "chain.p7b", pki / "crl")
    assert ok
    assert set(again.values()) == {"known"}
    assert counts(store) == before
    assert before["certificates"] == len(list((pki / "leaves").glob("*.pem")))


def test_broken_files_are_rejected_and_the_others_imported(store: Store, pki: Path,
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    der = (pki / "leaves" / "el-org-auth-valid.der").read_bytes()
    (folder / "truncated.der").write_bytes(der[:-100])
    shutil.copy(pki / "bundles" / "el-org-auth-valid.p12", folder / "wrong-password.p12")
    leaf = (pki / "leaves" / "el-org-sign-valid.pem").read_bytes()
    other = (pki / "leaves" / "st-org-auth-valid.pem").read_bytes()
    # Text between blocks is tolerated (openssl prints subject/issuer lines there)...
    (folder / "garbage-between.pem").write_bytes(b"subject=...\n" + leaf + b"junk\n" + other)
    # ...but a damaged block is not skipped.
    broken = other.replace(b"MII", b"M!I", 1)
    (folder / "corrupt-block.pem").write_bytes(leaf + broken)
    with (folder / "huge.bin").open("wb") as handle:  # sparse: 50 MiB without writing them
        handle.truncate(50 * 1024 * 1024)
    os.mkfifo(folder / "a-fifo")
    (folder / "dangling").symlink_to(folder / "nowhere")
    shutil.copy(pki / "leaves" / "fo-org-auth-valid.pem", folder / "zz-good.pem")

    report = import_paths(store=store, paths=[folder], at=AT, actor=ACTOR,
                          passphrase=b"not the password")
    reasons = {Path(f.path).name: f.error for f in report.files}
    assert not report.ok
    assert reasons["garbage-between.pem"] is None
    assert reasons["zz-good.pem"] is None
    assert "truncated DER" in (reasons["truncated.der"] or "")
    assert "wrong passphrase" in (reasons["wrong-password.p12"] or "")
    assert "not valid base64" in (reasons["corrupt-block.pem"] or "")
    assert "larger than" in (reasons["huge.bin"] or "")
    assert "not a regular file" in (reasons["a-fifo"] or "")
    assert "dangling" in (reasons["dangling"] or "")
    assert all(str(folder) in (r or str(folder)) for r in reasons.values())
    assert counts(store)["certificates"] == 3  # sign-valid, st-org and fo-org


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_in_a_directory(store: Store, pki: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    secret = folder / "locked.pem"
    shutil.copy(pki / "leaves" / "el-org-sign-valid.pem", secret)
    secret.chmod(0)
    shutil.copy(pki / "leaves" / "fo-org-auth-valid.pem", folder / "ok.pem")
    report = import_paths(store=store, paths=[folder], at=AT, actor=ACTOR)
    assert {Path(f.path).name: f.status for f in report.files} == {
        "locked.pem": "rejected", "ok.pem": "added"}


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_a_file_that_fails_to_read_in_a_directory(store: Store, pki: Path,
                                                   tmp_path: Path) -> None:
    """What an unreadable file does, even as root (who reads any mode): /proc/self/mem
    is a regular file whose read fails (EIO). It is rejected with the reason, the
    others are imported."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.pem").symlink_to("/proc/self/mem")
    shutil.copy(pki / "leaves" / "fo-org-auth-valid.pem", folder / "ok.pem")
    report = import_paths(store=store, paths=[folder], at=AT, actor=ACTOR)
    statuses = {Path(f.path).name: (f.status, f.error) for f in report.files}
    assert statuses["ok.pem"] == ("added", None)
    status, error = statuses["broken.pem"]
    assert status == "rejected"
    assert error is not None
    assert "cannot read" in error
    assert str(folder / "broken.pem") in error
    assert counts(store)["certificates"] == 1


def test_missing_path_and_empty_file(store: Store, tmp_path: Path) -> None:
    (tmp_path / "empty.pem").write_bytes(b"")
    (tmp_path / "key-only.txt").write_text("just some text\n")
    report = import_paths(store=store, paths=[tmp_path / "absent.pem", tmp_path / "empty.pem",
                                              tmp_path / "key-only.txt"], at=AT, actor=ACTOR)
    assert [f.status for f in report.files] == ["rejected"] * 3
    assert "no such file" in (report.files[0].error or "")


def test_impostors_are_refused_and_never_stored(store: Store, pki: Path) -> None:
    report = import_paths(store=store, paths=[pki / "ca" / "IMPOSTOR-ACR-EL.pem",
                                              pki / "ca" / "TEST-ACR-EL.pem",
                                              pki / "ca" / "ACR-EL.pem"], at=AT, actor=ACTOR)
    assert [f.status for f in report.files] == ["rejected", "rejected", "added"]
    assert [o.finding.code for f in report.files[:2] for o in f.refused
            if o.finding is not None] == ["IMPOSTOR_CA", "IMPOSTOR_CA"]
    assert counts(store)["cas"] == 1


def test_unknown_mailbox_stops_before_anything(store: Store, pki: Path) -> None:
    with pytest.raises(NotFoundError):
        import_paths(store=store, paths=[pki / "leaves"], at=AT, actor=ACTOR,
                     mailbox="nobody@example.org")
    assert counts(store)["certificates"] == 0


def test_real_ans_files_become_pinned_cas(store: Store) -> None:
    if not (SHARED / "production").is_dir() or not (SHARED / "test-env").is_dir():
        pytest.skip("the real ANS CA files are not available")
    report = import_paths(store=store, paths=[SHARED / "production", SHARED / "test-env"],
                          at=AT, actor=ACTOR)
    assert report.ok, [f.error for f in report.files]
    with store.sessions() as session:
        rows = session.scalars(select(CACertificate)).all()
        leaves = session.scalars(select(Certificate)).all()
    assert {r.fingerprint_sha256 for r in rows} == {p.fingerprint_sha256 for p in PINNED_CAS}
    assert all(r.pinned for r in rows)
    assert not leaves
    anchors = {(r.environment, r.subject.split(",")[0]) for r in rows if r.is_anchor}
    assert len(anchors) == 4
    assert ("TEST", "CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE") in anchors
