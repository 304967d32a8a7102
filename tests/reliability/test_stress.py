"""Several real certmgr processes at once on one database, for CERTMGR_STRESS_SECONDS
(default 60): the TUI, `serve` and CLI commands used at the same time.

- `certmgr serve` (its jobs every second or two through `[schedule]`): the single leader
  on SQLite; two of them on PostgreSQL, exactly one of which leads;
- a TUI-like process (`console_reader.py`: every screen's data through
  `certmgr.services.console`, and alert acknowledgements, in a loop);
- CLI commands, each a process: two importers racing on the same files in opposite
  orders, `scan`, `alerts ack`, two `mailbox add` racing on the same addresses, and
  `jobs run heartbeat|alerts|scan`.

Then: no "database is locked" (nor any traceback) in any stderr, no error in the
service's log, every job run finished and succeeded, every process exited 0 (or with its
documented code), no duplicate row, counts equal to what succeeded, and the audit chain
verifies. On SQLite always; on PostgreSQL when CERTMGR_TEST_PG_URL is set. Deselect
locally with `-m "not stress"`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlmodel import col, func, select

from certmgr.store.engine import make_engine
from certmgr.store.migrate import upgrade
from certmgr.store.models import AuditEvent, Certificate, Mailbox
from certmgr.store.models_alerts import AlertSent, JobRun
from certmgr.store.session import open_store
from certmgr.store.testing import BACKENDS, Backend, temporary_database_url

from .conftest import ADDRESS, AT, FIXED, SIRET, argv, certmgr, certmgr_env, issue, prepare
from .conftest import settings_for as _settings_for

pytestmark = [pytest.mark.stress, pytest.mark.slow]

SECONDS = float(os.environ.get("CERTMGR_STRESS_SECONDS", "60"))
FILES = 40
ALERTS = 5  # acknowledged by `alerts ack`, and as many by the console
READER = Path(__file__).with_name("console_reader.py")
# Jobs every second or two; the ones that reach the network never in the test's time.
_SCHEDULE = """[schedule]
heartbeat = "every 1 s"
alerts = "every 2 s"
digest = "every 5 s"
crl_refresh = "0 3 1 1 *"
probe_endpoints = "0 3 1 1 *"
"""
_BAD = ("database is locked", "Traceback", "internal error", "could not serialize",
        "deadlock")


@dataclass(frozen=True)
class Run:
    worker: str
    args: tuple[str, ...]
    code: int
    err: str


def _leaves(directory: Path) -> list[tuple[Path, str]]:
    directory.mkdir()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stress@ch-stress.mssante.fr")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    out: list[tuple[Path, str]] = []
    for n in range(FILES):
        pem = issue(csr_pem, not_before=AT + dt.timedelta(seconds=n))
        path = directory / f"stress-{n:02d}.pem"
        path.write_bytes(pem)
        out.append((path, x509.load_pem_x509_certificate(pem).fingerprint(
            hashes.SHA256()).hex()))
    return out


def _add_alerts(home: Path, db_url: str | None) -> list[int]:
    """Sent alerts for the mailbox's certificate, to be acknowledged (2 x ALERTS)."""
    with open_store(_settings_for(home, db_url)) as store, store.transaction() as session:
        fingerprint = session.scalars(select(Certificate.fingerprint_sha256)).first()
        rows = [AlertSent(dedup_key=f"stress-{n}", recipient="ops@ch-fixture.fr", channel="log",
                          kind="expiry", mailbox=ADDRESS, certificate_fingerprint=fingerprint,
                          threshold=30, sent_at=AT) for n in range(2 * ALERTS)]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows if r.id is not None]


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(home, database URL): a prepared store on SQLite, or on a fresh PostgreSQL database."""
    if not (FIXED / "index.json").is_file():
        pytest.skip("fixture PKI not generated")
    backend: Backend = request.param
    home = tmp_path / "home"
    with temporary_database_url(backend, directory=tmp_path) as url:
        db_url = f"sqlite:///{home / 'certmgr.sqlite3'}" if backend == "sqlite" else url
        if backend == "postgresql":
            engine = make_engine(db_url)
            upgrade(engine)
            engine.dispose()
        prepare(home, db_url=db_url)
        yield home, db_url


def _serve(home: Path, db_url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(argv(home, "serve"), env=certmgr_env(db_url=db_url),
                                stdout=sink, stderr=subprocess.STDOUT)


def _serve_heartbeats(home: Path, db_url: str, pids: set[int]) -> set[int]:
    """The pids among `pids` that ran a scheduled heartbeat."""
    with open_store(_settings_for(home, db_url)) as store, store.sessions() as session:
        runs = session.scalars(select(JobRun).where(col(JobRun.job) == "heartbeat")).all()
    return {int(r.details.get("pid") or 0) for r in runs} & pids


def _wait_for_leader(home: Path, db_url: str, serves: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 120
    while not _serve_heartbeats(home, db_url, {p.pid for p in serves}):
        assert all(p.poll() is None for p in serves), "a serve process ended"
        assert time.monotonic() < deadline, "no serve process ran a job in 120 s"
        time.sleep(0.5)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=120)


def _loop(name: str, home: Path, db_url: str, runs: list[Run], deadline: float,
          next_args: Callable[[int], tuple[str, ...] | None]) -> None:
    """Run `certmgr` with next_args(0), next_args(1)... until the deadline (or None)."""
    env = certmgr_env(db_url=db_url)
    n = 0
    while time.monotonic() < deadline:
        args = next_args(n)
        if args is None:
            return
        done = subprocess.run(argv(home, *args), capture_output=True, text=True, check=False,
                              env=env, timeout=300)
        runs.append(Run(name, args, done.returncode, done.stderr))
        n += 1


def test_processes_share_one_database(database: tuple[Path, str], tmp_path: Path) -> None:
    home, db_url = database
    home.mkdir(mode=0o700, exist_ok=True)  # on PostgreSQL nothing made it yet
    (home / "config.toml").write_text(_SCHEDULE, encoding="utf-8")
    leaves = _leaves(tmp_path / "leaves")
    sent = _add_alerts(home, db_url)
    alert_ids, console_alerts = sent[:ALERTS], sent[ALERTS:]
    with open_store(_settings_for(home, db_url)) as store, store.sessions() as session:
        certificates_before = session.scalar(select(func.count()).select_from(Certificate))
        mailboxes_before = session.scalar(select(func.count()).select_from(Mailbox))
    assert certificates_before is not None
    assert mailboxes_before is not None

    def importing(order: list[int]) -> Callable[[int], tuple[str, ...]]:
        return lambda n: ("import", str(leaves[order[n % FILES]][0]), "--json")

    def adding(n: int) -> tuple[str, ...]:
        return ("mailbox", "add", f"stress-{n:04d}@ch-stress.mssante.fr", "--structure", SIRET,
                "--org", "CH Stress", "--department", "75")

    jobs = ("heartbeat", "alerts", "scan")
    workers: dict[str, Callable[[int], tuple[str, ...] | None]] = {
        "import-a": importing(list(range(FILES))),
        "import-b": importing(list(reversed(range(FILES)))),
        "scan": lambda _n: ("scan", "--json"),
        "ack": lambda n: ("alerts", "ack", str(alert_ids[n % len(alert_ids)])),
        "add-a": adding,
        "add-b": adding,
        "jobs": lambda n: ("jobs", "run", jobs[n % len(jobs)]),
    }
    runs: dict[str, list[Run]] = {name: [] for name in workers}
    pg = not db_url.startswith("sqlite")
    logs = [tmp_path / f"serve-{n}.log" for n in range(2 if pg else 1)]
    serves = [_serve(home, db_url, log) for log in logs]
    try:
        _wait_for_leader(home, db_url, serves)
        reader = subprocess.Popen(
            [sys.executable, str(READER), str(home), db_url, str(SECONDS), ADDRESS,
             *map(str, console_alerts)], env=certmgr_env(db_url=db_url),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + SECONDS
        threads = [threading.Thread(target=_loop, args=(name, home, db_url, runs[name],
                                                        deadline, make))
                   for name, make in workers.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        read_out, read_err = reader.communicate(timeout=300)
    finally:
        codes = [_stop(proc) for proc in serves]

    # the service: stopped cleanly, one leader, no error logged, every job run succeeded
    assert codes == [0] * len(serves), [log.read_text() for log in logs]
    for log in logs:
        text = log.read_text()
        assert not any(bad in text for bad in _BAD), text
        levels = {json.loads(line)["level"] for line in text.splitlines() if line.startswith("{")}
        assert levels <= {"info", "warning"}, text
    assert len(_serve_heartbeats(home, db_url, {p.pid for p in serves})) == 1
    with open_store(_settings_for(home, db_url)) as store, store.sessions() as session:
        failed = session.scalars(select(JobRun).where(col(JobRun.ok).isnot(True))).all()
        scheduled = session.scalar(select(func.count()).select_from(JobRun))
    assert [(r.job, r.ok, r.error) for r in failed] == []
    assert (scheduled or 0) > len(runs["jobs"])  # serve's runs besides the CLI's

    # the TUI-like reader: every screen read, acknowledgements done, no error at all
    assert reader.returncode == 0, read_err
    assert not any(bad in read_err for bad in _BAD), read_err
    console = json.loads(read_out)
    assert console["errors"] == []
    assert console["loops"] >= 2
    assert console["acks"] == console["loops"]

    everything = [r for rs in runs.values() for r in rs]
    for run in everything:
        assert not any(bad in run.err for bad in _BAD), (run.args, run.err)
    allowed = {"import-a": {0}, "import-b": {0}, "scan": {0, 1}, "ack": {0},
               "add-a": {0, 2}, "add-b": {0, 2}, "jobs": {0}}
    for run in everything:
        assert run.code in allowed[run.worker], (run.args, run.code, run.err)
        if run.code == 2:  # the other adder got there first: one line, the documented reason
            assert run.err.strip().endswith("already exists"), run.err
    assert all(len(rs) >= 2 for rs in runs.values()), {k: len(v) for k, v in runs.items()}
    assert any(r.code == 2 for r in everything), "the two adders never raced"

    added = [r.args[2] for r in everything if r.worker.startswith("add") and r.code == 0]
    assert len(added) == len(set(added)), "one address added twice"
    imported = {r.args[1] for r in everything if r.worker.startswith("import")}
    acks = sum(1 for r in runs["ack"] if r.code == 0)
    with open_store(_settings_for(home, db_url)) as store, store.sessions() as session:
        addresses = session.scalars(select(Mailbox.address)).all()
        fingerprints = session.scalars(select(Certificate.fingerprint_sha256)).all()
        acknowledged = session.scalar(select(func.count()).select_from(AuditEvent).where(
            col(AuditEvent.action) == "alert.acknowledged"))
        imported_events = session.scalar(select(func.count()).select_from(AuditEvent).where(
            col(AuditEvent.action) == "certificate.imported"))
    assert len(addresses) == len(set(addresses)) == mailboxes_before + len(added)
    assert len(fingerprints) == len(set(fingerprints))
    assert len(fingerprints) == certificates_before + len(imported)
    assert {fp for path, fp in leaves if str(path) in imported} <= set(fingerprints)
    assert acknowledged == acks + console["acks"]
    assert imported_events == len(fingerprints)
    verified = certmgr(home, "audit", "verify", db_url=db_url)
    assert verified.code == 0, verified.out + verified.err
