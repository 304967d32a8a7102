"""Encrypted backups of a SQLite home: `create_backup` and `restore_backup`.

Archive format (version 1), all in one file written 0600 and atomically:

    header  = b"CERTMGRB" | version (1 byte) | log2(N) | r | p (scrypt, 1 byte each)
              | salt (16 bytes) | nonce (12 bytes)
    body    = AES-256-GCM(key = scrypt(passphrase, salt, N, r, p), nonce,
                          plaintext = tar, associated data = header)

The tar holds `manifest.json` (format version, created_at, alembic revision, every
other member with its size and SHA-256), `db.sqlite3` (a consistent snapshot taken
with SQLite's online backup API, so `serve` may keep writing meanwhile),
`config.toml` when present, and `keys/...` (the key files, already encrypted one by
one). The header is authenticated as associated data: changing the KDF parameters,
the salt or a single byte anywhere makes decryption fail. A wrong passphrase and an
altered archive are indistinguishable by design (one PassphraseError).

PostgreSQL stores are refused: their data belongs to the DBA's `pg_dump`.
Restoring writes everything into a fresh directory beside the target home and
renames it into place: a failure leaves the target as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import struct
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import make_url

from certmgr.errors import InputError, ParseError, PassphraseError, StoreError
from certmgr.store.keyfiles import TEMP_MARKER, make_private_dirs, write_owner_only_file

if TYPE_CHECKING:
    from certmgr.config import Settings

__all__ = ["FORMAT_VERSION", "MAGIC", "BackupReport", "create_backup", "restore_backup"]

MAGIC = b"CERTMGRB"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">8sBBBB16s12s")
_DEFAULT_LOG2_N, _R, _P = 17, 8, 1  # scrypt: 128 MiB, ~0.4 s; OWASP's minimum is 2**17
_MAX_LOG2_N, _MAX_R, _MAX_P = 20, 16, 4  # a hostile header must not make us allocate GiBs
_MIN_LOG2_N = 14  # tests use the minimum; below it the passphrase is too cheap to guess
_MAX_ARCHIVE = 2 * 1024**3 - 1  # AES-GCM in one call; far above any certmgr home
_DB_MEMBER, _MANIFEST, _CONFIG, _KEYS = "db.sqlite3", "manifest.json", "config.toml", "keys"


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What a backup holds (from `create_backup`, or the manifest read by `restore_backup`)."""

    path: Path
    created_at: dt.datetime
    revision: str | None
    files: tuple[str, ...]
    total_bytes: int
    warnings: tuple[str, ...] = ()
    """What the operator should know about a backup that was written nonetheless."""

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "created_at": self.created_at.isoformat(),
                "revision": self.revision, "files": list(self.files),
                "total_bytes": self.total_bytes, "warnings": list(self.warnings)}


# ------------------------------------------------------------------------------ backup
def create_backup(*, settings: Settings, out: Path, passphrase: bytes, at: dt.datetime,
                  kdf_log2_n: int = _DEFAULT_LOG2_N) -> BackupReport:
    """Write an encrypted archive of the home's database and keys to `out` (0600, atomic).

    Raises InputError for a PostgreSQL store or a missing database, PassphraseError for
    an empty passphrase, StoreError when the snapshot or the write fails.
    """
    if not passphrase:
        raise PassphraseError("an empty passphrase cannot protect a backup")
    if not _MIN_LOG2_N <= kdf_log2_n <= _MAX_LOG2_N:
        raise InputError(f"kdf_log2_n must be within {_MIN_LOG2_N}..{_MAX_LOG2_N}")
    db_path = _sqlite_path(settings.db_url)
    if not db_path.is_file():
        raise InputError("no database to back up", source=db_path)
    members: dict[str, bytes] = {_DB_MEMBER: _snapshot(db_path)}
    if settings.config_file.is_file():
        members[_CONFIG] = settings.config_file.read_bytes()
    members.update(_key_files(settings.keys_dir))
    revision = _revision(members[_DB_MEMBER])
    created = at.astimezone(dt.UTC)
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": created.isoformat(),
        "alembic_revision": revision,
        "files": [{"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                  for name, data in sorted(members.items())],
    }
    plain = _tar({_MANIFEST: json.dumps(manifest, indent=2).encode(), **members}, at=created)
    # 0600 but not in a 0700 directory: an encrypted backup usually goes to a shared one
    write_owner_only_file(out, _encrypt(plain, passphrase=passphrase, log2_n=kdf_log2_n))
    return BackupReport(path=out, created_at=created, revision=revision,
                        files=tuple(sorted(members)),
                        total_bytes=sum(len(d) for d in members.values()),
                        warnings=_passphrase_warning(settings.keys_dir, passphrase))


def _passphrase_warning(keys_dir: Path, passphrase: bytes) -> tuple[str, ...]:
    """A warning when `passphrase` does not open the newest encrypted key file: the
    backup is written (it opens with the passphrase given), but restoring it brings back
    keys that open only with the other one. One key decryption."""
    from certmgr.pki.keys import load_key  # noqa: PLC0415

    encrypted = [p for p in keys_dir.rglob("*") if TEMP_MARKER not in p.name
                 and not p.is_symlink() and p.is_file()
                 and p.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY")] \
        if keys_dir.is_dir() else []
    if not encrypted:
        return ()
    newest = max(encrypted, key=lambda p: p.stat().st_mtime)
    try:
        load_key(newest.read_bytes(), passphrase=passphrase, source=str(newest))
    except PassphraseError:
        warning = (f"the backup passphrase does not open the key {newest.name}: the "
                   "archive opens with the passphrase just given, its keys only with theirs")
        return (warning,)
    except InputError:
        return ()  # an unreadable key file: `certmgr doctor` reports it
    return ()


def _sqlite_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise InputError("certmgr backup/restore handle the SQLite store only: back up a "
                         "PostgreSQL database with pg_dump (see docs/security.md)")
    if not parsed.database or parsed.database == ":memory:":
        raise InputError("an in-memory database cannot be backed up or restored")
    return Path(parsed.database).expanduser()


def _snapshot(db_path: Path) -> bytes:
    """A consistent copy through SQLite's backup API (readers never block WAL writers)."""
    with tempfile.TemporaryDirectory(prefix="certmgr-backup-") as tmp:  # created 0700
        copy = Path(tmp) / _DB_MEMBER
        try:
            source = sqlite3.connect(db_path, timeout=30)  # only read: backup() never writes it
            try:
                target = sqlite3.connect(copy)
                try:
                    source.backup(target)
                    # One self-contained file: no -wal/-shm companions in the archive.
                    target.execute("PRAGMA journal_mode=DELETE")
                finally:
                    target.close()
            finally:
                source.close()
        except sqlite3.Error as exc:
            raise StoreError(f"{db_path}: cannot take a snapshot: {exc}") from None
        return copy.read_bytes()


def _revision(db: bytes) -> str | None:
    with tempfile.TemporaryDirectory(prefix="certmgr-backup-") as tmp:
        path = Path(tmp) / _DB_MEMBER
        path.write_bytes(db)
        conn = sqlite3.connect(path)
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None
        finally:
            conn.close()
    return None if row is None else str(row[0])


def _key_files(keys_dir: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    if not keys_dir.is_dir():
        return found
    for root, _dirs, names in os.walk(keys_dir, followlinks=False):
        for name in names:
            path = Path(root) / name
            if TEMP_MARKER in name or path.is_symlink() or not path.is_file():
                continue  # a crashed writer's leftover, or a link we will not follow
            relative = path.relative_to(keys_dir).as_posix()
            found[f"{_KEYS}/{relative}"] = path.read_bytes()
    return found


def _tar(members: dict[str, bytes], *, at: dt.datetime) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, int(at.timestamp())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _derive(passphrase: bytes, *, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p).derive(passphrase)


def _encrypt(plain: bytes, *, passphrase: bytes, log2_n: int) -> bytes:
    if len(plain) > _MAX_ARCHIVE:
        raise InputError("the home is too large for one backup archive (2 GiB)")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, log2_n, _R, _P, salt, nonce)
    key = _derive(passphrase, salt=salt, log2_n=log2_n, r=_R, p=_P)
    return header + AESGCM(key).encrypt(nonce, plain, header)


# ----------------------------------------------------------------------------- restore
def restore_backup(*, settings: Settings, archive: Path, passphrase: bytes) -> BackupReport:
    """Restore `archive` into `settings.home`, which must be empty or absent.

    Raises InputError when the home is not empty or the database is not the home's
    SQLite file, PassphraseError for a wrong passphrase or an altered archive,
    ParseError for a file that is not a certmgr backup or whose manifest does not match.
    Nothing is written before the archive has been fully decrypted and checked.
    """
    home = settings.home.expanduser().absolute()
    db_path = _sqlite_path(settings.db_url).absolute()
    if not db_path.is_relative_to(home):
        raise InputError("restore writes the database inside the home: drop --db, or point "
                         "it inside --home", source=db_path)
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise InputError("restore needs an empty or absent home directory (refusing to "
                         "overwrite)", source=home)
    members, manifest = _open_archive(archive, passphrase=passphrase)
    _install(home, db_relative=db_path.relative_to(home), members=members)
    return BackupReport(path=archive, created_at=_created(manifest, archive),
                        revision=manifest.get("alembic_revision"),
                        files=tuple(sorted(members)),
                        total_bytes=sum(len(d) for d in members.values()))


def _open_archive(archive: Path, *, passphrase: bytes) -> tuple[dict[str, bytes], dict[str, Any]]:
    try:
        blob = archive.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the backup: {exc.strerror}", source=archive) from None
    if len(blob) < _HEADER.size + 16 or not blob.startswith(MAGIC):
        raise ParseError("not a certmgr backup (bad magic)", source=archive)
    header = blob[:_HEADER.size]
    _magic, version, log2_n, r, p, salt, nonce = _HEADER.unpack(header)
    if version != FORMAT_VERSION:
        raise ParseError(f"backup format {version} is not supported (expected "
                         f"{FORMAT_VERSION})", source=archive)
    if not (_MIN_LOG2_N <= log2_n <= _MAX_LOG2_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        raise ParseError("backup header holds out-of-range KDF parameters", source=archive)
    key = _derive(passphrase, salt=salt, log2_n=log2_n, r=r, p=p)
    try:
        plain = AESGCM(key).decrypt(nonce, blob[_HEADER.size:], header)
    except InvalidTag:
        raise PassphraseError("cannot decrypt the backup: wrong passphrase, or the archive "
                              "was altered or damaged", source=archive) from None
    members = _untar(plain, source=archive)
    manifest = _check_manifest(members, source=archive)
    return members, manifest


def _untar(plain: bytes, *, source: Path) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as archive:
            for info in archive:
                _check_name(info.name, source=source)
                if not info.isreg() or info.name in members:
                    raise ParseError(f"unexpected archive member {info.name!r}", source=source)
                handle = archive.extractfile(info)
                assert handle is not None  # a regular member always has data
                members[info.name] = handle.read()
    except tarfile.TarError as exc:
        raise ParseError(f"the decrypted archive is not a valid tar: {exc}",
                         source=source) from None
    return members


def _check_name(name: str, *, source: Path) -> None:
    # Authenticated, so written by certmgr; still refuse anything that could escape.
    pure = PurePosixPath(name)
    allowed = name in {_MANIFEST, _DB_MEMBER, _CONFIG} or (
        len(pure.parts) > 1 and pure.parts[0] == _KEYS)
    if (pure.is_absolute() or ".." in pure.parts or "\\" in name or "\x00" in name
            or not allowed):
        raise ParseError(f"unsafe or unexpected archive member {name!r}", source=source)


def _check_manifest(members: dict[str, bytes], *, source: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(members.pop(_MANIFEST))
        listed = {f["name"]: f["sha256"] for f in manifest["files"]}
    except (KeyError, TypeError, ValueError):
        raise ParseError("the archive has no readable manifest.json", source=source) from None
    if manifest.get("format") != FORMAT_VERSION:
        raise ParseError("the manifest's format version is not supported", source=source)
    if set(listed) != set(members) or _DB_MEMBER not in members:
        raise ParseError("the archive's files do not match its manifest", source=source)
    for name, data in members.items():
        if hashlib.sha256(data).hexdigest() != listed[name]:
            raise ParseError(f"{name}: SHA-256 does not match the manifest", source=source)
    return dict(manifest)


def _created(manifest: dict[str, Any], source: Path) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(manifest["created_at"]))
    except (KeyError, ValueError):
        raise ParseError("the manifest has no valid created_at", source=source) from None


def _install(home: Path, *, db_relative: Path, members: dict[str, bytes]) -> None:
    make_private_dirs(home.parent)  # missing parents 0700, like a fresh home's
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.restore-", dir=home.parent))  # 0700
    try:
        for name, data in members.items():
            target = staging / db_relative if name == _DB_MEMBER else staging / name
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for directory in (staging / _KEYS, *(p for p in (staging / _KEYS).rglob("*")
                                             if p.is_dir())):
            if directory.is_dir():
                directory.chmod(0o700)
        if home.exists():
            home.rmdir()  # empty (checked); a file that appeared since makes this fail
        staging.rename(home)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StoreError(f"{home}: cannot restore: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
