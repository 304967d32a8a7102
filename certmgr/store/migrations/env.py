"""Alembic environment for certmgr.

certmgr passes an open connection in `config.attributes["connection"]`
(see certmgr.store.migrate); a developer running the `alembic` command gives a
URL with `-x url=...` or `sqlalchemy.url`. Logging is left to the caller:
no fileConfig here, so the CLI's output is not disturbed.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from certmgr.store import (
    models_alerts,  # noqa: F401 - registers the monitoring tables
    models_probes,  # noqa: F401 - registers the probe tables
)
from certmgr.store.engine import make_engine
from certmgr.store.models import StoreModel

config = context.config
target_metadata = StoreModel.metadata


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    # APScheduler creates and owns its job store table.
    return not (type_ == "table" and name == "apscheduler_jobs")


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        raise SystemExit("certmgr migrations run online only")
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database URL: alembic -x url=... upgrade head")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


_main()
