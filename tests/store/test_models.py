"""Table rules: uniqueness, one current binding, aware UTC datetimes, stored value types."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import col, select

from certmgr.store.engine import SessionFactory, transaction
from certmgr.store.enums import BindingRole, MailboxStatus
from certmgr.store.models import Binding, Certificate, Crl, Mailbox
from certmgr.store.testing import T0, sample_certificate, sample_mailbox, sample_structure


def _mailbox(sessions: SessionFactory, address: str = "app@clinique.mssante.fr", n: int = 1,
             ) -> int:
    with transaction(sessions) as session:
        structure = sample_structure(n)
        session.add(structure)
        session.flush()
        assert structure.id is not None
        box = sample_mailbox(structure.id, address)
        session.add(box)
        session.flush()
        assert box.id is not None
        return box.id


def _certificate(sessions: SessionFactory, n: int) -> int:
    with transaction(sessions) as session:
        cert = sample_certificate(n)
        session.add(cert)
        session.flush()
        assert cert.id is not None
        return cert.id


class TestUniqueness:
    """Unique columns refuse a second row."""

    def test_certificate_fingerprint(self, sessions: SessionFactory) -> None:
        _certificate(sessions, 1)
        with pytest.raises(IntegrityError), transaction(sessions) as session:
            session.add(sample_certificate(1))

    def test_mailbox_address(self, sessions: SessionFactory) -> None:
        box_id = _mailbox(sessions)
        with sessions() as session:
            duplicate = sample_mailbox(session.get_one(Mailbox, box_id).structure_id)
        with pytest.raises(IntegrityError), transaction(sessions) as session:
            session.add(duplicate)

    def test_structure_idnat(self, sessions: SessionFactory) -> None:
        with transaction(sessions) as session:
            session.add(sample_structure(7))
        with pytest.raises(IntegrityError), transaction(sessions) as session:
            session.add(sample_structure(7))


class TestBindings:
    """At most one CURRENT binding per mailbox; history rows are unlimited."""

    def _bind(self, sessions: SessionFactory, box: int, cert: int, role: BindingRole) -> None:
        with transaction(sessions) as session:
            session.add(Binding(mailbox_id=box, certificate_id=cert, role=role, bound_at=T0))

    def test_second_current_is_refused(self, sessions: SessionFactory) -> None:
        box = _mailbox(sessions)
        first, second = _certificate(sessions, 1), _certificate(sessions, 2)
        self._bind(sessions, box, first, BindingRole.CURRENT)
        with pytest.raises(IntegrityError):
            self._bind(sessions, box, second, BindingRole.CURRENT)

    def test_history_and_other_mailboxes_are_free(self, sessions: SessionFactory) -> None:
        box, other = _mailbox(sessions), _mailbox(sessions, "other@clinique.mssante.fr", 2)
        certs = [_certificate(sessions, n) for n in range(1, 5)]
        self._bind(sessions, box, certs[0], BindingRole.PREVIOUS)
        self._bind(sessions, box, certs[1], BindingRole.PREVIOUS)
        self._bind(sessions, box, certs[2], BindingRole.CURRENT)
        self._bind(sessions, box, certs[3], BindingRole.NEXT)
        self._bind(sessions, other, certs[3], BindingRole.CURRENT)
        with sessions() as session:
            roles = sorted(b.role for b in session.get_one(Mailbox, box).bindings)
        assert roles == ["current", "next", "previous", "previous"]

    def test_rotation_current_becomes_previous(self, sessions: SessionFactory) -> None:
        box = _mailbox(sessions)
        old, new = _certificate(sessions, 1), _certificate(sessions, 2)
        self._bind(sessions, box, old, BindingRole.CURRENT)
        with transaction(sessions) as session:
            current = session.scalars(select(Binding).where(col(Binding.mailbox_id) == box)).one()
            current.role, current.unbound_at = BindingRole.PREVIOUS, T0
            session.flush()
            session.add(Binding(mailbox_id=box, certificate_id=new, role=BindingRole.CURRENT,
                                bound_at=T0))
        with sessions() as session:
            rows = session.scalars(select(Binding).order_by(col(Binding.id))).all()
        assert [(r.certificate_id, r.role) for r in rows] == [
            (old, BindingRole.PREVIOUS), (new, BindingRole.CURRENT)]

    def test_foreign_keys_are_enforced(self, sessions: SessionFactory) -> None:
        with pytest.raises(IntegrityError):
            self._bind(sessions, 999, 999, BindingRole.CURRENT)


class TestValues:
    """What goes in comes back, with the right Python types."""

    @pytest.mark.parametrize("when", [
        dt.datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(2025, 7, 1, 2, 30, 0, 1, tzinfo=ZoneInfo("Europe/Paris")),
        dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    ])
    def test_aware_datetimes_round_trip_as_utc(self, sessions: SessionFactory,
                                               when: dt.datetime) -> None:
        cert_id = _certificate(sessions, 1)
        with transaction(sessions) as session:
            session.get_one(Certificate, cert_id).not_after = when
        with sessions() as session:
            stored = session.get_one(Certificate, cert_id).not_after
        assert stored == when
        assert stored.tzinfo is dt.UTC
        assert stored.isoformat() == when.astimezone(dt.UTC).isoformat()

    def test_naive_datetime_is_refused(self, sessions: SessionFactory) -> None:
        cert = sample_certificate(1)
        cert.not_after = dt.datetime(2030, 1, 1)
        with pytest.raises(StatementError, match="naive datetime"), \
                transaction(sessions) as session:
            session.add(cert)

    def test_datetime_ordering_in_sql(self, sessions: SessionFactory) -> None:
        paris = ZoneInfo("Europe/Paris")
        # 10:30 Paris (09:30 UTC) is before 10:00 UTC: SQL must compare instants, not text.
        with transaction(sessions) as session:
            a = sample_certificate(1, not_after=dt.datetime(2030, 1, 1, 10, 30, tzinfo=paris))
            b = sample_certificate(2, not_after=dt.datetime(2030, 1, 1, 10, 0, tzinfo=dt.UTC))
            session.add_all([b, a])
        with sessions() as session:
            by_expiry = select(Certificate.cn).order_by(col(Certificate.not_after))
            order = session.scalars(by_expiry).all()
            soon = session.scalars(select(Certificate.cn).where(
                Certificate.not_after < dt.datetime(2030, 1, 1, 9, 45, tzinfo=dt.UTC))).all()
        assert order == ["app1.clinique.fr", "app2.clinique.fr"]
        assert soon == ["app1.clinique.fr"]

    def test_json_and_enums(self, sessions: SessionFactory) -> None:
        box_id = _mailbox(sessions)
        with transaction(sessions) as session:
            box = session.get_one(Mailbox, box_id)
            box.status, box.contacts = MailboxStatus.RENEW_SOON, ["a@x.fr", "b@x.fr"]
        with sessions() as session:
            box = session.get_one(Mailbox, box_id)
            found = session.scalars(
                select(Mailbox.id).where(Mailbox.status == MailboxStatus.RENEW_SOON)).all()
        assert box.status is MailboxStatus.RENEW_SOON
        assert box.contacts == ["a@x.fr", "b@x.fr"]
        assert found == [box_id]

    def test_status_check_constraint(self, engine: Engine, sessions: SessionFactory) -> None:
        box_id = _mailbox(sessions)
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE mailbox SET status = 'FINE' WHERE id = :i"), {"i": box_id})

    def test_big_crl_numbers_round_trip_and_sort(self, sessions: SessionFactory) -> None:
        numbers = [2**159 - 1, 10, 9]  # 20-octet CRL numbers exceed BIGINT
        with transaction(sessions) as session:
            for n in numbers:
                session.add(Crl(der=b"crl%d" % n, fingerprint_sha256=f"{n:x}", issuer="CN=AC",
                                crl_number=n, this_update=T0, fetched_at=T0))
        with sessions() as session:
            stored = session.scalars(select(Crl.crl_number).order_by(col(Crl.crl_number))).all()
        assert stored == sorted(numbers)

    def test_one_current_crl_per_issuer_key(self, sessions: SessionFactory) -> None:
        def crl(n: int, *, current: bool, delta: bool = False) -> Crl:
            return Crl(der=b"c%d" % n, fingerprint_sha256=f"f{n}", issuer="CN=AC", aki="ab",
                       crl_number=n, this_update=T0, fetched_at=T0, is_current=current,
                       is_delta=delta)

        with transaction(sessions) as session:
            session.add_all([crl(1, current=False), crl(2, current=True),
                             crl(3, current=True, delta=True)])
        with pytest.raises(IntegrityError), transaction(sessions) as session:
            session.add(crl(4, current=True))
