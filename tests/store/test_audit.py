"""The audit hash chain: append, verify, and detection of tampering."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from certmgr.store.audit import GENESIS, append_event, event_hash, verify_chain
from certmgr.store.engine import SessionFactory, transaction
from certmgr.store.models import AuditEvent
from certmgr.store.testing import T0


def _append(sessions: SessionFactory, count: int) -> list[int]:
    ids: list[int] = []
    with transaction(sessions) as session:
        for n in range(count):
            event = append_event(session, actor="alice", action="mailbox.add",
                                 at=T0 + dt.timedelta(seconds=n), object_type="mailbox",
                                 object_id=n, details={"n": n, "address": f"m{n}@x.fr",
                                                       "tags": ["é", 1.5, None]})
            assert event.id is not None
            ids.append(event.id)
    return ids


def _verify(sessions: SessionFactory, **kwargs: str) -> tuple[bool, int | None, str | None]:
    with sessions() as session:
        report = verify_chain(session, **kwargs)
    return report.ok, report.first_broken_id, report.reason


class TestAppendAndVerify:
    """An untouched chain verifies."""

    def test_empty_chain_is_ok(self, sessions: SessionFactory) -> None:
        with sessions() as session:
            report = verify_chain(session)
        assert (report.ok, report.count, report.last_hash) == (True, 0, GENESIS)

    def test_chain_links_and_verifies(self, sessions: SessionFactory) -> None:
        _append(sessions, 5)
        with sessions() as session:
            events = session.scalars(select(AuditEvent).order_by(col(AuditEvent.id))).all()
            report = verify_chain(session, expected_last_hash=events[-1].hash)
        assert report.ok, report.reason
        assert report.count == 5
        assert events[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.hash for a, b in pairwise(events))
        assert events[2].object_id == "2"

    def test_hash_is_canonical(self) -> None:
        def digest(at: dt.datetime, details: dict[str, int]) -> str:
            return event_hash(at=at, actor="a", action="x", object_type=None, object_id=None,
                              details=details, prev_hash=GENESIS)

        paris = dt.timezone(dt.timedelta(hours=1))
        one = digest(T0, {"a": 1, "b": 2})
        two = digest(T0.astimezone(paris), {"b": 2, "a": 1})
        three = digest(T0, {"a": 1, "b": 3})
        assert one == two != three

    def test_secrets_and_naive_times_are_refused(self, sessions: SessionFactory) -> None:
        with transaction(sessions) as session:
            with pytest.raises(ValueError, match="secrets"):
                append_event(session, actor="a", action="key.new", at=T0,
                             details={"key": {"Passphrase": "hunter2"}})
            with pytest.raises(ValueError, match="aware"):
                append_event(session, actor="a", action="x", at=dt.datetime(2025, 1, 1))
            with pytest.raises(TypeError):
                append_event(session, actor="a", action="x", at=T0, details={"o": object()})

    def test_chain_cannot_fork(self, sessions: SessionFactory) -> None:
        _append(sessions, 1)
        with pytest.raises(IntegrityError), transaction(sessions) as session:
            session.add(AuditEvent(at=T0, actor="mallory", action="x", details={},
                                   prev_hash=GENESIS, hash="f" * 64))


class TestTamperDetection:
    """Changed, deleted and reordered rows break the chain at the first bad event."""

    def test_changed_details(self, engine: Engine, sessions: SessionFactory) -> None:
        ids = _append(sessions, 4)
        with sessions() as session:
            event = session.get_one(AuditEvent, ids[2])
            event.details = {**event.details, "n": 99}
            session.commit()
        assert _verify(sessions)[:2] == (False, ids[2])

    def test_changed_time(self, engine: Engine, sessions: SessionFactory) -> None:
        ids = _append(sessions, 3)
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE id = :i"),
                         {"i": ids[0]})
        ok, broken, reason = _verify(sessions)
        assert (ok, broken) == (False, ids[0])
        assert reason is not None
        assert "changed" in reason

    def test_rehashed_row_breaks_the_next_link(self, sessions: SessionFactory) -> None:
        ids = _append(sessions, 3)
        with sessions() as session:
            event = session.get_one(AuditEvent, ids[1])
            event.actor = "mallory"
            event.hash = event_hash(at=event.at, actor=event.actor, action=event.action,
                                    object_type=event.object_type, object_id=event.object_id,
                                    details=event.details, prev_hash=event.prev_hash)
            session.commit()
        assert _verify(sessions)[:2] == (False, ids[2])

    def test_deleted_row(self, engine: Engine, sessions: SessionFactory) -> None:
        ids = _append(sessions, 4)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_event WHERE id = :i"), {"i": ids[1]})
        ok, broken, reason = _verify(sessions)
        assert (ok, broken) == (False, ids[2])
        assert reason is not None
        assert "deleted" in reason

    def test_swapped_rows(self, engine: Engine, sessions: SessionFactory) -> None:
        ids = _append(sessions, 4)
        # Give rows 1 and 2 each other's ids: every row is intact, only the order changes.
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET id = -1 WHERE id = :i"), {"i": ids[1]})
            conn.execute(text("UPDATE audit_event SET id = :a WHERE id = :b"),
                         {"a": ids[1], "b": ids[2]})
            conn.execute(text("UPDATE audit_event SET id = :b WHERE id = -1"), {"b": ids[2]})
        assert _verify(sessions)[:2] == (False, ids[1])

    def test_truncated_tail_needs_the_recorded_head(self, engine: Engine,
                                                    sessions: SessionFactory) -> None:
        ids = _append(sessions, 3)
        with sessions() as session:
            head = verify_chain(session).last_hash
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_event WHERE id = :i"), {"i": ids[-1]})
        assert _verify(sessions)[0] is True  # invisible from inside the table...
        ok, broken, reason = _verify(sessions, expected_last_hash=head)
        assert (ok, broken) == (False, None)  # ...but not against the recorded head
        assert reason is not None
        assert "end" in reason
