"""Opening the inventory: `open_store(settings)` for every command that uses the database.

Auto-creation rule (decided for issue 4): `open_store(settings, create=True)`,
used by `certmgr demo` and the import commands, migrates the database itself
only when it is an EMPTY SQLite file inside the certmgr home directory, i.e.
the private default store on its first use. It never touches:
- a PostgreSQL database (shared, owned by a DBA who runs `certmgr db upgrade`);
- a database that already holds tables (an older schema must be upgraded on
  purpose, after a backup) — `MigrationRequiredError` says so;
- a SQLite file outside the home directory (given with `--db`).
Every other path calls `ensure_current`. A missing SQLite file is a NotFoundError
unless `create` (a typo in `--home` must not make a new, empty inventory).

Opening also removes the temporary files that a killed writer left in `keys/` and
`csr/` (`certmgr.store.keyfiles.cleanup_stale_temp`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from certmgr.errors import NotFoundError
from certmgr.store.engine import (
    SessionFactory,
    make_engine,
    redact_url,
    session_factory,
    sqlite_path,
    transaction,
)
from certmgr.store.keyfiles import cleanup_stale_temp
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


def _is_url(url: str) -> bool:
    try:
        make_url(url)
    except ArgumentError:
        return False  # make_engine raises the ConfigError that explains it
    return True


def open_store(settings: Settings, *, create: bool = False) -> Store:
    """Open `settings.db_url`, checked to be at the schema revision of this certmgr.

    Raises NotFoundError when the SQLite file does not exist and `create` is False
    (connecting would create an empty database and hide a wrong `--home`/`--db`),
    MigrationRequiredError (run `certmgr db upgrade`), StoreError when the database
    cannot be reached, ConfigError for a bad URL.
    """
    path = sqlite_path(make_url(settings.db_url)) if _is_url(settings.db_url) else None
    if not create and path is not None and not path.exists():
        raise NotFoundError(f"no database at {path}: create it with `certmgr db upgrade` "
                            "(or restore a backup), or check --home/--db")
    engine = make_engine(settings.db_url)
    try:
        if create and _home_sqlite(engine, settings.home) and is_empty(engine):
            upgrade(engine)
        ensure_current(engine)
    except BaseException:
        engine.dispose()
        raise
    # Crash recovery: a writer killed between "temporary file written" and "renamed"
    # left a `.name.certmgr-tmp-PID-...` file; its row was never committed (rows come
    # after the rename), so the file is garbage once its process is gone.
    for directory in (settings.keys_dir, settings.home / "csr"):
        cleanup_stale_temp(directory)
    return Store(engine=engine, sessions=session_factory(engine))
