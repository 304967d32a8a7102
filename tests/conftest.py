"""Fixtures every test folder gets unless its own conftest defines the same name.

`db_url` is a database migrated to head, new for each test: a SQLite file in the test's
`tmp_path`, and again a fresh PostgreSQL database when CERTMGR_TEST_PG_URL is set (that
case is skipped otherwise); `settings` points a home under `tmp_path` at it and `store` is
it opened. Folders that need another shape (a prepared SQLite home, an empty database)
override them; plain helpers shared between folders live in `tests/support.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.config import Settings
from certmgr.store.migrate import upgrade
from certmgr.store.session import Store, open_store
from certmgr.store.testing import BACKENDS, temporary_database_url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with temporary_database_url(request.param, directory=tmp_path) as url:
        upgrade(url)
        yield url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", db_url=db_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with open_store(settings) as opened:
        yield opened
