"""`certmgr audit list|verify` over a real store, tampered with directly in SQLite."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from certmgr.config import load_settings
from certmgr.services.auditlog import list_events, verify_audit
from certmgr.store.audit import append_event, event_hash
from certmgr.store.migrate import upgrade
from certmgr.store.models import AuditEvent
from certmgr.store.session import Store, open_store
from certmgr.store.testing import BACKENDS, temporary_database_url

from .conftest import Invoke


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "certmgr.sqlite3", isolation_level=None)


def _ids(home: Path) -> list[int]:
    conn = _db(home)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM audit_event ORDER BY id")]
    finally:
        conn.close()


def test_intact_chain_verifies(home: Path, cli: Invoke) -> None:
    done = cli("--home", home, "audit", "verify", "--json")
    assert done.code == 0, done.err
    report = done.json()
    assert report["ok"] is True
    assert report["count"] == len(_ids(home))


def test_list_filters_and_limit(home: Path, cli: Invoke) -> None:
    everything = cli("--home", home, "audit", "list", "--json").json()["events"]
    assert [e["id"] for e in everything] == _ids(home)
    actions = {e["action"] for e in everything}
    some = min(actions)
    only = cli("--home", home, "audit", "list", "--action", some, "--json").json()["events"]
    assert only
    assert all(e["action"] == some for e in only)
    assert cli("--home", home, "audit", "list", "--actor", "nobody", "--json").json() == {
        "events": []}
    last_two = cli("--home", home, "audit", "list", "--limit", "2", "--json").json()["events"]
    assert [e["id"] for e in last_two] == _ids(home)[-2:]
    future = cli("--home", home, "audit", "list", "--since", "2030-01-01", "--json")
    assert future.json() == {"events": []}
    past = cli("--home", home, "audit", "list", "--since", "2025-06-01T11:00:00Z", "--json")
    assert len(past.json()["events"]) == len(everything)
    bad = cli("--home", home, "audit", "list", "--since", "yesterday")
    assert bad.code == 2


def test_text_list_prints_one_line_per_event(home: Path, cli: Invoke) -> None:
    done = cli("--home", home, "audit", "list")
    assert done.code == 0
    assert done.out.strip().splitlines()[-1] == f"{len(_ids(home))} event(s)"


@pytest.mark.parametrize("tamper", ["change", "delete", "reorder"])
def test_tampering_is_detected_and_named(home: Path, cli: Invoke, tamper: str) -> None:
    ids = _ids(home)
    victim = ids[1]
    conn = _db(home)
    try:
        if tamper == "change":
            conn.execute("UPDATE audit_event SET actor = 'mallory' WHERE id = ?", (victim,))
            expected = victim
        elif tamper == "delete":
            conn.execute("DELETE FROM audit_event WHERE id = ?", (victim,))
            expected = ids[2]
        else:  # move an event to the end: same content, new position
            conn.execute("UPDATE audit_event SET id = ? WHERE id = ?", (ids[-1] + 1, victim))
            expected = ids[2]
    finally:
        conn.close()
    done = cli("--home", home, "audit", "verify")
    assert done.code == 1
    assert f"at event {expected}:" in done.out
    as_json = cli("--home", home, "audit", "verify", "--json").json()
    assert as_json["ok"] is False
    assert as_json["first_broken_id"] == expected


def test_a_forged_event_inserted_in_the_middle_is_named(home: Path, cli: Invoke) -> None:
    """An attacker who knows the hashing (it is public) makes a self-consistent event and
    slots it between two real ones: it cannot claim its real predecessor (`prev_hash` is
    UNIQUE, the successor already does), and any other link is named as broken."""
    ids = _ids(home)
    conn = _db(home)
    try:  # make room at ids[2], keeping the real events' order
        conn.execute("UPDATE audit_event SET id = id + 1000 WHERE id >= ?", (ids[2],))
    finally:
        conn.close()
    at = dt.datetime(2025, 6, 1, 12, 30, tzinfo=dt.UTC)

    def forged(prev_hash: str) -> AuditEvent:
        digest = event_hash(at=at, actor="mallory", action="mailbox.archive",
                            object_type="mailbox", object_id="1", details={},
                            prev_hash=prev_hash)
        return AuditEvent(id=ids[2], at=at, actor="mallory", action="mailbox.archive",
                          object_type="mailbox", object_id="1", details={},
                          prev_hash=prev_hash, hash=digest)

    conn = _db(home)
    try:
        real: dict[int, str] = dict(conn.execute("SELECT id, hash FROM audit_event"))
    finally:
        conn.close()
    with open_store(load_settings(home=home, environ={})) as store:
        with pytest.raises(IntegrityError), store.transaction() as tx:
            tx.add(forged(real[ids[1]]))  # its real predecessor: the successor claims it
        with store.transaction() as tx:
            tx.add(forged(real[max(real)]))  # linked to the tail instead
    done = cli("--home", home, "audit", "verify", "--json")
    assert done.code == 1
    assert done.json()["first_broken_id"] == ids[2]


def test_truncation_needs_the_last_hash_kept_elsewhere(home: Path, cli: Invoke) -> None:
    last = cli("--home", home, "audit", "verify", "--json").json()["last_hash"]
    conn = _db(home)
    try:
        conn.execute("DELETE FROM audit_event WHERE id = ?", (_ids(home)[-1],))
    finally:
        conn.close()
    assert cli("--home", home, "audit", "verify").code == 0  # invisible from inside
    done = cli("--home", home, "audit", "verify", "--expected-last-hash", last)
    assert done.code == 1
    assert "at the end" in done.out


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on SQLite, and on PostgreSQL when CERTMGR_TEST_PG_URL is set."""
    with temporary_database_url(request.param, directory=tmp_path) as url:
        upgrade(url)
        with open_store(load_settings(home=tmp_path, db_url=url, environ={})) as store:
            yield store


def test_services_filter_and_name_the_broken_event_on_every_backend(any_store: Store) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n in range(6):
        with any_store.transaction() as session:
            append_event(session, actor="alice" if n % 2 else "bob", action=f"act.{n % 3}",
                         at=start + dt.timedelta(hours=n), object_type="mailbox",
                         object_id=n, details={"n": n})
    assert [e.details["n"] for e in list_events(store=any_store)] == list(range(6))
    since = list_events(store=any_store, since=start + dt.timedelta(hours=3, minutes=-1))
    assert [e.details["n"] for e in since] == [3, 4, 5]
    assert [e.details["n"] for e in list_events(store=any_store, actor="alice",
                                                action="act.1")] == [1]
    assert [e.details["n"] for e in list_events(store=any_store, limit=2)] == [4, 5]
    assert verify_audit(store=any_store).ok
    ids = [e.id for e in list_events(store=any_store)]
    with any_store.transaction() as session:
        row = session.get(AuditEvent, ids[3])
        assert row is not None
        row.details = {"n": 33}
    report = verify_audit(store=any_store)
    assert (report.ok, report.first_broken_id) == (False, ids[3])
