"""Inventory fixtures: the fixture PKI's index and the CLI on the test database (the
migrated store per test, SQLite file and PostgreSQL, comes from `tests/conftest.py`), and
helpers that put mailboxes, CA certificates, CRLs and bound leaves into the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from certmgr.config import Settings
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.services.trustctx import load_trust_material
from certmgr.store.enums import MailboxEnvironment
from certmgr.store.session import Store
from certmgr.testpki import PkiIndex, load_index
from tests.support import (
    ACTOR,
    AT,
    SIRET,
    Invoke,
    bind,
    cli_runner,
    require_fixed_pki,
    seed_trust,
)

__all__ = ["ACTOR", "AT", "SIRET", "Invoke", "add", "bind", "seed_trust", "trust_loader"]


@pytest.fixture(scope="session")
def pki() -> PkiIndex:
    return load_index(require_fixed_pki())


def trust_loader() -> Callable[..., Any]:
    """The trust loader the tests give `scan`: the real one."""
    return load_trust_material


def add(store: Store, address: str, *, idnat: str = SIRET, org: str = "Clinique Test",
        env: MailboxEnvironment = MailboxEnvironment.PRODUCTION, app: str = "DPI") -> None:
    add_mailbox(store=store, spec=MailboxSpec(address=address, idnat=idnat, organization=org,
                                              application=app, environment=env),
                at=AT, actor=ACTOR)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], settings: Settings) -> Invoke:
    """The real entry point on the test database, `--at`-free commands at the clock."""
    return cli_runner(capsys, "--home", settings.home, "--db", settings.db_url)
