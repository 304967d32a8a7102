"""`certmgr export`: a mailbox's current certificate, its chain and its private key.

Formats:
- `p12`: PKCS#12 protected by the export password. Modern profile: AES-256-CBC with
  PBKDF2-HMAC-SHA256 for key and certificates, HMAC-SHA256 MAC. `legacy=True`: the
  3DES / SHA-1 profile (PBE-SHA1-3DES, SHA-1 MAC) old Windows and Java stacks need;
  OpenSSL 3 opens it only with `-legacy`.
- `pem`: a directory with `cert.pem`, `key.pem` (PKCS#8 encrypted under the export
  password, PBES2) and, with `chain`, `chain.pem` (intermediates up to the root).
Every file is written with mode 0600 (it is, or travels with, a private key), through a
temporary file, fsync and a rename (`keyfiles.write_owner_only_file`); an existing file is
refused unless `force`. An explicit
`out` is resolved (symlinks, `..`) and its directory must exist: certmgr creates only
the PEM directory itself (0700), never missing parents; by default everything goes under
`<home>/export/`, named by the address made a safe file stem (`/` and a leading dot
replaced), and a derived name that would still leave that directory is refused.

`deploy_hook` runs after the export, without a shell (`shlex.split`), with
CERTMGR_EXPORT_CERT / _KEY / _P12 / _CHAIN and CERTMGR_MAILBOX in its environment; its
exit code is in the result. The export (and the hook's exit code) is audited `exported`.
The hook gets certmgr's environment minus its secrets (`hook_environment`): the key
passphrase, the export, PKCS#12 import and SMTP passwords, any other `CERTMGR_*` variable
named like a secret, `PGPASSWORD`, and any `CERTMGR_*` URL that carries a password (the
database URL). A hook that needs a secret reads it from its own file.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlmodel import col, select

from certmgr.channels.smtp import ENV_SMTP_PASSWORD
from certmgr.errors import InputError, NotFoundError, PassphraseError
from certmgr.pki.keys import PrivateKey, encrypt_key, load_key
from certmgr.secrets import ENV_PASSPHRASE
from certmgr.services.mailboxes import normalize_address
from certmgr.store.audit import append_event
from certmgr.store.enums import BindingRole
from certmgr.store.keyfiles import read_private_file, write_owner_only_file
from certmgr.store.models import Binding, CACertificate, Certificate, KeyRecord, Mailbox

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.config import Settings
    from certmgr.store.session import Store

__all__ = ["ENV_EXPORT_PASSWORD", "FORMATS", "ExportResult", "current_certificate",
           "export_mailbox", "held_key", "hook_environment", "issuer_chain", "load_held_key"]

FORMATS = ("p12", "pem")
ENV_EXPORT_PASSWORD = "CERTMGR_EXPORT_PASSWORD"  # noqa: S105 - a variable name
_P12_KDF_ROUNDS = 100_000
_HOOK_TIMEOUT = 300
_HOOK_FILES = ("cert", "key", "p12", "chain")
# The secrets certmgr (or libpq under it) reads from its environment; the name patterns
# catch the ones added later. CERTMGR_EXPORT_KEY is a path, hence no "KEY" pattern.
_SECRET_ENV = frozenset({ENV_PASSPHRASE, ENV_EXPORT_PASSWORD, ENV_SMTP_PASSWORD,
                         "CERTMGR_P12_PASSWORD", "PGPASSWORD"})
_SECRET_WORDS = ("PASSWORD", "PASSPHRASE", "SECRET", "TOKEN")


@dataclass(frozen=True, slots=True)
class ExportResult:
    """The files written (`path`: the .p12, or the PEM directory) and the hook's outcome."""

    address: str
    format: str
    path: Path
    files: dict[str, Path] = field(default_factory=dict)
    fingerprint: str = ""
    legacy: bool = False
    hook_exit_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"mailbox": self.address, "format": self.format, "legacy": self.legacy,
                "path": str(self.path), "files": {k: str(v) for k, v in self.files.items()},
                "fingerprint": self.fingerprint, "deploy_hook_exit_code": self.hook_exit_code}


def held_key(session: Session, cert: Certificate) -> KeyRecord | None:
    """Our key record for `cert` (by SPKI hash), or None."""
    return session.scalars(select(KeyRecord).where(
        col(KeyRecord.spki_sha256) == cert.spki_sha256)).first()


def load_held_key(settings: Settings, key: KeyRecord, *, passphrase: bytes | None) -> PrivateKey:
    """Read and decrypt a key file (permissions checked); PassphraseError when wrong."""
    path = Path(key.path)
    if not path.is_absolute():
        path = settings.home / path
    return load_key(read_private_file(path), passphrase=passphrase if key.encrypted else None,
                    source=str(path))


def current_certificate(session: Session, address: str) -> tuple[Mailbox, Certificate]:
    """The mailbox `address` (normalised) and its current certificate; NotFoundError for an
    unknown mailbox or one without a current certificate."""
    wanted = normalize_address(address)
    mailbox = session.scalars(select(Mailbox).where(col(Mailbox.address) == wanted)).first()
    if mailbox is None:
        raise NotFoundError(f"no mailbox {wanted}")
    cert = session.scalars(select(Certificate).join(
        Binding, col(Binding.certificate_id) == col(Certificate.id)).where(
        col(Binding.mailbox_id) == mailbox.id,
        col(Binding.role) == str(BindingRole.CURRENT))).first()
    if cert is None:
        raise NotFoundError(f"mailbox {wanted} has no current certificate")
    return mailbox, cert


def issuer_chain(session: Session, cert: Certificate, *, include_root: bool = True,
                 ) -> list[x509.Certificate]:
    """The issuers of `cert` from the CA store, its issuer first, up to a self-issued root
    (kept with `include_root`; a TLS client sends its chain without it)."""
    out: list[x509.Certificate] = []
    issuer, aki = cert.issuer, cert.aki
    for _ in range(8):  # IGC Santé paths are 2 CAs deep; stop on loops
        query = select(CACertificate).where(col(CACertificate.subject) == issuer)
        if aki:
            query = query.where(col(CACertificate.ski) == aki)
        ca = session.scalars(query).first()
        if ca is None:
            break
        root = ca.subject == ca.issuer
        if include_root or not root:
            out.append(x509.load_der_x509_certificate(ca.der))
        if root:
            break
        issuer, aki = ca.issuer, ca.aki
    return out


def _file_stem(address: str) -> str:
    """`address` as one harmless file name: no `/`, no leading dot (so never `.` or `..`).

    An e-mail local part may hold `/` (RFC 5322 atext), so a stored address is data,
    not a safe path component."""
    stem = "".join(c if c.isalnum() or c in "-_.@+" else "_" for c in address)
    if not stem or stem.startswith("."):
        stem = "_" + stem
    return stem


def _derived(root: Path, name: str) -> Path:
    """`root / name`, refused (InputError) unless it resolves to a direct child of `root`."""
    path = root / name
    if path.parent.resolve() != root.resolve() or path.name != name:
        raise InputError(f"output name {name!r} derived from data leaves {root}", source=root)
    return path


def _output(out: Path | None, default: Path, *, directory: bool) -> Path:
    """The resolved output path (module docstring); InputError on a surprising one."""
    if out is None:
        default = _derived(default.parent, default.name)
        default.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if directory:
            default.mkdir(exist_ok=True, mode=0o700)
        return default
    # Resolve symlinks and `..` in the directory part, so the files land where the
    # operator can see they land; the last component itself is never followed.
    parent = out.expanduser().parent.resolve()
    if not parent.is_dir():
        raise InputError(f"the directory {parent} does not exist", source=out)
    path = parent / out.name
    if directory:
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise InputError("not a directory (PEM export writes a directory)", source=out)
        path.mkdir(exist_ok=True, mode=0o700)
    elif path.is_dir():
        raise InputError("is a directory (PKCS#12 export writes one file)", source=out)
    return path


def _refuse_existing(paths: list[Path], *, force: bool) -> None:
    """InputError before anything is written when one of `paths` exists (unless `force`)."""
    if force:
        return
    for path in paths:
        if os.path.lexists(path):
            raise InputError("already exists (use --force to overwrite)", source=path)


def _p12(address: str, key: PrivateKey, cert: x509.Certificate, cas: list[x509.Certificate],
         *, password: bytes, legacy: bool) -> bytes:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        builder = builder.key_cert_algorithm(
            pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())  # noqa: S303 - the legacy profile asked for
    else:
        builder = builder.kdf_rounds(_P12_KDF_ROUNDS).key_cert_algorithm(
            pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    return pkcs12.serialize_key_and_certificates(
        address.encode(), key, cert, cas or None, builder.build(password))


def _is_secret(name: str, value: str) -> bool:
    if name in _SECRET_ENV:
        return True
    if not name.startswith("CERTMGR_"):
        return False
    if any(word in name for word in _SECRET_WORDS):
        return True
    try:  # a database URL with its password, e.g. CERTMGR_DB
        return urlsplit(value).password is not None
    except ValueError:  # not a URL (or a malformed one: better dropped)
        return "://" in value


def hook_environment(environ: Mapping[str, str], files: Mapping[str, Path],
                     address: str) -> dict[str, str]:
    """The deploy hook's environment: `environ` without certmgr's secrets (module
    docstring), with CERTMGR_MAILBOX and a CERTMGR_EXPORT_<KIND> per file written (an
    inherited CERTMGR_EXPORT_<KIND> for a kind not written is removed)."""
    env = {name: value for name, value in environ.items() if not _is_secret(name, value)}
    env["CERTMGR_MAILBOX"] = address
    for kind in _HOOK_FILES:
        name = f"CERTMGR_EXPORT_{kind.upper()}"
        env.pop(name, None)
        if kind in files:
            env[name] = str(files[kind])
    return env


def _run_hook(command: str, files: dict[str, Path], address: str) -> int:
    argv = shlex.split(command)
    if not argv:
        raise InputError("the deploy hook is empty")
    env = hook_environment(os.environ, files, address)
    try:
        done = subprocess.run(argv, env=env, check=False, timeout=_HOOK_TIMEOUT)
    except FileNotFoundError:
        return 127
    except subprocess.TimeoutExpired:
        return 124
    return done.returncode


def export_mailbox(*, store: Store, settings: Settings, address: str, passphrase: bytes | None,
                   at: dt.datetime, actor: str, fmt: str = "p12",
                   export_password: bytes | None = None, legacy: bool = False,
                   chain: bool = True, out: Path | None = None, force: bool = False,
                   deploy_hook: str | None = None) -> ExportResult:
    """Export the current certificate (+ chain) and key of `address` (module docstring).

    `passphrase` decrypts the stored key; `export_password` protects the export (the
    key passphrase when None). Raises NotFoundError (no mailbox, no current certificate,
    no key of ours for it), PassphraseError, InputError (file exists, bad format).
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r} (choose one of: {', '.join(FORMATS)})")
    wanted = normalize_address(address)
    password = export_password or passphrase
    if not password:
        raise PassphraseError("an export password is needed")
    with store.sessions() as session:
        _, row = current_certificate(session, wanted)
        record = held_key(session, row)
        if record is None:
            raise NotFoundError(f"no private key here for the current certificate of {wanted} "
                                f"({row.fingerprint_sha256[:16]}...)")
        cas = issuer_chain(session, row) if chain else []
    key = load_held_key(settings, record, passphrase=passphrase)
    cert = x509.load_der_x509_certificate(row.der)
    files: dict[str, Path] = {}
    if fmt == "p12":
        path = _output(out, settings.home / "export" / f"{_file_stem(wanted)}.p12", directory=False)
        _refuse_existing([path], force=force)
        write_owner_only_file(path, _p12(wanted, key, cert, cas, password=password,
                                         legacy=legacy), overwrite=force)
        files["p12"] = path
    else:
        path = _output(out, settings.home / "export" / _file_stem(wanted), directory=True)
        pem = serialization.Encoding.PEM
        planned = {"cert": (path / "cert.pem", cert.public_bytes(pem)),
                   "key": (path / "key.pem", encrypt_key(key, passphrase=password))}
        if cas:
            planned["chain"] = (path / "chain.pem", b"".join(c.public_bytes(pem) for c in cas))
        _refuse_existing([target for target, _ in planned.values()], force=force)
        for kind, (target, data) in planned.items():
            write_owner_only_file(target, data, overwrite=force)
            files[kind] = target
    code = _run_hook(deploy_hook, files, wanted) if deploy_hook else None
    with store.transaction() as session:
        append_event(session, actor=actor, action="exported", at=at, object_type="mailbox",
                     object_id=wanted, details={
                         "format": fmt, "legacy": legacy, "chain": len(cas),
                         "fingerprint": row.fingerprint_sha256,
                         "files": {k: str(v) for k, v in files.items()},
                         # the program only: arguments may carry credentials
                         "deploy_hook": shlex.split(deploy_hook)[0] if deploy_hook else None,
                         "deploy_hook_exit_code": code})
    return ExportResult(wanted, fmt, path, files, row.fingerprint_sha256, legacy, code)
