"""A PKCS#12 holding the key `csr new` made and the certificate ANS issued for it completes
the renewal like the certificate alone would: no second key file, renewal ACTIVE."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlmodel import select

from certmgr.pki.keys import load_key
from certmgr.store.models import KeyRecord, Renewal, RenewalState
from certmgr.store.session import open_store

from .conftest import ADDRESS, PASSPHRASE, assert_consistent, certmgr, issue, settings_for


def test_pkcs12_of_our_key_activates_the_renewal(home: Path, tmp_path: Path) -> None:
    created = certmgr(home, "csr", "new", ADDRESS, "--json")
    assert created.code == 0, created.err
    info = created.json()
    key_path = Path(info["key_path"])
    key = load_key(key_path.read_bytes(), passphrase=PASSPHRASE.encode())
    pem = issue(Path(info["csr_path"]).read_bytes(),
                not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    bundle = tmp_path / "retrieved.p12"
    bundle.write_bytes(pkcs12.serialize_key_and_certificates(
        b"retrieved", key, x509.load_pem_x509_certificate(pem), None,
        serialization.BestAvailableEncryption(b"portal password")))
    secret = tmp_path / "portal-password"
    secret.write_text("portal password\n")
    secret.chmod(0o600)
    keys_before = sorted((home / "keys").iterdir())

    done = certmgr(home, "import", bundle, "--p12-password-file", secret, "--json")
    assert done.code == 0, done.err
    (entry,) = done.json()["files"]
    key_item = next(i for i in entry["items"] if i["kind"] == "private-key")
    assert (key_item["status"], key_item["spki_sha256"]) == ("known", info["spki_sha256"])
    leaf = next(i for i in entry["items"] if i["kind"] == "certificate")
    assert leaf["key"]["status"] == "active"
    assert sorted((home / "keys").iterdir()) == keys_before  # nothing written
    with open_store(settings_for(home)) as store, store.sessions() as session:
        assert session.scalars(select(Renewal)).one().state is RenewalState.ACTIVE
        assert len(session.scalars(select(KeyRecord)).all()) == 1
    assert_consistent(home)
