"""Engines: SQLite tuning, URL handling, transactions and lock waits."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from certmgr.errors import ConfigError
from certmgr.store.engine import (
    is_retryable,
    make_engine,
    redact_url,
    run_in_transaction,
    session_factory,
    transaction,
)
from certmgr.store.migrate import upgrade
from certmgr.store.models import Structure
from certmgr.store.testing import sample_structure


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'deep' / 'dir' / 'db.sqlite3'}")
    upgrade(engine)
    return engine


def test_sqlite_pragmas_and_parent_directory(sqlite_engine: Engine, tmp_path: Path) -> None:
    assert (tmp_path / "deep" / "dir" / "db.sqlite3").is_file()
    with sqlite_engine.connect() as conn:
        pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                  for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")}
    assert pragma == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1,
                      "synchronous": 1}
    sqlite_engine.dispose()


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://certmgr:s3cret@db:5432/certmgr",
     "postgresql+psycopg://certmgr:***@db:5432/certmgr"),
    ("sqlite:////var/lib/certmgr/db.sqlite3", "sqlite:////var/lib/certmgr/db.sqlite3"),
    ("::not a url::", "<unparsable database URL>"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_plain_postgresql_url_uses_psycopg() -> None:
    engine = make_engine("postgresql://u:p@127.0.0.1:1/x")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


@pytest.mark.parametrize("url", ["mysql://u:s3cret@h/db", "not a url"])
def test_bad_urls_are_config_errors_without_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_engine(url)
    assert "s3cret" not in str(caught.value)


def test_transaction_commits_and_rolls_back(sqlite_engine: Engine) -> None:
    sessions = session_factory(sqlite_engine)
    with transaction(sessions) as session:
        session.add(sample_structure(1))

    def add_then_fail() -> None:
        with transaction(sessions) as session:
            session.add(sample_structure(2))
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        add_then_fail()
    with sessions() as session:
        assert session.scalars(select(Structure.name)).all() == ["Clinique 1"]
    sqlite_engine.dispose()


def test_writer_waits_for_the_lock_instead_of_failing(sqlite_engine: Engine) -> None:
    sessions = session_factory(sqlite_engine)
    held = threading.Event()

    def hold_lock() -> None:
        with transaction(sessions) as session:
            session.add(sample_structure(1))
            session.flush()
            held.set()
            time.sleep(0.5)

    thread = threading.Thread(target=hold_lock)
    thread.start()
    held.wait(5)
    started = time.monotonic()
    with transaction(sessions) as session:
        session.add(sample_structure(2))
    waited = time.monotonic() - started
    thread.join()
    assert waited > 0.2
    with sessions() as session:
        assert len(session.scalars(select(Structure)).all()) == 2
    sqlite_engine.dispose()


def test_locked_database_is_retryable(sqlite_engine: Engine, tmp_path: Path) -> None:
    sessions = session_factory(sqlite_engine)
    with transaction(sessions) as holder:
        holder.add(sample_structure(1))
        holder.flush()
        other = sqlite_engine.connect()
        other.exec_driver_sql("PRAGMA busy_timeout=10")
        with pytest.raises(OperationalError) as caught:
            other.execute(text("INSERT INTO key_record (spki_sha256, key_type, key_size, path, "
                               "encrypted, created_at) VALUES ('x', 'RSA', 2048, 'k', 0, "
                               "'2025-01-01 00:00:00')"))
        other.close()
    assert is_retryable(caught.value)
    assert isinstance(caught.value.orig, sqlite3.OperationalError)
    assert not is_retryable(ValueError("database is locked"))
    sqlite_engine.dispose()


def test_run_in_transaction_returns_the_result(sqlite_engine: Engine) -> None:
    sessions = session_factory(sqlite_engine)

    def work(session: Session) -> int:
        structure = sample_structure(3)
        session.add(structure)
        session.flush()
        assert structure.id is not None
        return structure.id

    assert run_in_transaction(sessions, work) == 1
    sqlite_engine.dispose()


def test_a_missing_postgresql_driver_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    """A machine installed without the `postgresql` extra: `--db postgresql+psycopg://...`
    is a configuration error (exit 2) that says what to install, password hidden; not an
    internal error. The driver is made unimportable in a real child process."""
    code = ("import sys\nsys.modules['psycopg'] = None\nfrom certmgr.cli import run\n"
            "run(sys.argv[1:])\n")
    done = subprocess.run(
        [sys.executable, "-c", code, "--home", str(tmp_path / "home"), "--db",
         "postgresql+psycopg://certmgr:s3cret@db.example.org/certmgr", "status"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1, done.stderr
    assert "pip install 'certmgr[postgresql]'" in done.stderr
    assert "s3cret" not in done.stderr
