"""`certmgr csr new`: a private key and an IGC Santé CSR for a mailbox, and its renewal row.

Order of writes (never lose a key, never point at a missing one):
1. the key is generated and encrypted (PKCS#8 PBES2, `certmgr.pki.keys.encrypt_key`)
   under the passphrase, unless `plaintext=True` (`--insecure-plaintext-key`);
2. the key file is written atomically, 0600 in the 0700 `<home>/keys/` directory,
   fsync'ed with its directory (`certmgr.store.keyfiles.write_private_file`);
3. the CSR file is written (`<home>/csr/` or `out_dir`);
4. ONE transaction stores the `KeyRecord`, the `Renewal` (CSR_READY) and the audit events
   `key.generated` and `csr.created`.
A crash before 4 leaves at most a key file no row refers to (harmless, reported by
`doctor`); never a row without its key file, never a partial key file (a killed writer's
temporary file is removed by the next `csr new`).

Batches (`generate_csrs`): the keys (generation + encryption, the CPU-heavy part) and
their files are made in a process pool over every core; the database writes stay in the
parent, one transaction per mailbox, as results come in. One failing mailbox never stops
the others. A batch runs PBKDF2 once and shares its salt between the batch's key files
(each with its own IV, each openable alone with the passphrase: see `_Sealer`).

All the encrypted keys of a home share one passphrase (export, probes, backups use it):
before encrypting new keys, the passphrase must open the newest encrypted key already
held (`check_home_passphrase`); a mistyped one is a PassphraseError, nothing written.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asn1crypto import algos as asn1_algos
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from sqlalchemy import exists
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from certmgr.errors import (
    CertmgrError,
    ConflictError,
    InputError,
    NotFoundError,
    PassphraseError,
)
from certmgr.pki.csr import DEFAULT_PROFILE, SubjectSpec, build_csr, get_profile
from certmgr.pki.departments import parse_state
from certmgr.pki.keys import (
    DEFAULT_KDF_ROUNDS,
    KeySpec,
    PrivateKey,
    encrypt_key,
    generate_key,
    plaintext_key,
    spki_sha256,
)
from certmgr.services.mailboxes import normalize_address
from certmgr.store.audit import append_event
from certmgr.store.enums import BindingRole, MailboxStatus
from certmgr.store.keyfiles import cleanup_stale_temp, write_private_file, write_public_file
from certmgr.store.models import (
    OPEN_RENEWAL_STATES,
    Binding,
    Certificate,
    KeyRecord,
    Mailbox,
    Renewal,
    RenewalState,
    Structure,
    ValidationResult,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.config import Settings
    from certmgr.store.session import Store

__all__ = [
    "BatchReport",
    "CsrCreated",
    "CsrFailure",
    "KeyOptions",
    "check_home_passphrase",
    "due_addresses",
    "generate_csr",
    "generate_csrs",
    "next_steps",
]

Progress = Callable[[int, int], None]
_MIN_KDF_ROUNDS = 1_000  # as certmgr.pki.keys.encrypt_key
# NO_CERTIFICATE is read from the bindings instead: the status is only as fresh as the
# last scan, and a mailbox whose certificate was just imported still says NO_CERTIFICATE.
_DUE_STATUSES = frozenset({MailboxStatus.RENEW_SOON, MailboxStatus.CRITICAL,
                           MailboxStatus.EXPIRED, MailboxStatus.REVOKED})


@dataclass(frozen=True, slots=True)
class KeyOptions:
    """How keys are made. `kdf_rounds` below the default is for tests only."""

    algorithm: KeySpec = KeySpec.RSA_2048
    plaintext: bool = False
    allow_ec: bool = False
    kdf_rounds: int = DEFAULT_KDF_ROUNDS

    @classmethod
    def for_size(cls, key_size: int, **kwargs: Any) -> KeyOptions:
        """RSA of `key_size` bits (2048, 3072, 4096); InputError otherwise."""
        return cls(algorithm=KeySpec.parse(f"rsa{key_size}"), **kwargs)


@dataclass(frozen=True, slots=True)
class CsrCreated:
    """A key and CSR made for one mailbox, and the CSR_READY renewal that records them."""

    address: str
    renewal_id: int
    key_id: int
    key_path: Path
    csr_path: Path
    spki_sha256: str
    profile: str
    algorithm: str
    encrypted: bool
    subject: str

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "status": "created", "renewal": self.renewal_id,
                "key_path": str(self.key_path), "csr_path": str(self.csr_path),
                "spki_sha256": self.spki_sha256, "profile": self.profile,
                "algorithm": self.algorithm, "encrypted": self.encrypted,
                "subject": self.subject, "state": str(RenewalState.CSR_READY)}


@dataclass(frozen=True, slots=True)
class CsrFailure:
    address: str
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "status": "failed", "error": self.error}


@dataclass(frozen=True, slots=True)
class BatchReport:
    created: tuple[CsrCreated, ...]
    failed: tuple[CsrFailure, ...]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "created": len(self.created), "failed": len(self.failed),
                "seconds": round(self.seconds, 3),
                "items": [i.to_json() for i in self.created]
                + [f.to_json() for f in self.failed]}


def next_steps(result: CsrCreated) -> list[str]:
    """What the operator does next on the ANS portal, one line each (in French, as the
    portal is)."""
    return [
        (f"1. Sur le portail ANS (https://pro.esante.gouv.fr), « Demander un certificat » : "
         f"déposer le CSR {result.csr_path} (produit {result.profile})."),
        f"2. Noter la commande : certmgr order mark {result.address} --ref <référence ANS>",
        ("3. Quand l'ANS l'a émis, « Retirer » le certificat et l'importer (nom de fichier "
         "quelconque) : certmgr import <fichier du certificat>"),
        ("4. Conserver le code de révocation remis au retrait : "
         f"certmgr order revocation-code {result.address} --set"),
    ]


# ---------------------------------------------------------------------------- pure part
@dataclass(frozen=True, slots=True)
class _Sealer:
    """How workers encrypt keys: PKCS#8 PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC).

    `per_key`: `certmgr.pki.keys.encrypt_key`, a fresh salt and PBKDF2 run per key.
    `shared` (batches): one salt and ONE PBKDF2 run for the batch; every file still has
    its own random IV and is a standard PKCS#8 file that opens alone with the passphrase
    (the salt and round count are in it). What is given up: nothing an attacker can use.
    The files share one passphrase, so cracking any one of them already opens them all;
    the per-guess cost stays 600,000 rounds, and a random salt per batch still defeats
    precomputation. What is gained: the KDF was ~60% of the CPU time per key (bench/).
    """

    passphrase: bytes
    rounds: int
    salt: bytes | None = None
    derived: bytes | None = None

    @classmethod
    def per_key(cls, passphrase: bytes | None, *, rounds: int) -> _Sealer:
        if not passphrase:
            raise PassphraseError("a passphrase is needed to encrypt the key "
                                  "(or --insecure-plaintext-key)")
        return cls(passphrase, rounds)

    @classmethod
    def shared(cls, passphrase: bytes | None, *, rounds: int) -> _Sealer:
        base = cls.per_key(passphrase, rounds=rounds)
        if rounds < _MIN_KDF_ROUNDS:
            raise InputError(f"kdf_rounds must be at least {_MIN_KDF_ROUNDS}")
        salt = os.urandom(16)
        derived = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt,
                             iterations=rounds).derive(base.passphrase)
        return cls(base.passphrase, rounds, salt, derived)

    def seal(self, key: PrivateKey) -> bytes:
        """The PEM `ENCRYPTED PRIVATE KEY` of `key`."""
        if self.salt is None or self.derived is None:
            return encrypt_key(key, passphrase=self.passphrase, kdf_rounds=self.rounds)
        plain = key.private_bytes(serialization.Encoding.DER,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        encryptor = Cipher(algorithms.AES256(self.derived), modes.CBC(iv)).encryptor()
        sealed = encryptor.update(padder.update(plain) + padder.finalize())
        info = asn1_keys.EncryptedPrivateKeyInfo({
            "encryption_algorithm": {"algorithm": "pbes2", "parameters": {
                "key_derivation_func": {"algorithm": "pbkdf2", "parameters": {
                    "salt": asn1_algos.Pbkdf2Salt(name="specified", value=self.salt),
                    "iteration_count": self.rounds,
                    "prf": {"algorithm": "sha256", "parameters": None}}},
                "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv}}},
            "encrypted_data": sealed + encryptor.finalize()})
        body = base64.encodebytes(info.dump()).replace(b"\n", b"")
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        return b"\n".join([b"-----BEGIN ENCRYPTED PRIVATE KEY-----", *lines,
                           b"-----END ENCRYPTED PRIVATE KEY-----", b""])


@dataclass(frozen=True, slots=True)
class _Job:
    """Everything a worker process needs: picklable, no database."""

    address: str
    subject: SubjectSpec
    profile: str
    options: KeyOptions
    sealer: _Sealer | None  # None: plaintext key (--insecure-plaintext-key)
    key_path: Path
    csr_dir: Path


@dataclass(frozen=True, slots=True)
class _Made:
    address: str
    key_path: Path
    csr_path: Path
    csr_pem: str
    spki_sha256: str
    key_type: str
    key_size: int


def _make(job: _Job) -> _Made:
    """Generate, encrypt and write the key (durably), then the CSR. Runs in a worker."""
    key = generate_key(algorithm=job.options.algorithm, allow_ec=job.options.allow_ec)
    csr_pem = build_csr(key=key, profile=job.profile, subject=job.subject)
    spki = spki_sha256(key.public_key())
    key_pem = plaintext_key(key) if job.sealer is None else job.sealer.seal(key)
    key_path = job.key_path.with_name(job.key_path.name.replace("{spki}", spki[:16]))
    write_private_file(key_path, key_pem, overwrite=False)
    csr_path = job.csr_dir / f"{_file_stem(job.address)}-{spki[:16]}.csr.pem"
    write_public_file(csr_path, csr_pem, overwrite=False)
    key_type = "EC" if job.options.algorithm.is_ec else "RSA"
    return _Made(job.address, key_path, csr_path, csr_pem.decode("ascii"), spki, key_type,
                 key.key_size)


def _file_stem(address: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in address)


# ---------------------------------------------------------------------------- database
def _prepare(session: Session, settings: Settings, address: str, *, profile: str,
             options: KeyOptions, sealer: _Sealer | None, common_name: str | None,
             out_dir: Path | None) -> _Job:
    wanted = normalize_address(address)
    row = session.execute(select(Mailbox, Structure).join(
        Structure, col(Structure.id) == col(Mailbox.structure_id)).where(
        col(Mailbox.address) == wanted)).first()
    if row is None:
        raise NotFoundError(f"no mailbox {wanted} (add it first: certmgr mailbox add)")
    mailbox, structure = row
    if mailbox.archived:
        raise ConflictError(f"mailbox {wanted} is archived")
    _refuse_open(session, mailbox)
    if not structure.department:
        raise InputError(f"the structure {structure.idnat} of {wanted} has no département "
                         "(needed for ST): set it on the mailbox first")
    # The structure keeps the ST label ("Paris (75)") or, from older rows, the bare code.
    departement = parse_state(structure.department) or structure.department
    subject = SubjectSpec(departement=departement, organization=structure.name,
                          idnat=structure.idnat, common_name=common_name or wanted)
    return _Job(wanted, subject, get_profile(profile).name, options, sealer,
                settings.keys_dir / f"{_file_stem(wanted)}-{{spki}}.key.pem",
                out_dir or settings.home / "csr")


def _refuse_open(session: Session, mailbox: Mailbox) -> None:
    open_row = session.scalars(select(Renewal).where(
        col(Renewal.mailbox_id) == mailbox.id,
        col(Renewal.state).in_([str(s) for s in OPEN_RENEWAL_STATES]))).first()
    if open_row is not None:
        raise ConflictError(
            f"mailbox {mailbox.address} already has renewal #{open_row.id} in state "
            f"{open_row.state}: finish it, or `certmgr order abandon {mailbox.address}`")


def _relative(path: Path, home: Path) -> str:
    try:
        return str(path.resolve().relative_to(home.resolve()))
    except ValueError:
        return str(path.resolve())


def _record(store: Store, settings: Settings, made: _Made, job: _Job, *, at: dt.datetime,
            actor: str) -> CsrCreated:
    """The one transaction that makes the (already durable) key known to the inventory."""
    try:
        with store.transaction() as session:
            mailbox = session.scalars(select(Mailbox).where(
                col(Mailbox.address) == made.address)).one()
            _refuse_open(session, mailbox)
            assert mailbox.id is not None
            key = KeyRecord(spki_sha256=made.spki_sha256, key_type=made.key_type,
                            key_size=made.key_size, path=_relative(made.key_path, settings.home),
                            encrypted=not job.options.plaintext, created_at=at)
            session.add(key)
            session.flush()
            assert key.id is not None
            renewal = Renewal(mailbox_id=mailbox.id, state=RenewalState.CSR_READY,
                              key_id=key.id, csr_pem=made.csr_pem, csr_path=str(made.csr_path),
                              profile=job.profile, created_at=at, updated_at=at)
            session.add(renewal)
            session.flush()
            assert renewal.id is not None
            append_event(session, actor=actor, action="key.generated", at=at,
                         object_type="key", object_id=made.spki_sha256,
                         details={"mailbox": made.address, "algorithm": str(
                             job.options.algorithm), "encrypted": not job.options.plaintext,
                             "path": key.path})
            append_event(session, actor=actor, action="csr.created", at=at,
                         object_type="renewal", object_id=renewal.id,
                         details={"mailbox": made.address, "profile": job.profile,
                                  "subject": job.subject.to_name().rfc4514_string(),
                                  "csr_path": str(made.csr_path)})
    except IntegrityError as exc:  # a concurrent `csr new` opened a renewal first
        raise ConflictError(f"mailbox {made.address} got another open renewal meanwhile "
                            f"(the key file {made.key_path} is unused)") from exc
    return CsrCreated(made.address, renewal.id, key.id, made.key_path, made.csr_path,
                      made.spki_sha256, job.profile, str(job.options.algorithm),
                      not job.options.plaintext, job.subject.to_name().rfc4514_string())


def check_home_passphrase(store: Store, settings: Settings, passphrase: bytes | None) -> None:
    """PassphraseError when `passphrase` does not open the newest encrypted key held here
    (one key decryption); nothing to check without such a key or when its file is gone
    (`certmgr doctor` reports a missing key file)."""
    from certmgr.services.export import load_held_key  # noqa: PLC0415

    with store.sessions() as session:
        newest = session.scalars(select(KeyRecord).where(col(KeyRecord.encrypted).is_(True))
                                 .order_by(col(KeyRecord.id).desc()).limit(1)).first()
    if newest is None or not (settings.home / newest.path).is_file():
        return
    try:
        load_held_key(settings, newest, passphrase=passphrase)
    except PassphraseError as exc:
        raise PassphraseError(
            f"this passphrase does not open the keys already held here ({newest.path}): "
            "every key of a home is encrypted under the same passphrase") from exc


def generate_csr(*, store: Store, settings: Settings, address: str,
                 profile: str = DEFAULT_PROFILE, key_size: int = 2048,
                 passphrase: bytes | None, at: dt.datetime, actor: str,
                 common_name: str | None = None, out_dir: Path | None = None,
                 options: KeyOptions | None = None) -> CsrCreated:
    """Key + CSR + CSR_READY renewal for one mailbox (see the module docstring).

    `options` overrides `key_size` (EC, plaintext, KDF rounds). Raises NotFoundError
    (unknown mailbox), ConflictError (archived, or a renewal already open), InputError
    (no département, bad profile/size), PassphraseError (no passphrase), StoreError.
    """
    opts = options or KeyOptions.for_size(key_size)
    sealer = None if opts.plaintext else _Sealer.per_key(passphrase, rounds=opts.kdf_rounds)
    if sealer is not None:
        check_home_passphrase(store, settings, passphrase)
    cleanup_stale_temp(settings.keys_dir)
    with store.sessions() as session:
        job = _prepare(session, settings, address, profile=profile, options=opts,
                       sealer=sealer, common_name=common_name, out_dir=out_dir)
    made = _make(job)
    return _record(store, settings, made, job, at=at, actor=actor)


def generate_csrs(*, store: Store, settings: Settings, addresses: Sequence[str],
                  profile: str = DEFAULT_PROFILE, options: KeyOptions,
                  passphrase: bytes | None, at: dt.datetime, actor: str,
                  out_dir: Path | None = None, processes: int | None = None,
                  progress: Progress | None = None, elapsed: Callable[[], float] | None = None,
                  share_kdf: bool = True) -> BatchReport:
    """`generate_csr` for many mailboxes: keys in a process pool, rows in this process.

    `share_kdf`: one PBKDF2 run (one salt) for the whole batch, each key file with its
    own IV (see `_Sealer.shared`); False pays the 600,000 rounds once per key.

    Mailboxes that cannot be prepared (unknown, archived, already open...) are failures
    in the report; the others go on. `elapsed` (a monotonic timer from the entry point)
    fills `seconds`.
    """
    start = elapsed() if elapsed else 0.0
    sealer = None
    if not options.plaintext:
        sealer = (_Sealer.shared(passphrase, rounds=options.kdf_rounds) if share_kdf
                  else _Sealer.per_key(passphrase, rounds=options.kdf_rounds))
        check_home_passphrase(store, settings, passphrase)
    cleanup_stale_temp(settings.keys_dir)  # what a killed earlier run left half-written
    failed: list[CsrFailure] = []
    jobs: list[_Job] = []
    seen: set[str] = set()
    with store.sessions() as session:
        for address in addresses:
            try:
                job = _prepare(session, settings, address, profile=profile, options=options,
                               sealer=sealer, common_name=None, out_dir=out_dir)
            except CertmgrError as exc:
                failed.append(CsrFailure(address.strip().lower(), str(exc)))
                continue
            if job.address in seen:
                failed.append(CsrFailure(job.address, "listed twice"))
                continue
            seen.add(job.address)
            jobs.append(job)
    created: list[CsrCreated] = []
    total = len(jobs)
    if jobs:
        workers = min(processes or os.cpu_count() or 1, total)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_make, job): job for job in jobs}
            for done, future in enumerate(as_completed(futures), start=1):
                job = futures[future]
                try:
                    created.append(_record(store, settings, future.result(), job, at=at,
                                           actor=actor))
                except CertmgrError as exc:
                    failed.append(CsrFailure(job.address, str(exc)))
                except BrokenProcessPool:
                    # A worker died (killed, out of memory): its job and every job not
                    # finished yet fail; a key file it may have renamed has no row.
                    failed.append(CsrFailure(job.address, "worker process died"))
                if progress is not None:
                    progress(done, total)
    created.sort(key=lambda c: c.address)
    seconds = (elapsed() - start) if elapsed else 0.0
    return BatchReport(tuple(created), tuple(failed), seconds)


def due_addresses(*, store: Store, at: dt.datetime, within_days: int) -> list[str]:
    """Active (not archived) mailboxes with no renewal under way that need one: no
    current certificate (NO_CERTIFICATE), a current certificate that ends at or before
    `at + within_days`, or status RENEW_SOON, CRITICAL, EXPIRED or REVOKED when the last
    scan judged the current certificate (a status left by the certificate a renewal just
    replaced says nothing about its successor). Sorted by address."""
    horizon = at + dt.timedelta(days=within_days)
    with store.sessions() as session:
        busy = select(Renewal.mailbox_id).where(
            col(Renewal.state).in_([str(s) for s in OPEN_RENEWAL_STATES]))
        current = (select(Binding.mailbox_id, Binding.certificate_id, Certificate.not_after)
                   .join(Certificate, col(Certificate.id) == col(Binding.certificate_id))
                   .where(col(Binding.role) == str(BindingRole.CURRENT)).subquery())
        judged = exists().where(col(ValidationResult.mailbox_id) == col(Mailbox.id),
                                col(ValidationResult.certificate_id) == current.c.certificate_id)
        rows = session.execute(
            select(Mailbox.address, Mailbox.status, current.c.not_after, judged)
            .outerjoin(current, current.c.mailbox_id == col(Mailbox.id))
            .where(col(Mailbox.archived).is_(False), col(Mailbox.id).not_in(busy))
            .order_by(col(Mailbox.address))).all()
    return [address for address, status, not_after, by_scan in rows
            if not_after is None or not_after <= horizon
            or (by_scan and status in _DUE_STATUSES)]
