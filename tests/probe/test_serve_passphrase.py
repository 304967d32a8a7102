"""`certmgr serve --passphrase-file`: read once at start, handed to the probe job (which then
presents the mailbox's client certificate), never logged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from certmgr.store.models_probes import ProbeResult

from .conftest import ImapServer, Pki, server_context
from .inventory import PASSPHRASE, Inventory, build_inventory, seed_stale_probe

pytestmark = pytest.mark.slow


@pytest.fixture
def inv(tmp_path: Path, pki: Pki) -> Iterator[Inventory]:
    yield from build_inventory(tmp_path / "home", pki)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}


def _accepted(inv: Inventory) -> bool:
    with inv.store.sessions() as session:
        return session.scalars(select(ProbeResult).where(
            col(ProbeResult.client_outcome) == "accepted")).first() is not None


def test_serve_gives_the_passphrase_to_the_probe_job(inv: Inventory, pki: Pki,
                                                     tmp_path: Path) -> None:
    home = inv.settings.home
    (home / "config.toml").write_text('[schedule]\nprobe_endpoints = "every 1 s"\n',
                                      encoding="utf-8")
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    secret.chmod(0o600)
    log = tmp_path / "serve.log"
    with ImapServer(server_context(pki, tmp_path, verify_clients=True)) as server:
        seed_stale_probe(inv, server.port)
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "certmgr", "--home", str(home), "serve",
                 "--passphrase-file", str(secret)], env=_env(), stdout=sink,
                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not _accepted(inv) and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.3)
            assert _accepted(inv), log.read_text()
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
    text = log.read_text()
    assert code == 0, text
    assert "key passphrase: given" in text
    assert PASSPHRASE not in text


def test_an_unsafe_passphrase_file_is_refused_in_one_line(inv: Inventory,
                                                          tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    secret.chmod(0o644)
    done = subprocess.run(
        [sys.executable, "-m", "certmgr", "--home", str(inv.settings.home), "serve",
         "--passphrase-file", str(secret)], env=_env(), capture_output=True, text=True,
        timeout=60, check=False)
    assert done.returncode == 2, done
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert str(secret) in done.stderr
    assert PASSPHRASE not in done.stderr + done.stdout
