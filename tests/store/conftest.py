"""Store fixtures: every test runs on a fresh SQLite file, and again on a fresh
PostgreSQL database when CERTMGR_TEST_PG_URL is set (skipped otherwise).

The helpers live in `certmgr.store.testing` so that other test folders can build
the same fixtures without importing this conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from certmgr.store.engine import SessionFactory, make_engine, session_factory
from certmgr.store.migrate import upgrade
from certmgr.store.testing import BACKENDS, temporary_database_url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no schema)."""
    with temporary_database_url(request.param, directory=tmp_path) as url:
        yield url


@pytest.fixture
def bare_engine(db_url: str) -> Iterator[Engine]:
    """An engine on the empty database."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    """An engine on a database migrated to head."""
    upgrade(bare_engine)
    return bare_engine


@pytest.fixture
def sessions(engine: Engine) -> SessionFactory:
    return session_factory(engine)
