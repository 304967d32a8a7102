"""A real inventory for the probe tests: a migrated SQLite home with the fixture CAs, one
mailbox bound to the now-relative `el-org-auth-valid` certificate, and its key held here
(encrypted under PASSPHRASE), as `certmgr csr new` would have left it; `seed_stale_probe`
makes a mailbox due for the probe job."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import col, select

from certmgr.config import Settings
from certmgr.fetch.probe import ProbeTarget, StartTls
from certmgr.pki.keys import encrypt_key, load_key, spki_sha256
from certmgr.services.importer import import_paths
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.services.probe_history import set_endpoint
from certmgr.store.engine import make_engine
from certmgr.store.keyfiles import write_private_file
from certmgr.store.migrate import upgrade
from certmgr.store.models import KeyRecord, Mailbox
from certmgr.store.models_probes import ProbeResult
from certmgr.store.session import Store, open_store

from .conftest import KEYS, Pki

ADDRESS = "bal.appli@ch-fixture.mssante.fr"
OTHER = "autre.appli@ch-fixture.mssante.fr"
CONTACT = "exploitation@ch-fixture.fr"
SIRET = "3" + "73282932000074"
PASSPHRASE = "correct horse battery staple"
ACTOR = "tester"


@dataclass(frozen=True)
class Inventory:
    settings: Settings
    store: Store
    at: dt.datetime


def build_inventory(home: Path, pki: Pki, *, hold_key: bool = True) -> Iterator[Inventory]:
    """The inventory under `home` (see the module docstring); yields it open."""
    home.mkdir(mode=0o700, exist_ok=True)
    settings = Settings(home=home, db_url=f"sqlite:///{home / 'certmgr.sqlite3'}")
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    at = pki.at
    with open_store(settings) as store:
        for address in (ADDRESS, OTHER):
            add_mailbox(store=store, spec=MailboxSpec(
                address=address, idnat=SIRET, organization="Centre Hospitalier Fixture",
                department="75", contacts=(CONTACT,)), at=at, actor=ACTOR)
        import_paths(store=store, paths=[pki.cert("ACR-EL"), pki.cert("ACI-EL-ORG")], at=at,
                     actor=ACTOR)
        import_paths(store=store, paths=[pki.cert("el-org-auth-valid")], at=at, actor=ACTOR,
                     mailbox=ADDRESS)
        if hold_key:
            key = load_key((KEYS / "el-org-auth-valid.TEST-KEY.pem").read_bytes(),
                           passphrase=None)
            relative = Path("keys") / "el-org-auth-valid.key.pem"
            write_private_file(home / relative, encrypt_key(
                key, passphrase=PASSPHRASE.encode(), kdf_rounds=1000))
            with store.transaction() as session:
                session.add(KeyRecord(spki_sha256=spki_sha256(key.public_key()),
                                      key_type="RSA", key_size=key.key_size,
                                      path=str(relative), encrypted=True, created_at=at))
        yield Inventory(settings=settings, store=store, at=at)



def seed_stale_probe(inv: Inventory, port: int, *, address: str = ADDRESS) -> None:
    """Point the mailbox at 127.0.0.1:`port` (IMAP) with an ok probe 30 hours old, so that
    the probe job finds it due at once, whatever the hour (a missed slot is caught up)."""
    set_endpoint(store=inv.store, address=address, at=inv.at, actor=ACTOR,
                 target=ProbeTarget("127.0.0.1", port, StartTls.IMAP))
    with inv.store.transaction() as session:
        mailbox = session.scalars(select(Mailbox).where(col(Mailbox.address) == address)).one()
        assert mailbox.id is not None
        session.add(ProbeResult(mailbox_id=mailbox.id, at=inv.at - dt.timedelta(hours=30),
                                host="127.0.0.1", port=port, starttls="imap", ok=True,
                                status="OK", codes=[]))
