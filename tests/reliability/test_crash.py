"""SIGKILL of real `python -m certmgr` processes inside multi-step writes (CERTMGR_FAULT
points, and one kill after a random delay); then the store invariants, and a re-run that
finishes the work."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlmodel import col, func, select

from certmgr.store.enums import BindingRole
from certmgr.store.models import AuditEvent, Binding, Certificate, Renewal, RenewalState
from certmgr.store.session import Store, open_store

from .conftest import (
    ADDRESS,
    argv,
    assert_consistent,
    certmgr,
    certmgr_env,
    current_crls,
    issue,
    newer_crl,
    settings_for,
    temp_files,
)

KILLED = -signal.SIGKILL
P12_PASSWORD = "fixture-p12-password"  # a test password, for a PKCS#12 made by the test
NOW = dt.datetime.now(dt.UTC)  # the subprocesses run on the real clock


def _other_csr() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CH Autre"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "autre@ch-autre.mssante.fr")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def _p12(tmp_path: Path) -> tuple[Path, Path, str]:
    """A password-protected PKCS#12 (fresh key and certificate) and its password file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p12@ch-autre.mssante.fr")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    cert = x509.load_pem_x509_certificate(issue(csr.public_bytes(serialization.Encoding.PEM),
                                                not_before=NOW - dt.timedelta(days=1)))
    blob = pkcs12.serialize_key_and_certificates(
        b"p12", key, cert, None, serialization.BestAvailableEncryption(P12_PASSWORD.encode()))
    path = tmp_path / "mailbox.p12"
    path.write_bytes(blob)
    secret = tmp_path / "p12-password"
    secret.write_text(P12_PASSWORD + "\n")
    secret.chmod(0o600)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    return path, secret, fingerprint


def _store(home: Path) -> Store:
    return open_store(settings_for(home))


def _certificates(home: Path, fingerprint: str) -> int:
    with _store(home) as store, store.sessions() as session:
        return session.scalar(select(func.count()).select_from(Certificate).where(
            col(Certificate.fingerprint_sha256) == fingerprint)) or 0


def _events(home: Path) -> int:
    with _store(home) as store, store.sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


class TestImportCrash:
    """A PKCS#12 import killed inside, then after, its one transaction."""

    @pytest.mark.parametrize(("point", "stored"), [("import:before-commit", 0),
                                                   ("import:after-commit", 1)])
    def test_pkcs12_import(self, home: Path, tmp_path: Path, point: str, stored: int) -> None:
        path, secret, fingerprint = _p12(tmp_path)
        events = _events(home)
        killed = certmgr(home, "import", path, "--passphrase-file", secret, fault=point)
        assert killed.code == KILLED, killed.err
        assert _certificates(home, fingerprint) == stored
        assert (_events(home) > events) == bool(stored)  # the audit event goes with its row
        assert_consistent(home)
        again = certmgr(home, "import", path, "--passphrase-file", secret, "--json")
        assert again.code == 0, again.err
        assert again.json()["files"][0]["status"] == ("known" if stored else "added")
        assert _certificates(home, fingerprint) == 1
        assert [p.name for p in (home / "keys").glob("*")] == [] if (
            home / "keys").is_dir() else True  # a PKCS#12's key is never written
        assert_consistent(home)


class TestActivationCrash:
    """The import of the certificate ANS issued, which activates our renewal."""

    def _renewal_and_cert(self, home: Path, tmp_path: Path) -> tuple[Path, str]:
        created = certmgr(home, "csr", "new", ADDRESS, "--json")
        assert created.code == 0, created.err
        pem = issue(Path(created.json()["csr_path"]).read_bytes(),
                    not_before=NOW - dt.timedelta(days=1))
        path = tmp_path / "issued.pem"
        path.write_bytes(pem)
        der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
        return path, hashlib.sha256(der).hexdigest()

    @staticmethod
    def _state(home: Path) -> tuple[RenewalState, str]:
        """The renewal's state and the fingerprint of the CURRENT certificate."""
        with _store(home) as store, store.sessions() as session:
            renewal = session.scalars(select(Renewal)).one()
            current = session.execute(select(Certificate.fingerprint_sha256).join(
                Binding, col(Binding.certificate_id) == col(Certificate.id)).where(
                col(Binding.role) == str(BindingRole.CURRENT))).scalar_one()
        return RenewalState(renewal.state), current

    @pytest.mark.parametrize("point", ["renewal:after-bind", "renewal:after-activate",
                                       "import:before-commit", "import:after-commit"])
    def test_activation(self, home: Path, tmp_path: Path, point: str) -> None:
        path, fingerprint = self._renewal_and_cert(home, tmp_path)
        _, old = self._state(home)
        killed = certmgr(home, "import", path, "--mailbox", ADDRESS, fault=point)
        assert killed.code == KILLED, killed.err
        committed = point == "import:after-commit"
        # all of it (stored, bound CURRENT, renewal ACTIVE, audited) or none of it
        assert self._state(home) == ((RenewalState.ACTIVE, fingerprint) if committed
                                     else (RenewalState.CSR_READY, old))
        assert _certificates(home, fingerprint) == int(committed)
        assert_consistent(home)
        again = certmgr(home, "import", path, "--mailbox", ADDRESS, "--json")
        assert again.code == 0, again.err
        assert self._state(home) == (RenewalState.ACTIVE, fingerprint)
        with _store(home) as store, store.sessions() as session:
            rows = session.execute(select(Certificate.fingerprint_sha256, Binding.role).join(
                Binding, col(Binding.certificate_id) == col(Certificate.id))).all()
        roles: dict[str, str] = dict(rows)
        assert roles[old] == str(BindingRole.PREVIOUS)
        assert_consistent(home)


class TestCrlReplacementCrash:
    """A newer CRL replaces the current one: verify, demote the old, promote the new."""

    @pytest.mark.parametrize("point", ["crl:after-verify", "crl:after-demote",
                                       "import:before-commit"])
    def test_replacement(self, home: Path, tmp_path: Path, point: str) -> None:
        with _store(home) as store:
            before = current_crls(store)
        path = tmp_path / "newer.crl"
        der = newer_crl(this_update=NOW - dt.timedelta(hours=1), number=10**6)
        path.write_bytes(der)
        fingerprint = hashlib.sha256(der).hexdigest()
        killed = certmgr(home, "crl", "import", path, fault=point)
        assert killed.code == KILLED, killed.err
        with _store(home) as store:
            assert current_crls(store) == before  # the old CRL is still the current one
        assert_consistent(home)
        again = certmgr(home, "crl", "import", path)
        assert again.code == 0, again.err
        with _store(home) as store:
            after = current_crls(store)
        changed = {g for g in after if after[g] != before.get(g)}
        assert len(changed) == 1
        assert after[changed.pop()] == fingerprint
        assert set(after) == set(before)
        assert_consistent(home)


class TestKeyfileCrash:
    """`csr new` for one mailbox killed while it writes the key file (before any row)."""

    @pytest.mark.parametrize("point", ["keyfile:mid-write", "keyfile:before-rename",
                                       "keyfile:after-rename"])
    def test_csr_new(self, home: Path, point: str) -> None:
        killed = certmgr(home, "csr", "new", ADDRESS, fault=point)
        assert killed.code == KILLED, killed.err
        if point != "keyfile:after-rename":
            assert temp_files(home)  # left by the killed writer ...
        with _store(home) as store, store.sessions() as session:  # ... removed by the next start
            assert session.scalar(select(func.count()).select_from(Renewal)) == 0
        assert temp_files(home) == []
        assert_consistent(home)
        again = certmgr(home, "csr", "new", ADDRESS, "--json")
        assert again.code == 0, again.err
        assert again.json()["state"] == "CSR_READY"
        assert_consistent(home)


def _many_leaves(directory: Path, count: int) -> list[str]:
    """`count` distinct leaf certificates (one public key, random serials), one per file."""
    directory.mkdir()
    csr = _other_csr()
    fingerprints: list[str] = []
    for n in range(count):
        pem = issue(csr, not_before=NOW - dt.timedelta(days=1, seconds=n))
        (directory / f"leaf-{n:03d}.pem").write_bytes(pem)
        fingerprints.append(x509.load_pem_x509_certificate(pem).fingerprint(
            hashes.SHA256()).hex())
    return fingerprints


def test_random_sigkill_during_import(home: Path, tmp_path: Path) -> None:
    """Killed at a random moment of a long import: consistent; the re-run stores the rest."""
    fingerprints = _many_leaves(tmp_path / "leaves", 150)
    with _store(home) as store, store.sessions() as session:
        known = session.scalar(select(func.count()).select_from(Certificate)) or 0
    proc = subprocess.Popen(argv(home, "import", tmp_path / "leaves"), env=certmgr_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        with _store(home) as store, store.sessions() as session:
            if (session.scalar(select(func.count()).select_from(Certificate)) or 0) > known + 3:
                break
        time.sleep(0.02)
    time.sleep(random.uniform(0.0, 0.2))  # a random kill point
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == KILLED, "the import ended before the kill"
    with _store(home) as store, store.sessions() as session:
        done = (session.scalar(select(func.count()).select_from(Certificate)) or 0) - known
        imported = session.scalar(select(func.count()).select_from(AuditEvent).where(
            col(AuditEvent.action) == "certificate.imported")) or 0
    assert 3 < done < len(fingerprints)
    assert imported == done + known  # every stored row has its audit event, no more
    assert_consistent(home)
    again = certmgr(home, "import", tmp_path / "leaves", "--json")
    assert again.code == 0, again.err
    assert again.json()["totals"]["certificates"] == len(fingerprints) - done
    assert all(_certificates(home, f) == 1 for f in fingerprints[:: len(fingerprints) // 10])
    assert_consistent(home)
