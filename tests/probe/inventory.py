"""A real inventory for the probe tests: a migrated SQLite home with the fixture CAs, one
mailbox bound to the now-relative `el-org-auth-valid` certificate, and its key held here
(encrypted under PASSPHRASE), as `certmgr csr new` would have left it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from certmgr.config import Settings
from certmgr.pki.keys import encrypt_key, load_key, spki_sha256
from certmgr.services.importer import import_paths
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.engine import make_engine
from certmgr.store.keyfiles import write_private_file
from certmgr.store.migrate import upgrade
from certmgr.store.models import KeyRecord
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

