"""The renewal workflow through the services, at the fixture PKI's instant."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from asn1crypto.keys import EncryptedPrivateKeyInfo
from asn1crypto.pem import unarmor as pem_unarmor
from sqlmodel import col, select

from certmgr.config import Settings
from certmgr.errors import ConflictError, PassphraseError
from certmgr.pki.keys import load_key, spki_sha256
from certmgr.services.enrol import KeyOptions, generate_csr, generate_csrs
from certmgr.services.importer import import_paths
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.services.renewal import abandon, list_renewals, mark_ordered, reject
from certmgr.store.enums import BindingRole
from certmgr.store.models import AuditEvent, Binding, Certificate, KeyRecord, Renewal
from certmgr.store.session import Store

from .conftest import ACTOR, ADDRESS, AT, FIXED, PASSPHRASE, SIRET, issue, write_cert

FAST = KeyOptions(kdf_rounds=1_000)  # test-only: the default is 600,000 PBKDF2 rounds


def _actions(store: Store) -> list[str]:
    with store.sessions() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(col(AuditEvent.id))))


class TestCsrNew:
    """Key and CSR for one mailbox."""

    def test_key_encrypted_0600_and_renewal_ready(self, store: Store, settings: Settings,
                                                   ) -> None:
        made = generate_csr(store=store, settings=settings, address=ADDRESS,
                            passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        assert made.key_path.parent == settings.keys_dir
        assert stat.S_IMODE(made.key_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(settings.keys_dir.stat().st_mode) == 0o700
        pem = made.key_path.read_bytes()
        assert b"ENCRYPTED PRIVATE KEY" in pem
        with pytest.raises(PassphraseError):
            load_key(pem, passphrase=b"wrong")
        key = load_key(pem, passphrase=PASSPHRASE.encode())
        assert key.key_size == 2048
        assert made.csr_path.parent == settings.home / "csr"
        assert "ST=Paris (75)" in made.subject
        assert f"CN={ADDRESS}" in made.subject
        with store.sessions() as session:
            renewal = session.scalars(select(Renewal)).one()
            assert renewal.state == "CSR_READY"
            record = session.get(KeyRecord, renewal.key_id)
            assert record is not None
            assert record.path == str(made.key_path.relative_to(settings.home))
        assert _actions(store)[-2:] == ["key.generated", "csr.created"]

    def test_second_open_renewal_is_refused(self, store: Store, settings: Settings) -> None:
        generate_csr(store=store, settings=settings, address=ADDRESS,
                     passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        with pytest.raises(ConflictError, match="already has renewal"):
            generate_csr(store=store, settings=settings, address=ADDRESS,
                         passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        abandon(store=store, address=ADDRESS, at=AT, actor=ACTOR)
        generate_csr(store=store, settings=settings, address=ADDRESS,
                     passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)


class TestStates:
    """Transitions and the stale-order flag."""

    def test_illegal_transitions(self, store: Store, settings: Settings) -> None:
        generate_csr(store=store, settings=settings, address=ADDRESS,
                     passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        with pytest.raises(ConflictError, match="only from ORDERED"):
            reject(store=store, address=ADDRESS, at=AT, actor=ACTOR)
        view = mark_ordered(store=store, address=ADDRESS, at=AT, actor=ACTOR, ref="R-42")
        assert (view.state, view.order_ref, view.ordered_by) == ("ORDERED", "R-42", ACTOR)
        with pytest.raises(ConflictError, match="is ORDERED: it cannot become ORDERED"):
            mark_ordered(store=store, address=ADDRESS, at=AT, actor=ACTOR)

    def test_stale_flag_one_second_either_side(self, store: Store, settings: Settings) -> None:
        generate_csr(store=store, settings=settings, address=ADDRESS,
                     passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        mark_ordered(store=store, address=ADDRESS, at=AT, actor=ACTOR)
        limit = AT + dt.timedelta(days=14)
        assert not list_renewals(store=store, at=limit)[0].stale
        assert list_renewals(store=store, at=limit + dt.timedelta(seconds=1))[0].stale


class TestIntake:
    """Issued certificate -> ISSUED -> ACTIVE; old certificate PREVIOUS."""

    def test_full_workflow(self, store: Store, settings: Settings, tmp_path: Path) -> None:
        made = generate_csr(store=store, settings=settings, address=ADDRESS,
                            passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        mark_ordered(store=store, address=ADDRESS, at=AT, actor=ACTOR, ref="R-1")
        cert = issue(made.csr_path.read_bytes())
        later = AT + dt.timedelta(days=3)
        # any file name: the match is by public key
        report = import_paths(store=store, paths=[write_cert(cert, tmp_path / "x.cer")],
                              at=later, actor=ACTOR)
        assert report.ok
        assert any("active" in note for note in report.files[0].notes)
        with store.sessions() as session:
            renewal = session.scalars(select(Renewal)).one()
            assert renewal.state == "ACTIVE"
            assert renewal.activated_at == later
            roles = {c.fingerprint_sha256[:8]: b.role for b, c in session.execute(
                select(Binding, Certificate).join(
                    Certificate, col(Certificate.id) == col(Binding.certificate_id)))}
        assert sorted(roles.values()) == [BindingRole.CURRENT, BindingRole.PREVIOUS]
        assert {"certificate.matched", "renewal.activated"} <= set(_actions(store))

    def test_certificate_without_key_is_reported(self, store: Store) -> None:
        report = import_paths(store=store, paths=[FIXED / "leaves" / "el-org-sign-valid.pem"],
                              at=AT, actor=ACTOR)
        item = report.files[0].to_json()["items"][0]
        assert item["key"]["note"] == "no private key here"

    def test_invalid_issued_certificate_stays_issued(self, store: Store, settings: Settings,
                                                     tmp_path: Path) -> None:
        made = generate_csr(store=store, settings=settings, address=ADDRESS,
                            passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        cert = issue(made.csr_path.read_bytes(), not_before=AT - dt.timedelta(days=800),
                     years=2)  # expired at AT
        report = import_paths(store=store, paths=[write_cert(cert, tmp_path / "old.pem")],
                              at=AT, actor=ACTOR)
        assert any("issued" in n and "not valid" in n for n in report.files[0].notes)
        with store.sessions() as session:
            assert session.scalars(select(Renewal.state)).one() == "ISSUED"


class TestBatch:
    """Many mailboxes in a process pool; one bad name never stops the others."""

    def test_batch(self, store: Store, settings: Settings) -> None:
        addresses = [f"bal{i}@ch-fixture.mssante.fr" for i in range(4)]
        for address in addresses:
            add_mailbox(store=store, spec=MailboxSpec(address=address, idnat=SIRET,
                        organization="x", department="75"), at=AT, actor=ACTOR)
        report = generate_csrs(store=store, settings=settings,
                               addresses=[*addresses, "nobody@nowhere.fr", addresses[0]],
                               options=FAST, passphrase=PASSPHRASE.encode(), at=AT,
                               actor=ACTOR, processes=2)
        assert sorted(c.address for c in report.created) == addresses
        assert {f.address for f in report.failed} == {"nobody@nowhere.fr", addresses[0]}
        with store.sessions() as session:
            assert len(session.scalars(select(Renewal)).all()) == 4
        for item in report.created:
            assert item.key_path.is_file()

    def test_batch_key_files_open_alone(self, store: Store, settings: Settings) -> None:
        """One PBKDF2 run per batch: shared salt, own IV, each file opens alone."""
        addresses = [f"bal{i}@ch-fixture.mssante.fr" for i in range(3)]
        for address in addresses:
            add_mailbox(store=store, spec=MailboxSpec(address=address, idnat=SIRET,
                        organization="x", department="75"), at=AT, actor=ACTOR)
        report = generate_csrs(store=store, settings=settings, addresses=addresses,
                               options=FAST, passphrase=PASSPHRASE.encode(), at=AT,
                               actor=ACTOR, processes=2)
        assert len(report.created) == len(addresses)
        salts, ivs = set(), set()
        openssl = shutil.which("openssl")
        for item in report.created:
            pem = item.key_path.read_bytes()
            assert stat.S_IMODE(item.key_path.stat().st_mode) == 0o600
            key = load_key(pem, passphrase=PASSPHRASE.encode())
            assert spki_sha256(key.public_key()) == item.spki_sha256
            with pytest.raises(PassphraseError):
                load_key(pem, passphrase=b"wrong")
            params = EncryptedPrivateKeyInfo.load(pem_unarmor(pem)[2])[
                "encryption_algorithm"]["parameters"].native
            salts.add(params["key_derivation_func"]["parameters"]["salt"])
            ivs.add(params["encryption_scheme"]["parameters"])
            if openssl:
                done = subprocess.run([openssl, "pkey", "-in", str(item.key_path), "-noout",
                                       "-passin", f"pass:{PASSPHRASE}"], capture_output=True,
                                      check=False)
                assert done.returncode == 0, done.stderr
        assert (len(salts), len(ivs)) == (1, len(addresses))
