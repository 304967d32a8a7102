"""SIGKILL in the middle of `csr new --due`: no row without its key file, no partial key
file; the next run cleans up and finishes the batch."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.keyfiles import TEMP_MARKER
from certmgr.store.models import KeyRecord, Renewal
from certmgr.store.session import Store

from .conftest import ACTOR, AT, PASSPHRASE, SIRET

COUNT = 40  # enough that a loaded machine cannot finish before the kill
_END = b"-----END ENCRYPTED PRIVATE KEY-----"


def _add_mailboxes(store: Store) -> list[str]:
    addresses = [f"bal{i:02d}@ch-fixture.mssante.fr" for i in range(COUNT)]
    for address in addresses:
        add_mailbox(store=store, spec=MailboxSpec(address=address, idnat=SIRET,
                    organization="Centre Hospitalier Fixture", department="75"),
                    at=AT, actor=ACTOR)
    return addresses


def _due(home: Path, *, fault: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CERTMGR_PASSPHRASE": PASSPHRASE}
    env.pop("CERTMGR_DB", None)
    env.pop("CERTMGR_FAULT", None)
    if fault:
        env["CERTMGR_FAULT"] = fault
    # A session of its own: the kill reaches the pool workers too.
    return subprocess.Popen([sys.executable, "-m", "certmgr", "--home", str(home), "csr",
                             "new", "--due", "--within", "0", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _renewals(store: Store) -> int:
    with store.sessions() as session:
        return session.scalar(select(func.count()).select_from(Renewal)) or 0


def _assert_consistent(store: Store, home: Path) -> None:
    """Every row's key file is there and complete; every final key file is complete."""
    with store.sessions() as session:
        keys = session.scalars(select(KeyRecord)).all()
        renewals = session.scalars(select(Renewal)).all()
    assert {r.key_id for r in renewals} <= {k.id for k in keys}
    for key in keys:
        assert (home / key.path).read_bytes().rstrip().endswith(_END), key.path
    for renewal in renewals:
        assert renewal.csr_path is not None
        assert Path(renewal.csr_path).is_file()
    for path in (home / "keys").iterdir():
        if TEMP_MARKER not in path.name:
            assert path.read_bytes().rstrip().endswith(_END), path


def _temps(home: Path) -> list[Path]:
    return [p for p in (home / "keys").iterdir() if TEMP_MARKER in p.name]


def _wait_for_dead_writers(home: Path, timeout: float = 10.0) -> None:
    """The SIGKILL reaches the workers with their parent, but they die on their own
    schedule: wait until every writer named by a temporary file is gone or a zombie."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = {int(p.name.split(TEMP_MARKER)[1].split("-")[0]) for p in _temps(home)}
        if not [pid for pid in pids if _running(pid)]:
            return
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return line.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


class TestBatchCrash:
    """Kills of the whole batch, and of its workers."""

    def test_random_sigkill_mid_batch(self, store: Store, home: Path) -> None:
        addresses = _add_mailboxes(store)
        proc = _due(home)
        deadline = time.monotonic() + 120
        while _renewals(store) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(random.uniform(0.0, 0.1))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)  # reaps it and closes the pipes
        assert proc.returncode == -signal.SIGKILL, "the batch ended before the kill"
        done = _renewals(store)
        assert 2 <= done < COUNT
        _assert_consistent(store, home)
        _wait_for_dead_writers(home)
        # the next run takes the rest, and removes what the killed writers left
        again = _due(home)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
        _assert_consistent(store, home)
        assert _temps(home) == []
        with store.sessions() as session:
            per_mailbox = session.execute(select(col(Renewal.mailbox_id), func.count()).group_by(
                col(Renewal.mailbox_id))).all()
        assert len(per_mailbox) == COUNT
        assert all(n == 1 for _, n in per_mailbox)
        assert out.count(b'"status": "created"') == COUNT - done
        assert addresses

    @pytest.mark.parametrize("point", ["keyfile:mid-write", "keyfile:before-rename",
                                       "keyfile:after-rename"])
    def test_workers_killed_at_fault_points(self, store: Store, home: Path,
                                            point: str) -> None:
        _add_mailboxes(store)
        proc = _due(home, fault=point)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err  # the parent survives and reports the failures
        assert b"worker process died" in out
        assert _renewals(store) == 0
        _assert_consistent(store, home)
