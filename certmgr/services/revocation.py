"""Custody of the revocation code ANS hands out when a certificate is retrieved.

The code is stored encrypted: AES-256-GCM under a key derived with scrypt (n=2**15, r=8,
p=1) from the key passphrase, with a random salt and nonce per code and the certificate's
SHA-256 fingerprint as associated data (a code cannot be moved to another certificate).
When certmgr holds the certificate's private key, the passphrase is checked against it
first, so a typo cannot lock the code away. `reveal` is audited
(`revocation_code.revealed`); the code itself never goes to the audit log.

Which certificate: the one of the mailbox's latest renewal that has a certificate
(ISSUED or ACTIVE), else the mailbox's current certificate.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlmodel import col, select

from certmgr.errors import InputError, NotFoundError, PassphraseError
from certmgr.services.export import held_key, load_held_key
from certmgr.services.mailboxes import normalize_address
from certmgr.store.audit import append_event
from certmgr.store.enums import BindingRole
from certmgr.store.models import Binding, Certificate, Mailbox, Renewal, RevocationCode

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session

    from certmgr.config import Settings
    from certmgr.store.session import Store

__all__ = ["reveal_revocation_code", "store_revocation_code"]

_N, _R, _P = 2**15, 8, 1
_KDF = f"scrypt:n={_N},r={_R},p={_P}"
_MAX_CODE = 256


def _derive(passphrase: bytes, salt: bytes, kdf: str) -> bytes:
    params = dict(item.split("=") for item in kdf.removeprefix("scrypt:").split(","))
    return Scrypt(salt=salt, length=32, n=int(params["n"]), r=int(params["r"]),
                  p=int(params["p"])).derive(passphrase)


def _target(session: Session, address: str) -> Certificate:
    wanted = normalize_address(address)
    mailbox = session.scalars(select(Mailbox).where(col(Mailbox.address) == wanted)).first()
    if mailbox is None:
        raise NotFoundError(f"no mailbox {wanted}")
    cert_id = session.scalar(select(Renewal.certificate_id).where(
        col(Renewal.mailbox_id) == mailbox.id, col(Renewal.certificate_id).is_not(None),
    ).order_by(col(Renewal.id).desc()).limit(1))
    if cert_id is None:
        cert_id = session.scalar(select(Binding.certificate_id).where(
            col(Binding.mailbox_id) == mailbox.id,
            col(Binding.role) == str(BindingRole.CURRENT)))
    cert = None if cert_id is None else session.get(Certificate, cert_id)
    if cert is None:
        raise NotFoundError(f"mailbox {wanted} has no certificate yet: import it first "
                            "(certmgr import FILE)")
    return cert


def store_revocation_code(*, store: Store, settings: Settings, address: str, code: str,
                          passphrase: bytes, at: dt.datetime, actor: str) -> str:
    """Encrypt and store (or replace) the code; returns the certificate fingerprint."""
    clean = code.strip()
    if not clean or len(clean) > _MAX_CODE:
        raise InputError("the revocation code is empty or too long")
    if not passphrase:
        raise PassphraseError("a passphrase is needed to protect the revocation code")
    with store.sessions() as session:
        cert = _target(session, address)
        record = held_key(session, cert)
    if record is not None and record.encrypted:
        load_held_key(settings, record, passphrase=passphrase)  # wrong passphrase: refused
    salt, nonce = os.urandom(16), os.urandom(12)
    aad = cert.fingerprint_sha256.encode()
    sealed = AESGCM(_derive(passphrase, salt, _KDF)).encrypt(nonce, clean.encode(), aad)
    with store.transaction() as session:
        row = session.scalars(select(RevocationCode).where(
            col(RevocationCode.certificate_id) == cert.id)).first()
        replaced = row is not None
        assert cert.id is not None
        row = row or RevocationCode(certificate_id=cert.id, kdf=_KDF, salt=b"", nonce=b"",
                                    ciphertext=b"", created_at=at)
        row.kdf, row.salt, row.nonce, row.ciphertext, row.created_at = (
            _KDF, salt, nonce, sealed, at)
        session.add(row)
        append_event(session, actor=actor, action="revocation_code.stored", at=at,
                     object_type="certificate", object_id=cert.fingerprint_sha256,
                     details={"mailbox": normalize_address(address), "replaced": replaced})
    return cert.fingerprint_sha256


def reveal_revocation_code(*, store: Store, address: str, passphrase: bytes, at: dt.datetime,
                           actor: str) -> str:
    """The stored code in clear, audited; PassphraseError when the passphrase is wrong."""
    with store.sessions() as session:
        cert = _target(session, address)
        row = session.scalars(select(RevocationCode).where(
            col(RevocationCode.certificate_id) == cert.id)).first()
    if row is None:
        raise NotFoundError(f"no revocation code stored for the certificate of {address} "
                            f"(store it: certmgr order revocation-code {address} --set)")
    try:
        clear = AESGCM(_derive(passphrase, row.salt, row.kdf)).decrypt(
            row.nonce, row.ciphertext, cert.fingerprint_sha256.encode())
    except InvalidTag:
        raise PassphraseError("wrong passphrase for this revocation code") from None
    with store.transaction() as session:
        append_event(session, actor=actor, action="revocation_code.revealed", at=at,
                     object_type="certificate", object_id=cert.fingerprint_sha256,
                     details={"mailbox": normalize_address(address)})
    return clear.decode()
