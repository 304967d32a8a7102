"""Intake of a certificate ANS issued: match it to our key, complete its renewal.

`match_issued_certificate` is the hook the importer calls, in its own transaction, for
every leaf certificate it stores: the certificate's public key (SPKI SHA-256) is looked
up among our keys, whatever name the file had. When it is one of ours, the key's renewal
moves CSR_READY/ORDERED -> ISSUED (`certificate.matched`) and, when the certificate
validates against the store's trust material and becomes the mailbox's CURRENT
certificate, ISSUED -> ACTIVE (`renewal.activated`; the old certificate becomes
PREVIOUS, still kept). A certificate for no key of ours is "no private key here".

`import_issued` is the "import the file I just downloaded for this mailbox" action of
the TUI: the importer, bound to the mailbox, and what happened to our renewal.

Private keys of imported PKCS#12 files (`KeyIntake`, given to the importer) are kept
like the keys `csr new` makes, in two steps, file first:
1. `write_key_file`: the key, re-encrypted under the store's key passphrase (PKCS#8
   PBES2, `certmgr.pki.keys.encrypt_key`), is written atomically, 0600 in the 0700
   `<home>/keys/` directory, as `imported-<SPKI SHA-256, 16 hex>.key.pem`; a file left
   there by an earlier, killed import of the same key is reused (it must hold that key);
2. `record_key`, in the importer's transaction for the file and before its certificates
   (so that they match it): the `KeyRecord` row and the audit event `key.imported`.
A crash between the two leaves a complete encrypted key file no row refers to, never a
row without its file. Fault points: `import:p12-after-keyfile` (file durable, no row),
`import:p12-after-keyrow` (row flushed, not committed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlmodel import col, select

from certmgr.errors import InputError
from certmgr.pki.keys import DEFAULT_KDF_ROUNDS, encrypt_key, load_key, spki_sha256
from certmgr.services.renewal import (
    NO_KEY,
    IntakeOutcome,
    record_issued,
    try_activate,
)
from certmgr.store.audit import append_event
from certmgr.store.keyfiles import fault, read_private_file, write_private_file
from certmgr.store.models import KeyRecord, Mailbox, Renewal, RenewalState

if TYPE_CHECKING:
    import datetime as dt
    from pathlib import Path

    from sqlalchemy.orm import Session

    from certmgr.config import Settings
    from certmgr.pki.load import LoadedKey
    from certmgr.services.importer import ImportReport
    from certmgr.services.status import Thresholds
    from certmgr.store.models import Certificate
    from certmgr.store.session import Store

__all__ = ["NO_KEY", "HeldKey", "IntakeOutcome", "IntakeReport", "KeyIntake", "import_issued",
           "known_key", "match_issued_certificate", "record_key", "write_key_file"]


# ---------------------------------------------------------------------------- keys
@dataclass(frozen=True, slots=True)
class KeyIntake:
    """Where imported private keys go and the passphrase that encrypts them at rest (the
    store's key passphrase, the one `csr new`, `export` and `backup` use)."""

    home: Path
    keys_dir: Path
    passphrase: bytes = field(repr=False)
    kdf_rounds: int = DEFAULT_KDF_ROUNDS
    """PBKDF2 rounds of the written key files (lower only in tests)."""

    @classmethod
    def for_settings(cls, settings: Settings, *, passphrase: bytes,
                     kdf_rounds: int = DEFAULT_KDF_ROUNDS) -> KeyIntake:
        return cls(settings.home, settings.keys_dir, passphrase, kdf_rounds)


@dataclass(frozen=True, slots=True)
class HeldKey:
    """A private key of an imported file, durable on disk before any row refers to it.

    status: `written` (a new file), `on-disk` (the file of an earlier, interrupted import
    of the same key, reused) or `known` (a key row already holds it: nothing written)."""

    spki_sha256: str
    path: str
    """Relative to the certmgr home (as `KeyRecord.path`)."""
    key_type: str
    key_size: int
    status: str


def known_key(session: Session, spki: str) -> KeyRecord | None:
    return session.scalars(select(KeyRecord).where(col(KeyRecord.spki_sha256) == spki)).first()


def _relative(path: Path, home: Path) -> str:
    try:
        return str(path.resolve().relative_to(home.resolve()))
    except ValueError:
        return str(path.resolve())


def _holds(path: Path, spki: str, passphrase: bytes) -> bool:
    """True when the key file at `path` opens with `passphrase` and holds the key `spki`."""
    try:
        key = load_key(read_private_file(path), passphrase=passphrase, source=str(path))
    except InputError:
        return False
    return spki_sha256(key.public_key()) == spki


def write_key_file(intake: KeyIntake, loaded: LoadedKey, *,
                   known: KeyRecord | None) -> HeldKey:
    """Step 1 (see the module docstring): the key file, durable, before any row.

    `known`: the key row already holding this key (nothing is written then). Raises
    InputError for a key type certmgr does not use (RSA and EC only), or when another
    key already sits at the file name; PassphraseError/StoreError from the writers."""
    key = loaded.key
    if isinstance(key, rsa.RSAPrivateKey):
        key_type, key_size = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        key_type, key_size = "EC", key.curve.key_size
    else:
        raise InputError(f"private key of type {type(key).__name__} is not supported "
                         "(RSA and EC only)")
    spki = spki_sha256(key.public_key())
    if known is not None:
        return HeldKey(spki, known.path, key_type, key_size, "known")
    path = intake.keys_dir / f"imported-{spki[:16]}.key.pem"
    status = "on-disk"
    if not path.exists():
        try:
            write_private_file(path, encrypt_key(key, passphrase=intake.passphrase,
                                                 kdf_rounds=intake.kdf_rounds),
                               overwrite=False)
            status = "written"
        except InputError:
            if not path.exists():  # the directory is unsafe: not a name clash
                raise
    if status == "on-disk" and not _holds(path, spki, intake.passphrase):
        raise InputError("already exists and does not hold this key under the key "
                         "passphrase (move it away, then import again)", source=path)
    fault("import:p12-after-keyfile")  # the key file is durable; no row refers to it yet
    return HeldKey(spki, _relative(path, intake.home), key_type, key_size, status)


def record_key(session: Session, held: HeldKey, *, at: dt.datetime, actor: str,
               source: str) -> bool:
    """Step 2: the key row and its `key.imported` event, in the caller's transaction;
    False when a row already held the key (a concurrent importer, or `known`)."""
    if known_key(session, held.spki_sha256) is not None:
        return False
    session.add(KeyRecord(spki_sha256=held.spki_sha256, key_type=held.key_type,
                          key_size=held.key_size, path=held.path, encrypted=True,
                          created_at=at))
    session.flush()
    append_event(session, actor=actor, action="key.imported", at=at, object_type="key",
                 object_id=held.spki_sha256, details={"path": held.path, "source": source,
                                                      "algorithm": f"{held.key_type}-"
                                                                   f"{held.key_size}"})
    fault("import:p12-after-keyrow")  # row and event flushed, the certificates not yet
    return True


def match_issued_certificate(*, session: Session, certificate_row: Certificate,
                             at: dt.datetime, actor: str,
                             thresholds: Thresholds | None = None) -> IntakeOutcome:
    """Match a stored leaf (flushed: it has an id) to our keys and move its renewal on.

    Runs in the caller's transaction and never commits; idempotent (a second import of
    the same certificate says `known`, or retries the activation of an ISSUED renewal).
    Outcome statuses: `no-key`, `key-only` (our key, no renewal waiting for it),
    `issued` (with the reason it is not ACTIVE yet), `active`, `known`.
    """
    key = session.scalars(select(KeyRecord).where(
        col(KeyRecord.spki_sha256) == certificate_row.spki_sha256)).first()
    if key is None:
        return IntakeOutcome("no-key")
    renewal = session.scalars(select(Renewal).where(col(Renewal.key_id) == key.id).order_by(
        col(Renewal.id).desc())).first()
    if renewal is None:
        return IntakeOutcome("key-only")
    mailbox = session.get(Mailbox, renewal.mailbox_id)
    if mailbox is None:  # foreign key: cannot happen short of a damaged database
        return IntakeOutcome("key-only", renewal.id, reason="its mailbox is gone")
    state = RenewalState(renewal.state)
    same = renewal.certificate_id == certificate_row.id
    if state in (RenewalState.CSR_READY, RenewalState.ORDERED):
        record_issued(session, renewal=renewal, mailbox=mailbox, certificate=certificate_row,
                      key=key, at=at, actor=actor)
    elif state is not RenewalState.ISSUED or not same:
        # ACTIVE with this certificate: a re-import. Otherwise the renewal was closed
        # (REJECTED/ABANDONED) or holds another certificate for the same key: the
        # certificate is stored and bound by the importer's rules, the renewal untouched.
        if same:
            return IntakeOutcome("known", renewal.id, mailbox.address)
        return IntakeOutcome("key-only", renewal.id, mailbox.address,
                             f"it is {state} with another certificate"
                             if renewal.certificate_id is not None else f"it is {state}")
    return try_activate(session, renewal=renewal, mailbox=mailbox, cert=certificate_row,
                        at=at, actor=actor, thresholds=thresholds)


@dataclass(frozen=True, slots=True)
class IntakeReport:
    """The import report and, per certificate, what happened to our renewal."""

    address: str
    report: ImportReport
    matches: tuple[IntakeOutcome, ...]

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def active(self) -> bool:
        return any(m.status == "active" for m in self.matches)

    def to_json(self) -> dict[str, Any]:
        return {"mailbox": self.address, "ok": self.ok, "active": self.active,
                "matches": [m.to_json() for m in self.matches],
                "import": self.report.to_json()}


def import_issued(*, store: Store, settings: Settings, address: str, path: Path,
                  at: dt.datetime, actor: str) -> IntakeReport:
    """Import `path` bound to `address`; raises NotFoundError/ConflictError for the mailbox.

    The matching happens inside the import (the importer calls the hook above)."""
    # The importer imports this module for the hook: import it at call time.
    from certmgr.services.binding import BindingRules  # noqa: PLC0415
    from certmgr.services.importer import LeafOutcome, import_paths  # noqa: PLC0415
    from certmgr.services.status import Thresholds  # noqa: PLC0415

    report = import_paths(store=store, paths=[path], at=at, actor=actor, mailbox=address,
                          rules=BindingRules.from_settings(settings),
                          thresholds=Thresholds.from_settings(settings), revalidate=True)
    matches = tuple(i.match for f in report.files for i in f.items
                    if isinstance(i, LeafOutcome) and i.match is not None)
    return IntakeReport(address.strip().lower(), report, matches)
