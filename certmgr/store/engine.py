"""Engines, sessions and short transactions for SQLite and PostgreSQL.

Factories only: nothing here is created at import time.

SQLite is tuned for several processes sharing one file (the CLI, the scheduler
and the TUI): WAL journal, `busy_timeout` 30 s, foreign keys on, synchronous
NORMAL. SQLAlchemy emits BEGIN itself (the sqlite3 driver's legacy transaction
handling is switched off) so that `transaction()` can take the write lock up
front with `BEGIN IMMEDIATE`: writers then queue on the busy timeout instead of
failing when a deferred read transaction tries to upgrade to a write.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from certmgr.errors import ConfigError, StoreError
from certmgr.store.keyfiles import make_private_dirs

__all__ = [
    "SessionFactory",
    "is_retryable",
    "make_engine",
    "redact_url",
    "run_in_transaction",
    "session_factory",
    "sqlite_path",
    "transaction",
]

T = TypeVar("T")
SessionFactory = sessionmaker[Session]

_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "certmgr_sqlite_begin"
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def redact_url(url: str | URL) -> str:
    """The URL as text with its password replaced by `***` (safe to print and log)."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparsable database URL>"
    return parsed.render_as_string(hide_password=True)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("not a database URL (expected sqlite:///... or postgresql+psycopg://...)",
                          source=redact_url(url)) from None
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in {"sqlite", "sqlite+pysqlite", "postgresql+psycopg"}:
        raise ConfigError(
            f"unsupported database driver {parsed.drivername!r} "
            "(use sqlite:///PATH or postgresql+psycopg://...)",
            source=redact_url(parsed),
        )
    return parsed


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url` (`sqlite:///PATH` or `postgresql+psycopg://...`).

    SQLite: the parent directories of the file are created 0700 and the file itself
    0600 when missing (a fresh home is private from the start). `postgresql://` is taken
    as `postgresql+psycopg://`. Raises ConfigError for another scheme, a bad URL or a
    missing PostgreSQL driver (the `postgresql` extra).
    """
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    try:
        return create_engine(parsed, echo=echo, pool_pre_ping=True)
    except ModuleNotFoundError as exc:  # the driver is an extra: say which to install
        raise ConfigError(f"the PostgreSQL driver is not installed ({exc.name}): "
                          "pip install 'certmgr[postgresql]'", source=redact_url(parsed)) from exc


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL (`~` expanded), or None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in {"", ":memory:"} or parsed.query.get("mode") == "memory":
        return None
    return Path(database).expanduser()


def _create_private_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would apply the umask: 0644).

    SQLite gives its -wal and -shm files the mode of the database file, so they are
    0600 too. An existing file is left alone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    path = sqlite_path(url)
    memory = path is None
    if path is not None:
        try:
            make_private_dirs(path.parent)
            _create_private_file(path)
        except OSError as exc:
            raise StoreError(f"cannot create the database {path}: {exc.strerror or exc}",
                             ) from exc
    engine = create_engine(url, echo=echo)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN (see `_on_begin`) rather than the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def session_factory(engine: Engine) -> SessionFactory:
    """`sqlmodel.Session`s bound to `engine`; objects stay readable after commit."""
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


def is_retryable(exc: BaseException) -> bool:
    """Whether `exc` is a lock/serialization conflict that a new attempt may not meet."""
    if isinstance(exc, OperationalError) and isinstance(exc.orig, sqlite3.OperationalError):
        message = str(exc.orig).lower()
        return "database is locked" in message or "database table is locked" in message
    if isinstance(exc, DBAPIError):
        return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES
    return False


def _backoff(attempt: int, base: float) -> None:
    time.sleep(base * (2**attempt) * (1 + random.random()))  # noqa: S311 - jitter, not crypto


@contextmanager
def transaction(sessions: SessionFactory, *, attempts: int = 5, backoff: float = 0.05,
                ) -> Iterator[Session]:
    """A session inside one write transaction: committed on success, rolled back on error.

    On SQLite the transaction starts with `BEGIN IMMEDIATE`, so the write lock is
    taken before the body runs; if it cannot be had ("database is locked" after the
    30 s busy timeout), BEGIN is retried up to `attempts` times with backoff. A
    context manager cannot run its body twice: when the body itself may meet a
    conflict (PostgreSQL serialization failure), use `run_in_transaction`.
    Failing to start the transaction raises StoreError; errors from the body
    (IntegrityError for a broken unique rule...) propagate unchanged after the
    rollback: services check their rules first and raise ConflictError with a
    message that names the record.
    """
    for attempt in range(attempts):
        session = sessions()
        try:
            session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})
        except DBAPIError as exc:
            session.close()
            if is_retryable(exc) and attempt + 1 < attempts:
                _backoff(attempt, backoff)
                continue
            raise StoreError(f"cannot start a transaction: {exc.orig}") from exc
        break
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def run_in_transaction(sessions: SessionFactory, work: Callable[[Session], T], *,
                       attempts: int = 5, backoff: float = 0.05) -> T:
    """Run `work(session)` in a `transaction()`, again from the start after a lock or
    serialization conflict (up to `attempts` times). `work` must be safe to repeat."""
    for attempt in range(attempts):
        try:
            with transaction(sessions, attempts=attempts, backoff=backoff) as session:
                return work(session)
        except DBAPIError as exc:
            if not is_retryable(exc) or attempt + 1 >= attempts:
                raise
            _backoff(attempt, backoff)
    raise AssertionError("unreachable")  # pragma: no cover
