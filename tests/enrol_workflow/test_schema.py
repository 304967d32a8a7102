"""The renewal tables on both backends: one open renewal per mailbox, the state CHECK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from certmgr.store.engine import make_engine
from certmgr.store.migrate import upgrade
from certmgr.store.models import KeyRecord, Renewal, RenewalState
from certmgr.store.testing import (
    BACKENDS,
    T0,
    sample_mailbox,
    sample_structure,
    temporary_database_url,
)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with temporary_database_url(request.param, directory=tmp_path) as url:
        made = make_engine(url)
        upgrade(made)
        yield made
        made.dispose()


def _renewal(session: Session, mailbox_id: int, n: int, state: RenewalState) -> None:
    key = KeyRecord(spki_sha256=f"{n:064x}", key_type="RSA", key_size=2048,
                    path=f"keys/{n}.key.pem", encrypted=True, created_at=T0)
    session.add(key)
    session.flush()
    assert key.id is not None
    session.add(Renewal(mailbox_id=mailbox_id, state=state, key_id=key.id, csr_pem="x",
                        profile="ORG_AUTH_CLI", created_at=T0, updated_at=T0))
    session.flush()


def _mailbox(session: Session) -> int:
    structure = sample_structure()
    session.add(structure)
    session.flush()
    assert structure.id is not None
    mailbox = sample_mailbox(structure.id)
    session.add(mailbox)
    session.flush()
    assert mailbox.id is not None
    return mailbox.id


@pytest.mark.parametrize("second", [RenewalState.CSR_READY, RenewalState.ORDERED,
                                    RenewalState.ISSUED])
def test_one_open_renewal_per_mailbox(engine: Engine, second: RenewalState) -> None:
    with Session(engine) as session:
        mailbox_id = _mailbox(session)
        for n, closed in enumerate((RenewalState.ACTIVE, RenewalState.REJECTED,
                                    RenewalState.ABANDONED, RenewalState.ABANDONED)):
            _renewal(session, mailbox_id, n, closed)  # closed ones: any number
        _renewal(session, mailbox_id, 10, RenewalState.CSR_READY)
        session.commit()
        with pytest.raises(IntegrityError):
            _renewal(session, mailbox_id, 11, second)


def test_state_check_constraint(engine: Engine) -> None:
    with Session(engine) as session:
        mailbox_id = _mailbox(session)
        _renewal(session, mailbox_id, 1, RenewalState.CSR_READY)
        session.commit()
        with pytest.raises(IntegrityError):
            session.execute(text("UPDATE renewal SET state = 'LOST'"))
