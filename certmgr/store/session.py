"""Opening the inventory: `open_store(settings)` for every command that uses the database.

Auto-creation rule (decided for issue 4): `open_store(settings, create=True)`,
used by `certmgr demo` and the import commands, migrates the database itself
only when it is an EMPTY SQLite file inside the certmgr home directory, i.e.
the private default store on its first use. It never touches:
- a PostgreSQL database (shared, owned by a DBA who runs `certmgr db upgrade`);
- a database that already holds tables (an older schema must be upgraded on
  purpose, after a backup) — `MigrationRequiredError` says so;
- a SQLite file outside the home directory (given with `--db`).
Every other path calls `ensure_current`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

from certmgr.store.engine import (
    SessionFactory,
    make_engine,
    redact_url,
    session_factory,
    transaction,
)
from certmgr.store.migrate import ensure_current, is_empty, upgrade

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from certmgr.config import Settings

__all__ = ["Store", "open_store"]


@dataclass(frozen=True, slots=True)
class Store:
    """An open inventory database: its engine and session factory. Close it when done."""

    engine: Engine
    sessions: SessionFactory

    @property
    def url(self) -> str:
        """The database URL without its password."""
        return redact_url(self.engine.url)

    def transaction(self) -> AbstractContextManager[Session]:
        """A write transaction (see `certmgr.store.engine.transaction`)."""
        return transaction(self.sessions)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _home_sqlite(engine: Engine, home: Path) -> bool:
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return False
    if engine.url.database == ":memory:":
        return False
    database = Path(engine.url.database).expanduser().resolve()
    return database.is_relative_to(home.expanduser().resolve())


def open_store(settings: Settings, *, create: bool = False) -> Store:
    """Open `settings.db_url`, checked to be at the schema revision of this certmgr.

    Raises MigrationRequiredError (run `certmgr db upgrade`), StoreError when the
    database cannot be reached, ConfigError for a bad URL.
    """
    engine = make_engine(settings.db_url)
    try:
        if create and _home_sqlite(engine, settings.home) and is_empty(engine):
            upgrade(engine)
        ensure_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine=engine, sessions=session_factory(engine))
