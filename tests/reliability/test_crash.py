"""SIGKILL of real `python -m certmgr` processes inside multi-step writes (every
CERTMGR_FAULT point, and one kill after a random delay); then the store invariants, and a
re-run that finishes the work."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlmodel import col, func, select

from certmgr.pki.keys import load_key, spki_sha256
from certmgr.store.enums import BindingRole
from certmgr.store.keyfiles import TEMP_MARKER
from certmgr.store.models import (
    AuditEvent,
    Binding,
    Certificate,
    KeyRecord,
    Renewal,
    RenewalState,
)
from certmgr.store.session import Store, open_store

from .conftest import (
    ADDRESS,
    PASSPHRASE,
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


@dataclass(frozen=True)
class P12:
    """A password-protected PKCS#12 made by the test, its password file, and the
    fingerprint of its certificate and of its key's public key."""

    path: Path
    secret: Path
    fingerprint: str
    spki: str


def _p12(tmp_path: Path) -> P12:
    """A PKCS#12 (fresh key, certificate issued by the fixture CA) and its password file."""
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
    return P12(path, secret, cert.fingerprint(hashes.SHA256()).hex(),
               spki_sha256(key.public_key()))


def _store(home: Path) -> Store:
    return open_store(settings_for(home))


def _certificates(home: Path, fingerprint: str) -> int:
    with _store(home) as store, store.sessions() as session:
        return session.scalar(select(func.count()).select_from(Certificate).where(
            col(Certificate.fingerprint_sha256) == fingerprint)) or 0


def _events(home: Path) -> int:
    with _store(home) as store, store.sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _key_rows(home: Path, spki: str) -> int:
    with _store(home) as store, store.sessions() as session:
        return session.scalar(select(func.count()).select_from(KeyRecord).where(
            col(KeyRecord.spki_sha256) == spki)) or 0


def _key_files(home: Path) -> list[Path]:
    """The key files (temporary files excluded) under `home/keys`."""
    keys = home / "keys"
    return sorted(p for p in keys.rglob("*") if p.is_file() and TEMP_MARKER not in p.name
                  ) if keys.is_dir() else []


class TestPkcs12ImportCrash:
    """A PKCS#12 import killed at each step: key file (mid-write, before and after its
    rename, durable), key row flushed, every row flushed, committed."""

    @pytest.mark.parametrize(("point", "left"), [
        ("keyfile:mid-write", "temp"), ("keyfile:before-rename", "temp"),
        ("keyfile:after-rename", "file"), ("import:p12-after-keyfile", "file"),
        ("import:p12-after-keyrow", "file"), ("import:before-commit", "file"),
        ("import:after-commit", "rows")])
    def test_pkcs12_import(self, home: Path, tmp_path: Path, point: str, left: str) -> None:
        p12 = _p12(tmp_path)
        events = _events(home)
        args = ("import", p12.path, "--p12-password-file", p12.secret)
        killed = certmgr(home, *args, fault=point)
        assert killed.code == KILLED, killed.err
        # a half-written key exists only under a temporary name, which the next start removes
        assert bool(temp_files(home)) == (left == "temp")
        committed = left == "rows"
        # all of it (key row, certificate, audit events) or none of it
        assert _certificates(home, p12.fingerprint) == int(committed)
        assert _key_rows(home, p12.spki) == int(committed)
        assert (_events(home) > events) == committed
        # the key file is there, complete, from its rename on; no row ever without it
        assert len(_key_files(home)) == (0 if left == "temp" else 1)
        assert_consistent(home)
        again = certmgr(home, *args, "--json")
        assert again.code == 0, again.err
        (entry,) = again.json()["files"]
        assert entry["status"] == ("known" if committed else "added")
        key_item = next(i for i in entry["items"] if i["kind"] == "private-key")
        assert key_item["status"] == ("known" if committed else "added")
        assert _certificates(home, p12.fingerprint) == 1
        assert _key_rows(home, p12.spki) == 1
        (path,) = _key_files(home)  # the killed run's file was reused: no orphan
        assert path.stat().st_mode & 0o777 == 0o600
        assert key_item["path"] == str(path.relative_to(home))
        key = load_key(path.read_bytes(), passphrase=PASSPHRASE.encode())
        assert spki_sha256(key.public_key()) == p12.spki
        assert_consistent(home)


def _renewal_and_cert(home: Path, tmp_path: Path, *, not_before: dt.datetime
                      ) -> tuple[Path, str]:
    """`csr new` for ADDRESS, and the certificate "ANS" issued for it (file, fingerprint)."""
    created = certmgr(home, "csr", "new", ADDRESS, "--json")
    assert created.code == 0, created.err
    pem = issue(Path(created.json()["csr_path"]).read_bytes(), not_before=not_before)
    path = tmp_path / "issued.pem"
    path.write_bytes(pem)
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return path, hashlib.sha256(der).hexdigest()


def _state(home: Path) -> tuple[RenewalState, str]:
    """The renewal's state and the fingerprint of the CURRENT certificate."""
    with _store(home) as store, store.sessions() as session:
        renewal = session.scalars(select(Renewal)).one()
        current = session.execute(select(Certificate.fingerprint_sha256).join(
            Binding, col(Binding.certificate_id) == col(Certificate.id)).where(
            col(Binding.role) == str(BindingRole.CURRENT))).scalar_one()
    return RenewalState(renewal.state), current


def _roles(home: Path) -> dict[str, str]:
    with _store(home) as store, store.sessions() as session:
        rows = session.execute(select(Certificate.fingerprint_sha256, Binding.role).join(
            Binding, col(Binding.certificate_id) == col(Certificate.id))).all()
    return {fingerprint: str(role) for fingerprint, role in rows}


class TestActivationCrash:
    """The import of the certificate ANS issued, which activates our renewal."""

    @pytest.mark.parametrize("point", ["renewal:after-bind", "renewal:after-activate",
                                       "import:before-commit", "import:after-commit"])
    def test_activation(self, home: Path, tmp_path: Path, point: str) -> None:
        path, fingerprint = _renewal_and_cert(home, tmp_path,
                                              not_before=NOW - dt.timedelta(days=1))
        _, old = _state(home)
        killed = certmgr(home, "import", path, "--mailbox", ADDRESS, fault=point)
        assert killed.code == KILLED, killed.err
        committed = point == "import:after-commit"
        # all of it (stored, bound CURRENT, renewal ACTIVE, audited) or none of it
        assert _state(home) == ((RenewalState.ACTIVE, fingerprint) if committed
                                else (RenewalState.CSR_READY, old))
        assert _certificates(home, fingerprint) == int(committed)
        assert_consistent(home)
        again = certmgr(home, "import", path, "--mailbox", ADDRESS, "--json")
        assert again.code == 0, again.err
        assert _state(home) == (RenewalState.ACTIVE, fingerprint)
        assert _roles(home)[old] == str(BindingRole.PREVIOUS)
        assert_consistent(home)


# `activate` has no command of its own: a real process calls the service, at an instant
# given on its command line (the subprocess is the entry point that "reads the clock").
_ACTIVATE = """
import datetime as dt, sys
from certmgr.config import load_settings
from certmgr.services.renewal import activate
from certmgr.store.session import open_store
with open_store(load_settings(home=sys.argv[1])) as store:
    print(activate(store=store, address=sys.argv[2], at=dt.datetime.fromisoformat(sys.argv[3]),
                   actor="tester").status)
"""


def _activate(home: Path, at: dt.datetime, *, fault: str | None = None
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _ACTIVATE, str(home), ADDRESS,
                           at.isoformat()], capture_output=True, text=True, check=False,
                          env=certmgr_env(fault=fault), timeout=120)


class TestActivateCrash:
    """`activate`: a certificate imported before its notBefore (bound NEXT, renewal
    ISSUED) becomes CURRENT and the renewal ACTIVE once valid; killed inside its
    transaction (nothing moved) and right after its commit (everything moved)."""

    @pytest.mark.parametrize("point", ["renewal:after-bind", "renewal:after-activate",
                                       "renewal:after-commit"])
    def test_activate(self, home: Path, tmp_path: Path, point: str) -> None:
        not_before = NOW + dt.timedelta(days=10)
        path, fingerprint = _renewal_and_cert(home, tmp_path, not_before=not_before)
        _, old = _state(home)
        early = certmgr(home, "import", path, "--mailbox", ADDRESS)
        assert early.code == 0, early.err
        assert _state(home) == (RenewalState.ISSUED, old)
        assert _roles(home)[fingerprint] == str(BindingRole.NEXT)
        later = not_before + dt.timedelta(days=1)
        events = _events(home)
        killed = _activate(home, later, fault=point)
        assert killed.returncode == KILLED, killed.stderr
        committed = point == "renewal:after-commit"
        assert _state(home) == ((RenewalState.ACTIVE, fingerprint) if committed
                                else (RenewalState.ISSUED, old))
        assert (_events(home) > events) == committed
        assert_consistent(home)
        if not committed:
            again = _activate(home, later)
            assert (again.returncode, again.stdout.strip()) == (0, "active"), again.stderr
        assert _state(home) == (RenewalState.ACTIVE, fingerprint)
        assert _roles(home) == {old: str(BindingRole.PREVIOUS),
                                fingerprint: str(BindingRole.CURRENT)}
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


def test_every_fault_point_is_killed_here_and_documented() -> None:
    """A new `fault("...")` in certmgr needs a crash test above and a line in the docs."""
    root = Path(__file__).resolve().parents[2]
    points = {m for path in (root / "certmgr").rglob("*.py")
              for m in re.findall(r'\bfault\("([a-z0-9:-]+)"\)', path.read_text("utf-8"))}
    assert len(points) >= 12
    here = Path(__file__).read_text("utf-8")
    docs = (root / "docs" / "security.md").read_text("utf-8")
    assert sorted(p for p in points if f'"{p}"' not in here) == []
    assert sorted(p for p in points if f"`{p}`" not in docs) == []
