"""Test helpers: throw-away databases on SQLite and PostgreSQL, and a concurrent writer.

For certmgr's own tests (any folder) and for downstream test suites; nothing here
runs at import time. PostgreSQL tests use the server named by the environment
variable `CERTMGR_TEST_PG_URL` (e.g. postgresql+psycopg://certmgr:certmgr@127.0.0.1:5432/certmgr_test,
the role needs CREATEDB): each test gets a fresh database `certmgr_t_<random>`,
dropped afterwards.

    from certmgr.store.testing import BACKENDS, temporary_database_url

    @pytest.fixture(params=BACKENDS)
    def db_url(request, tmp_path):
        with temporary_database_url(request.param, directory=tmp_path) as url:
            yield url          # pytest.skip()s PostgreSQL when the variable is unset
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import create_engine, make_url, text

from certmgr.store.audit import append_event
from certmgr.store.engine import make_engine, run_in_transaction, session_factory
from certmgr.store.enums import MailboxEnvironment
from certmgr.store.models import Certificate, Mailbox, Structure

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "BACKENDS",
    "PG_URL_ENV",
    "T0",
    "WriterReport",
    "concurrent_writer",
    "postgres_url",
    "sample_certificate",
    "sample_mailbox",
    "sample_structure",
    "temporary_database_url",
    "temporary_postgres_url",
]

PG_URL_ENV = "CERTMGR_TEST_PG_URL"
Backend = Literal["sqlite", "postgresql"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgresql")


def postgres_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The PostgreSQL URL for tests, or None when none is configured."""
    return (os.environ if environ is None else environ).get(PG_URL_ENV) or None


@contextmanager
def temporary_postgres_url(base_url: str) -> Iterator[str]:
    """Create an empty database next to `base_url`'s, yield its URL, drop it afterwards."""
    base = make_url(base_url).set(drivername="postgresql+psycopg")
    name = f"certmgr_t_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def temporary_database_url(backend: Backend, *, directory: Path,
                           pg_url: str | None = None) -> Iterator[str]:
    """An empty database for one test: a SQLite file in `directory`, or a new PG database.

    For PostgreSQL without `pg_url` nor `CERTMGR_TEST_PG_URL`, calls `pytest.skip`.
    """
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'certmgr-test.sqlite3'}"
        return
    url = pg_url or postgres_url()
    if url is None:
        import pytest  # noqa: PLC0415 - only test code reaches this line

        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV}")
    with temporary_postgres_url(url) as temporary:
        yield temporary


@dataclass(frozen=True, slots=True)
class WriterReport:
    """What one `concurrent_writer` process did."""

    worker: int
    written: int
    errors: tuple[str, ...]


def concurrent_writer(url: str, worker: int, seconds: float, start: str) -> WriterReport:
    """Write for `seconds`: each write, in its own transaction, appends an audit event and
    inserts a `Structure` whose idnat names the worker and a counter. Errors are
    collected, not raised, so the parent test sees them all. Top-level, hence
    picklable for `multiprocessing` with the spawn method; `start` is ISO 8601.
    """
    engine = make_engine(url)
    sessions = session_factory(engine)
    at = dt.datetime.fromisoformat(start)
    written = 0
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            n = written
            when = at + dt.timedelta(microseconds=worker * 1_000_000 + n)

            def work(session: Session, n: int = n, when: dt.datetime = when) -> None:
                idnat = f"3{worker}{n:08d}"
                session.add(Structure(name=f"worker {worker} #{n}", idnat_kind=3,
                                      idnat_value=idnat, idnat=idnat, created_at=when))
                append_event(session, actor=f"worker-{worker}", action="structure.add",
                             at=when, object_type="structure", object_id=idnat,
                             details={"n": n})

            try:
                run_in_transaction(sessions, work, attempts=10)
                written += 1
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                if len(errors) > 20:
                    break
    finally:
        engine.dispose()
    return WriterReport(worker=worker, written=written, errors=tuple(errors))


# ---------------------------------------------------------------- sample rows

T0 = dt.datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
"""The instant sample rows are created at."""


def sample_structure(n: int = 1) -> Structure:
    """A structure with a SIRET-shaped idnat derived from `n`."""
    value = f"{n:014d}"
    return Structure(name=f"Clinique {n}", idnat_kind=3, idnat_value=value, idnat=f"3{value}",
                     department="Paris (75)", created_at=T0)


def sample_mailbox(structure_id: int, address: str = "app@clinique.mssante.fr") -> Mailbox:
    """A test-environment mailbox of `structure_id`."""
    return Mailbox(address=address, structure_id=structure_id, application="DPI",
                   contacts=["admin@clinique.fr"], environment=MailboxEnvironment.TEST,
                   created_at=T0, updated_at=T0)


def sample_certificate(n: int = 1, *, not_after: dt.datetime | None = None) -> Certificate:
    """A certificate row with plausible facts (its `der` is not a real certificate)."""
    der = f"not a real DER {n}".encode()
    return Certificate(
        der=der, fingerprint_sha256=hashlib.sha256(der).hexdigest(),
        spki_sha256=hashlib.sha256(b"spki%d" % n).hexdigest(), serial_hex=f"{n:04X}",
        subject=f"CN=app{n}.clinique.fr,O=Clinique", issuer="CN=TEST AC IGC-SANTE",
        cn=f"app{n}.clinique.fr", o="Clinique", not_before=T0,
        not_after=not_after or T0 + dt.timedelta(days=1095), key_type="RSA", key_size=2048,
        signature_algorithm="sha256WithRSAEncryption", signature_hash="sha256",
        key_usage=["digitalSignature", "keyEncipherment"], eku=["clientAuth"],
        environment="TEST", gamme="STANDARD", domain="ORGANISATIONS", product="ORG_AUTH_CLI",
        imported_at=T0, source="test",
    )
