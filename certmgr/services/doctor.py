"""`run_doctor`: the health checks of a certmgr home, each one OK, WARN or FAIL.

Checks, in order: `permissions` (home and keys directory 0700, key files 0600 via
`keyfiles.check_permissions`, SQLite files 0600), `database`
(schema at this certmgr's revision), `trust-pins` (every stored CA whose DN claims
an ANS CA is pinned), `crl-freshness` (no current CRL past its nextUpdate),
`clock` (now is after the release date and after the newest stored certificate's
notBefore minus a day), `audit-chain` (the hash chain verifies), `key-files` (every key
row's file is there and complete: FAIL otherwise; WARN for key files no row refers to,
which an interrupted `csr new` or import leaves behind, never deleted). When the database
cannot be used, the checks that need it are reported as FAIL "skipped", and `clock`
checks the release date only: WARN when that passes (the rest could not be checked).
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from sqlalchemy import func, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import col, select

from certmgr.errors import CertmgrError
from certmgr.pki.anchors import is_impostor
from certmgr.store.audit import verify_chain
from certmgr.store.engine import make_engine, session_factory
from certmgr.store.keyfiles import TEMP_MARKER, check_permissions
from certmgr.store.migrate import ensure_current
from certmgr.store.models import CACertificate, Certificate, Crl, KeyRecord

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.config import Settings

__all__ = ["RELEASE_DATE", "Check", "CheckStatus", "DoctorReport", "permission_problems",
           "run_doctor"]

RELEASE_DATE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
"""A clock before this instant is certainly wrong (this certmgr did not exist yet)."""
_CLOCK_SLACK = dt.timedelta(days=1)
_MAX_NAMED = 5  # details stay one readable line
_MAX_KEY_BYTES = 1024 * 1024  # as certmgr.store.keyfiles reads them


class CheckStatus(enum.StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: CheckStatus
    detail: str

    def line(self) -> str:
        return f"{self.status} {self.name}: {self.detail}"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class DoctorReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """No FAIL (WARNs do not make the doctor fail)."""
        return all(c.status is not CheckStatus.FAIL for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_json() for c in self.checks]}


def run_doctor(*, settings: Settings, now: dt.datetime) -> DoctorReport:
    """Run every check against `settings` at `now`; never raises for a problem found."""
    checks = [_permissions(settings)]
    missing = _missing_sqlite_file(settings.db_url)
    if missing is not None:  # connecting would create an empty file: a check must not write
        checks.append(Check("database", CheckStatus.FAIL, f"no database at {missing}: run "
                            "`certmgr db upgrade` (or restore a backup)"))
        return DoctorReport((*checks, *_skipped("there is no database", now=now)))
    try:
        engine = make_engine(settings.db_url)
    except CertmgrError as exc:
        checks.append(Check("database", CheckStatus.FAIL, str(exc)))
        return DoctorReport((*checks, *_skipped("the database cannot be opened", now=now)))
    try:
        try:
            ensure_current(engine)
        except CertmgrError as exc:
            checks.append(Check("database", CheckStatus.FAIL, str(exc)))
            return DoctorReport((*checks, *_skipped("the database is not usable", now=now)))
        checks.append(Check("database", CheckStatus.OK, "schema at this certmgr's revision"))
        with session_factory(engine)() as session:
            checks += [_pins(session), _crls(session, now=now), _clock(session, now=now),
                       _audit(session), _key_files(session, settings)]
    finally:
        engine.dispose()
    return DoctorReport(tuple(checks))


def _skipped(why: str, *, now: dt.datetime) -> tuple[Check, ...]:
    def skip(name: str) -> Check:
        return Check(name, CheckStatus.FAIL, f"skipped: {why}")

    return (skip("trust-pins"), skip("crl-freshness"), _clock(None, now=now),
            skip("audit-chain"), skip("key-files"))


def _summary(items: list[str]) -> str:
    shown = "; ".join(items[:_MAX_NAMED])
    return shown + (f"; and {len(items) - _MAX_NAMED} more" if len(items) > _MAX_NAMED else "")


# ------------------------------------------------------------------------- permissions
def _permissions(settings: Settings) -> Check:
    problems = permission_problems(settings)
    if problems:
        return Check("permissions", CheckStatus.FAIL, _summary(problems))
    return Check("permissions", CheckStatus.OK, "home and keys 0700, key files and "
                                                "database 0600")


def permission_problems(settings: Settings) -> list[str]:
    """What `doctor`'s `permissions` check finds wrong, one sentence per path (empty: all
    right); cheap enough for an entry point to call at start-up."""
    problems: list[str] = []
    for directory in (settings.home, settings.keys_dir):
        problems += _private_dir(directory)
    if settings.keys_dir.is_dir():
        for root, _dirs, names in os.walk(settings.keys_dir):
            for name in sorted(names):
                if TEMP_MARKER not in name:
                    problems += [p for p in check_permissions(Path(root) / name)
                                 if "directory" not in p]  # the directories are checked above
    problems += _database_files(settings.db_url)
    return problems


def _private_dir(directory: Path) -> list[str]:
    try:
        info = directory.stat()
    except FileNotFoundError:
        return []  # nothing stored there yet
    except OSError as exc:
        return [f"{directory}: {exc.strerror}"]
    mode = stat.S_IMODE(info.st_mode)
    problems = []
    if mode & 0o077:
        problems.append(f"{directory}: mode {mode:04o}, expected 0700 (chmod 700 {directory})")
    if info.st_uid != os.geteuid():
        problems.append(f"{directory}: owned by uid {info.st_uid}, not by us")
    return problems


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in {None, "", ":memory:"}:
        return None
    if parsed.query.get("mode") == "memory":
        return None
    return Path(str(parsed.database)).expanduser()


def _missing_sqlite_file(url: str) -> Path | None:
    try:
        path = _sqlite_file(url)
    except ArgumentError:
        return None  # make_engine reports the bad URL
    return path if path is not None and not path.exists() else None


def _database_files(url: str) -> list[str]:
    try:
        base = _sqlite_file(url)
    except ArgumentError:
        return []
    if base is None:
        return []
    problems = []
    for path in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            problems.append(f"{path}: mode {mode:04o}, expected 0600 (chmod 600 {path})")
    return problems


# --------------------------------------------------------------------------- database
def _pins(session: Session) -> Check:
    impostors = []
    count = 0
    for row in session.scalars(select(CACertificate).order_by(col(CACertificate.id))):
        count += 1
        try:
            cert = x509.load_der_x509_certificate(row.der)
        except ValueError:
            impostors.append(f"CA #{row.id} ({row.subject}): unreadable DER")
            continue
        if is_impostor(cert, der=row.der):
            impostors.append(f"CA #{row.id} {row.subject} claims an ANS CA but "
                             f"{row.fingerprint_sha256[:16]}... is not pinned")
    if impostors:
        return Check("trust-pins", CheckStatus.FAIL, _summary(impostors))
    return Check("trust-pins", CheckStatus.OK, f"{count} CA certificate(s), every ANS CA pinned")


def _crls(session: Session, *, now: dt.datetime) -> Check:
    rows = list(session.scalars(select(Crl).where(col(Crl.is_current))))
    stale = [f"{r.issuer} (nextUpdate {_utc(r.next_update):%Y-%m-%d %H:%M}Z)" for r in rows
             if r.next_update is not None and _utc(r.next_update) < now]
    if stale:
        return Check("crl-freshness", CheckStatus.FAIL,
                     f"{len(stale)} current CRL(s) past nextUpdate: {_summary(stale)}")
    if not rows:
        return Check("crl-freshness", CheckStatus.WARN, "no current CRL stored")
    return Check("crl-freshness", CheckStatus.OK, f"{len(rows)} current CRL(s), all fresh")


def _clock(session: Session | None, *, now: dt.datetime) -> Check:
    if now < RELEASE_DATE:
        return Check("clock", CheckStatus.FAIL, f"now ({now:%Y-%m-%d}) is before this "
                                                f"certmgr's release ({RELEASE_DATE:%Y-%m-%d})")
    if session is None:
        return Check("clock", CheckStatus.WARN, f"now is {now:%Y-%m-%d %H:%M}Z, after the "
                     "release date; not compared with stored certificates (no database)")
    newest = session.scalar(select(func.max(Certificate.not_before)))
    if newest is not None and now < _utc(newest) - _CLOCK_SLACK:
        return Check("clock", CheckStatus.FAIL, f"now ({now:%Y-%m-%d %H:%M}Z) is more than a "
                     f"day before a stored certificate's notBefore ({_utc(newest):%Y-%m-%d})")
    return Check("clock", CheckStatus.OK, f"now is {now:%Y-%m-%d %H:%M}Z")


def _audit(session: Session) -> Check:
    report = verify_chain(session)
    if report.ok:
        return Check("audit-chain", CheckStatus.OK, f"{report.count} event(s) chained")
    return Check("audit-chain", CheckStatus.FAIL,
                 f"broken at event {report.first_broken_id}: {report.reason}")


_KEY_END = re.compile(rb"-----END [A-Z ]*PRIVATE KEY-----\s*\Z")


def _key_files(session: Session, settings: Settings) -> Check:
    missing: list[str] = []
    referenced: set[Path] = set()
    rows = list(session.scalars(select(KeyRecord).order_by(col(KeyRecord.id))))
    for row in rows:
        path = settings.home / row.path  # relative to the home (an absolute path stays one)
        referenced.add(path.resolve())
        try:
            with path.open("rb") as handle:
                complete = _KEY_END.search(handle.read(_MAX_KEY_BYTES)) is not None
        except OSError as exc:
            missing.append(f"key {row.spki_sha256[:16]}...: {path}: {exc.strerror}")
            continue
        if not complete:
            missing.append(f"key {row.spki_sha256[:16]}...: {path}: not a complete PEM key")
    if missing:
        return Check("key-files", CheckStatus.FAIL, _summary(missing))
    orphans = sorted(str(p) for p in settings.keys_dir.rglob("*")
                     if p.is_file() and TEMP_MARKER not in p.name
                     and p.resolve() not in referenced)
    if orphans:
        return Check("key-files", CheckStatus.WARN,
                     f"{len(orphans)} key file(s) no key row refers to (left by an interrupted "
                     f"`csr new` or import; never deleted by certmgr): {_summary(orphans)}")
    return Check("key-files", CheckStatus.OK, f"{len(rows)} key row(s), each with its file")


def _utc(value: dt.datetime | None) -> dt.datetime:
    assert value is not None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
