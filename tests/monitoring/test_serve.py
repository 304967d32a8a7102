"""`certmgr serve` as real processes: one per SQLite home; leader/follower on PostgreSQL
with the leader SIGKILLed, the follower taking over within 30 s and nothing sent twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from certmgr.config import Settings
from certmgr.store.migrate import upgrade
from certmgr.store.models_alerts import AlertSent, JobRun, ServiceLease
from certmgr.store.session import Store, open_store
from certmgr.store.testing import temporary_database_url

from .conftest import seed

pytestmark = pytest.mark.slow


def _spawn(home: Path, log: Path, db_url: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    env["CERTMGR_HOME"] = str(home)
    if db_url is not None:
        env["CERTMGR_DB"] = db_url
    with log.open("wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "certmgr", "serve"], env=env,
                                stdout=sink, stderr=subprocess.STDOUT)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_a_second_serve_on_a_sqlite_home_refuses(settings: Settings, store: Store,
                                                 tmp_path: Path) -> None:
    assert store.url
    first = _spawn(settings.home, tmp_path / "first.log")
    try:
        lock = settings.home / "serve.lock"
        _wait(lambda: lock.is_file() and "pid" in lock.read_text(), 20, "the first serve")
        second = subprocess.run(
            [sys.executable, "-m", "certmgr", "--home", str(settings.home), "serve"],
            capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 2, second
        assert "another `certmgr serve`" in second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        assert _stop(first) == 0, (tmp_path / "first.log").read_text()


def test_sigint_stops_cleanly_releases_the_lock_and_logs_are_json_and_modes_warned(
        settings: Settings, store: Store, tmp_path: Path) -> None:
    assert store.url
    lock = settings.home / "serve.lock"
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    settings.keys_dir.mkdir(mode=0o700, exist_ok=True)
    stray = settings.keys_dir / "left-open.key.pem"
    stray.write_bytes(b"not a key, but readable by all")
    stray.chmod(0o644)
    first = _spawn(settings.home, logs[0])
    # running: the lock is held and the jobs are scheduled (signal handlers are set by then)
    _wait(lambda: "leader: scheduling" in logs[0].read_text(), 60, "serve to lead")
    assert f"pid {first.pid}" in lock.read_text()
    first.send_signal(signal.SIGINT)  # Ctrl-C in a terminal
    assert first.wait(timeout=30) == 0, logs[0].read_text()
    second = _spawn(settings.home, logs[1])  # the lock was released: a new serve starts
    try:
        _wait(lambda: f"pid {second.pid}" in lock.read_text(), 60, "the second serve")
    finally:
        assert _stop(second) == 0, logs[1].read_text()
    for log in logs:
        records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        assert records, log
        assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records), records
        assert any(r["msg"].startswith("stopped") for r in records), records
        # checked at each start-up, as `certmgr doctor` would
        assert any(r["level"] == "warning" and str(stray) in r["msg"] for r in records)


_CONFIG = '[schedule]\nalerts = "every 1 s"\nheartbeat = "every 1 s"\n'


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    with temporary_database_url("postgresql", directory=tmp_path) as url:
        yield url


def _holder(store: Store) -> str | None:
    with store.sessions() as session:
        lease = session.get(ServiceLease, "scheduler")
        return None if lease is None else lease.holder


def test_failover_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    upgrade(pg_url)
    homes = [tmp_path / "a", tmp_path / "b"]
    for home in homes:
        home.mkdir()
        (home / "config.toml").write_text(_CONFIG, encoding="utf-8")
    settings = Settings(home=homes[0], db_url=pg_url)
    with open_store(settings) as store:
        # real processes read the real clock: 100 days left crosses the 120-day threshold
        seed(store, not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=100))
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        leader = _spawn(homes[0], logs[0], pg_url)
        follower: subprocess.Popen[bytes] | None = None
        try:
            _wait(lambda: (_holder(store) or "").endswith(f":{leader.pid}"), 30, "a leader")
            _wait(lambda: _sent(store) == 1, 30, "the leader's alert")
            follower = _spawn(homes[1], logs[1], pg_url)
            time.sleep(3)  # the follower must stay idle while the leader lives
            assert not _ran_jobs(store, follower.pid)
            leader.send_signal(signal.SIGKILL)
            leader.wait(timeout=10)
            took = _wait(lambda: (_holder(store) or "").endswith(f":{follower.pid}"), 30,
                         "the follower to take over")
            assert took < 30
            takeover = dt.datetime.now(dt.UTC)
            _wait(lambda: _ran_jobs(store, follower.pid), 30, "jobs on the new leader")
            _wait(lambda: _alert_runs_since(store, takeover) >= 2, 30,
                  "alert runs on the new leader")
        finally:
            for proc in (leader, follower):
                if proc is not None and proc.poll() is None:
                    _stop(proc)
        assert _sent(store) == 1
        text = logs[0].read_text() + logs[1].read_text()
        assert text.count('"logger": "certmgr.alerts"') == 1, text


def _sent(store: Store) -> int:
    with store.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AlertSent)) or 0)


def _ran_jobs(store: Store, pid: int) -> bool:
    with store.sessions() as session:
        for run in session.scalars(select(JobRun).where(col(JobRun.job) == "heartbeat")):
            if run.details.get("pid") == pid:
                return True
    return False


def _alert_runs_since(store: Store, since: dt.datetime) -> int:
    with store.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(JobRun).where(
            col(JobRun.job) == "alerts", col(JobRun.ok).is_(True),
            col(JobRun.started_at) > since)) or 0)
