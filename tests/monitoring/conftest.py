"""Monitoring fixtures: a home with one mailbox whose certificate expires at a known
instant, a recording channel, and the in-process CLI runner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from certmgr.channels.base import DeliveryResult, Message
from certmgr.config import Settings
from certmgr.store.enums import BindingRole
from certmgr.store.models import Binding
from certmgr.store.session import Store, open_store
from certmgr.store.testing import sample_certificate, sample_mailbox, sample_structure

START = dt.datetime(2026, 1, 5, 7, 30, tzinfo=dt.UTC)
NOT_AFTER = START + dt.timedelta(days=125, hours=1)
MAILBOX = "app@clinique.mssante.fr"
CONTACT = "admin@clinique.fr"


@dataclass
class RecordingChannel:
    """A channel that keeps what it is given (a real object, not a mock)."""

    name: str = "record"
    per_recipient: bool = True
    sent: list[Message] = field(default_factory=list)
    fail: bool = False

    def send(self, message: Message) -> DeliveryResult:
        if self.fail:
            from certmgr.errors import DeliveryError  # noqa: PLC0415

            raise DeliveryError("record: refused for the test")
        self.sent.append(message)
        return DeliveryResult(channel=self.name, accepted=message.recipients)


def make_settings(home: Path, **extra: object) -> Settings:
    return Settings(home=home, db_url=f"sqlite:///{home / 'certmgr.sqlite3'}", extra=dict(extra))


def seed(store: Store, *, not_after: dt.datetime = NOT_AFTER, n: int = 1,
         address: str = MAILBOX) -> int:
    """One structure, mailbox and current certificate; returns the certificate id."""
    with store.transaction() as session:
        structure = sample_structure(n)
        session.add(structure)
        session.flush()
        mailbox = sample_mailbox(structure.id or 0, address)
        session.add(mailbox)
        cert = sample_certificate(n, not_after=not_after)
        session.add(cert)
        session.flush()
        session.add(Binding(mailbox_id=mailbox.id or 0, certificate_id=cert.id or 0,
                            role=BindingRole.CURRENT, bound_at=START))
        return cert.id or 0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with open_store(settings, create=True) as opened:
        yield opened
