"""The intake hook called directly (as the importer does), and the `--due` selection."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import serialization
from sqlmodel import col, select

from certmgr.config import Settings
from certmgr.pki.facts import certificate_facts
from certmgr.pki.load import load_bundle
from certmgr.services.enrol import KeyOptions, due_addresses, generate_csr
from certmgr.services.intake import NO_KEY, IntakeOutcome, match_issued_certificate
from certmgr.services.mailboxes import MailboxSpec, add_mailbox, archive_mailbox
from certmgr.services.renewal import abandon, mark_ordered
from certmgr.store.models import AuditEvent, Certificate, Renewal
from certmgr.store.rows import certificate_row
from certmgr.store.session import Store

from .conftest import ACTOR, ADDRESS, AT, FIXED, PASSPHRASE, SIRET, issue

FAST = KeyOptions(kdf_rounds=1_000)  # test-only: the default is 600,000 PBKDF2 rounds


def _hook(store: Store, data: bytes, *, at: dt.datetime) -> IntakeOutcome:
    """Store the certificate row (if new) and call the hook in the same transaction."""
    loaded = load_bundle(data, source="test").certificates[0]
    facts = certificate_facts(loaded.certificate, der=loaded.der)
    with store.transaction() as session:
        row = session.scalars(select(Certificate).where(
            col(Certificate.fingerprint_sha256) == facts.fingerprint_sha256)).first()
        if row is None:
            row = certificate_row(facts, der=loaded.der, imported_at=at, source="test")
            session.add(row)
            session.flush()
        return match_issued_certificate(session=session, certificate_row=row, at=at,
                                        actor=ACTOR)


class TestHook:
    """`intake.match_issued_certificate`: by public key, idempotent, audited."""

    def test_issued_then_active_then_known(self, store: Store, settings: Settings) -> None:
        made = generate_csr(store=store, settings=settings, address=ADDRESS,
                            passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        mark_ordered(store=store, address=ADDRESS, at=AT, actor=ACTOR, ref="R")
        der = issue(made.csr_path.read_bytes()).public_bytes(serialization.Encoding.DER)
        first = _hook(store, der, at=AT + dt.timedelta(hours=1))
        assert (first.status, first.address) == ("active", ADDRESS)
        assert first.renewal_id == made.renewal_id
        again = _hook(store, der, at=AT + dt.timedelta(hours=2))
        assert again.status == "known"
        with store.sessions() as session:
            actions = list(session.scalars(select(AuditEvent.action)))
        assert actions.count("certificate.matched") == 1
        assert actions.count("renewal.activated") == 1

    def test_not_yet_valid_stays_issued(self, store: Store, settings: Settings) -> None:
        made = generate_csr(store=store, settings=settings, address=ADDRESS,
                            passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        cert = issue(made.csr_path.read_bytes(), not_before=AT + dt.timedelta(days=30))
        outcome = _hook(store, cert.public_bytes(serialization.Encoding.DER), at=AT)
        assert outcome.status == "issued"
        assert outcome.reason is not None
        with store.sessions() as session:
            assert session.scalars(select(Renewal.state)).one() == "ISSUED"

    def test_no_key_here(self, store: Store) -> None:
        der = (FIXED / "leaves" / "el-org-sign-valid.pem").read_bytes()
        outcome = _hook(store, der, at=AT)
        assert (outcome.status, outcome.note) == ("no-key", NO_KEY)

    def test_abandoned_renewal_is_left_alone(self, store: Store, settings: Settings) -> None:
        made = generate_csr(store=store, settings=settings, address=ADDRESS,
                            passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        abandon(store=store, address=ADDRESS, at=AT, actor=ACTOR)
        der = issue(made.csr_path.read_bytes()).public_bytes(serialization.Encoding.DER)
        outcome = _hook(store, der, at=AT)
        assert outcome.status == "key-only"
        assert outcome.note == (f"our private key; renewal #{outcome.renewal_id} of {ADDRESS} "
                                "left as it is (it is ABANDONED)")
        with store.sessions() as session:
            assert session.scalars(select(Renewal.state)).one() == "ABANDONED"


class TestDue:
    """Which mailboxes `csr new --due` takes."""

    def test_selection(self, store: Store, settings: Settings) -> None:
        empty, archived = "nocert@ch-fixture.mssante.fr", "gone@ch-fixture.mssante.fr"
        for address in (empty, archived):
            add_mailbox(store=store, spec=MailboxSpec(address=address, idnat=SIRET,
                        organization="x", department="75"), at=AT, actor=ACTOR)
        archive_mailbox(store=store, address=archived, at=AT, actor=ACTOR)
        with store.sessions() as session:
            not_after = session.scalars(select(Certificate.not_after)).one()
        days = (not_after - AT).days
        # ADDRESS's certificate ends in `days` days: due at `days`+1, not at `days`-1
        assert due_addresses(store=store, at=AT, within_days=days - 1) == [empty]
        assert due_addresses(store=store, at=AT, within_days=days + 1) == [ADDRESS, empty]
        generate_csr(store=store, settings=settings, address=empty,
                     passphrase=PASSPHRASE.encode(), at=AT, actor=ACTOR, options=FAST)
        assert due_addresses(store=store, at=AT, within_days=days - 1) == []
