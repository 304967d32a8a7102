"""Monitoring fixtures: a home with one mailbox whose certificate expires at a known
instant, a recording channel, and the in-process CLI runner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from certmgr.channels.base import DeliveryResult, Message
from certmgr.cli import run
from certmgr.config import Settings
from certmgr.store.enums import BindingRole
from certmgr.store.models import Binding, Crl, KeyRecord, Renewal, RenewalState
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


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


Invoke = Callable[..., Outcome]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], settings: Settings) -> Invoke:
    """Run `certmgr --home <settings.home> ARGS...` in process: exit code, stdout, stderr."""
    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            run(["--home", str(settings.home), *args])
        captured = capsys.readouterr()
        code = info.value.code
        return Outcome(int(code) if isinstance(code, int) else 0, captured.out, captured.err)

    return invoke


def add_crl(store: Store, next_update: dt.datetime) -> None:
    """A current, verified CRL of `CN=AC TEST` with this nextUpdate."""
    with store.transaction() as session:
        session.add(Crl(der=b"x", fingerprint_sha256="f" * 64, issuer="CN=AC TEST",
                        this_update=next_update - dt.timedelta(days=7),
                        next_update=next_update, fetched_at=START, verified=True,
                        is_current=True))


def add_order(store: Store, *, ordered_at: dt.datetime, mailbox_id: int = 1) -> None:
    """A renewal of the mailbox ORDERED at ANS at `ordered_at` (ref ANS-42), certificate
    not received yet."""
    with store.transaction() as session:
        key = KeyRecord(spki_sha256="a" * 64, key_type="RSA", key_size=2048, path="keys/k.pem",
                        encrypted=True, created_at=START)
        session.add(key)
        session.flush()
        session.add(Renewal(mailbox_id=mailbox_id, state=RenewalState.ORDERED,
                            key_id=key.id or 0, csr_pem="-", profile="ORG_AUTH_CLI",
                            ordered_at=ordered_at, order_ref="ANS-42", created_at=START,
                            updated_at=START))


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
