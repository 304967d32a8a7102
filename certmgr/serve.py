"""`certmgr serve`: leadership, signals, structured logs and the metrics endpoint around
the scheduler (`certmgr.scheduler`).

Leadership:
- PostgreSQL: one leader per database through `pg_try_advisory_lock` on a dedicated
  connection held for the process's life. A follower tries again every 5 s, so it takes
  over within seconds of the leader's death (the server drops a dead session's locks
  when its connection closes). The leader checks its connection every 5 s and stops
  scheduling when it is lost. Only the leader schedules jobs; alerts are in any case
  guarded by the database's uniqueness constraint.
- SQLite: one `serve` per home: an exclusive `fcntl.flock` on `<home>/serve.lock`; a
  second one refuses to start (ConflictError).

At start-up, every permission problem `certmgr doctor` would report (home or key directory
open to others, a key or database file readable by them) is logged as a warning.
SIGTERM and SIGINT stop the service cleanly: running jobs finish, the lock is released.
Logs are one JSON object per line on stderr.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import signal
import socket
import threading
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from certmgr.clock import Clock, SystemClock
from certmgr.errors import ConflictError
from certmgr.store.engine import make_engine
from certmgr.store.models_alerts import ServiceLease

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from certmgr.config import Settings
    from certmgr.secrets import Secret

__all__ = ["LOCK_KEY", "RETRY_SECONDS", "FileLeader", "JsonFormatter", "PgLeader", "serve"]

log = logging.getLogger("certmgr.serve")
LOCK_KEY = 0x6365_7274_7365_7276  # "certserv"
RETRY_SECONDS = 5.0


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, and certmgr extras."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(), "logger": record.name,
            "msg": record.getMessage(), "pid": record.process}
        for key in ("job", "certmgr_alert"):
            if hasattr(record, key):
                doc[key] = getattr(record, key)
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(doc, default=str, ensure_ascii=False)


def _configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


class PgLeader:
    """The PostgreSQL advisory lock, on its own connection."""

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT")
            return bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                           {"k": LOCK_KEY}).scalar())
        except SQLAlchemyError:
            self._drop()
            return False

    def alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            with suppress(SQLAlchemyError):
                self._conn.invalidate()
            self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            with suppress(SQLAlchemyError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                self._conn.close()
            self._conn = None
        self._engine.dispose()


@dataclass
class FileLeader:
    """An exclusive lock on `<home>/serve.lock` (SQLite: one `serve` per home)."""

    settings: Settings
    _file: IO[str] | None = None

    def try_acquire(self) -> bool:
        path = self.settings.home / "serve.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConflictError(f"another `certmgr serve` ({holder}) already runs on "
                                f"{self.settings.home} (lock {path}); stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._file = handle
        return True

    def alive(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _record_lease(settings: Settings, now: dt.datetime) -> None:
    engine = make_engine(settings.db_url)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    try:
        with engine.begin() as conn:
            conn.execute(ServiceLease.__table__.delete().where(  # type: ignore[attr-defined]
                ServiceLease.__table__.c.name == "scheduler"))  # type: ignore[attr-defined]
            conn.execute(ServiceLease.__table__.insert().values(  # type: ignore[attr-defined]
                name="scheduler", holder=holder, acquired_at=now, renewed_at=now))
    finally:
        engine.dispose()


def _warn_permissions(settings: Settings) -> None:
    """What `certmgr doctor`'s permissions check finds, one warning each, at start-up: a
    service left running for months should not hold keys others can read unnoticed."""
    from certmgr.services.doctor import permission_problems  # noqa: PLC0415

    for problem in permission_problems(settings):
        log.warning("permissions: %s (run `certmgr doctor`)", problem)


def serve(settings: Settings, *, metrics_addr: tuple[str, int] | None = None,
          stop: threading.Event | None = None, clock: Clock | None = None,
          passphrase: Secret | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop`): metrics at once, jobs once leader. Returns 0.

    `passphrase` opens the keys held here for the jobs that need them (the endpoint probes
    present each mailbox's client certificate); it stays in memory and is never logged."""
    from certmgr.scheduler import start  # noqa: PLC0415 - APScheduler only in the service
    from certmgr.store.session import open_store  # noqa: PLC0415

    clock = clock or SystemClock()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        # before the lock is visible: a SIGTERM from then on is a clean stop
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_args: stop.set())
    pg = settings.db_url.startswith("postgres")
    leader: PgLeader | FileLeader = PgLeader(settings.db_url) if pg else FileLeader(settings)
    if not pg:
        leader.try_acquire()  # raises ConflictError when another serve holds the home
    _configure_logging()
    _warn_permissions(settings)
    server = None
    try:
        store = open_store(settings)
    except BaseException:
        leader.release()
        raise
    try:
        if metrics_addr is not None:
            from prometheus_client import start_http_server  # noqa: PLC0415

            from certmgr.metrics import make_registry  # noqa: PLC0415

            server, _thread = start_http_server(metrics_addr[1], metrics_addr[0],
                                                registry=make_registry(store, clock=clock))
            log.info("metrics on http://%s:%d/metrics", *metrics_addr)
        while pg and not stop.is_set() and not leader.try_acquire():
            log.info("follower: another serve leads; retrying in %.0f s", RETRY_SECONDS)
            stop.wait(RETRY_SECONDS)
        if stop.is_set():
            log.info("stopped before leading")
            return 0
        _record_lease(settings, clock.now())
        scheduler, missed = start(settings, now=clock.now(), passphrase=passphrase)
        log.info("leader: scheduling %d jobs (caught up: %s; key passphrase: %s)",
                 len(scheduler.get_jobs()), ", ".join(missed) or "none",
                 "given" if passphrase is not None else "none")
        try:
            while not stop.wait(RETRY_SECONDS):
                if not leader.alive():
                    log.error("leadership lost (database connection): stopping")
                    break
        finally:
            scheduler.shutdown(wait=True)
            log.info("stopped")
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        leader.release()
        store.close()
    return 0
