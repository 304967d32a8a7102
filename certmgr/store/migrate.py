"""Schema migrations (Alembic), driven from code.

The Alembic configuration is built here, with `script_location` pointing at the
`migrations` folder inside the installed package: nothing depends on the current
directory. Every command that opens a database calls `ensure_current`; only
`certmgr db upgrade` (and `open_store(create=True)`, see certmgr.store.session)
change the schema.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from certmgr.errors import MigrationRequiredError, StoreError
from certmgr.store.engine import make_engine, redact_url

__all__ = [
    "alembic_config",
    "current_revision",
    "ensure_current",
    "head_revision",
    "is_empty",
    "upgrade",
]

_HERE = Path(__file__).resolve().parent
_PG_LOCK_KEY = 0x6365_7274_6D67_01  # serialises concurrent upgrades on PostgreSQL


def alembic_config(*, script_location: Path | None = None) -> Config:
    """The Alembic configuration of the installed certmgr (nothing read from the CWD).

    `script_location` replaces the packaged `migrations` folder (tests of future
    revisions use a copy with an extra revision).
    """
    config = Config(str(_HERE / "alembic.ini"))
    location = script_location or _HERE / "migrations"
    # ConfigParser interpolation: a literal '%' in the path must be doubled.
    config.set_main_option("script_location", str(location).replace("%", "%%"))
    return config


def head_revision(*, config: Config | None = None) -> str:
    """The revision this certmgr's code expects."""
    head = ScriptDirectory.from_config(config or alembic_config()).get_current_head()
    assert head is not None, "certmgr ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as exc:
        raise StoreError(f"cannot open database at {redact_url(engine.url)}: {exc.orig}") from exc


def is_empty(engine: Engine) -> bool:
    """Whether the database holds no table at all (a fresh file or database)."""
    try:
        with engine.connect() as conn:
            return not inspect(conn).get_table_names()
    except DBAPIError as exc:
        raise StoreError(f"cannot open database at {redact_url(engine.url)}: {exc.orig}") from exc


def upgrade(engine_or_url: Engine | str, *, revision: str = "head",
            config: Config | None = None) -> str | None:
    """Migrate the database to `revision` (default: head) and return where it now is.

    Safe to run from two processes at once: the migration runs in one transaction
    that first takes the write lock (SQLite BEGIN IMMEDIATE, a PostgreSQL advisory
    lock), so the second process finds the work done.
    """
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    config = config or alembic_config()
    try:
        with engine.connect() as raw:
            conn = raw.execution_options(certmgr_sqlite_begin="IMMEDIATE")
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
        return current_revision(engine)
    except DBAPIError as exc:
        raise StoreError(
            f"cannot migrate database at {redact_url(engine.url)}: {exc.orig}"
        ) from exc
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def ensure_current(engine: Engine, *, config: Config | None = None) -> None:
    """Raise MigrationRequiredError unless the database is at this certmgr's head revision."""
    config = config or alembic_config()
    head = head_revision(config=config)
    current = current_revision(engine)
    if current == head:
        return
    where = f"database at {redact_url(engine.url)}"
    if current is None:
        raise MigrationRequiredError(
            f"{where} has no certmgr schema, certmgr needs revision {head}: "
            "run `certmgr db upgrade`"
        )
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    if current not in known:
        raise MigrationRequiredError(
            f"{where} is at revision {current}, unknown to this certmgr (it needs {head}): "
            "the database was upgraded by a newer certmgr; upgrade certmgr"
        )
    raise MigrationRequiredError(
        f"{where} is at revision {current}, certmgr needs {head}: run `certmgr db upgrade`"
    )
