"""`certmgr backup` / `certmgr restore`: encrypted, consistent, all-or-nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from certmgr.errors import InputError, ParseError, PassphraseError
from certmgr.pki.keys import load_key
from certmgr.services.auditlog import verify_audit
from certmgr.services.backup import MAGIC, create_backup, restore_backup
from certmgr.store.session import open_store

from .conftest import AT, FAST_KDF, PASSPHRASE, Invoke, settings_for


def _dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table (whatever the schema revision), in a stable order."""
    conn = sqlite3.connect(db)
    try:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()
                for t in tables}
    finally:
        conn.close()


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _backup(home: Path, out: Path) -> None:
    create_backup(settings=settings_for(home), out=out, passphrase=PASSPHRASE.encode(), at=AT,
                  kdf_log2_n=FAST_KDF)


def test_round_trip_restores_every_row_and_key_byte_identical(home: Path, tmp_path: Path) -> None:
    archive = tmp_path / "out" / "home.certmgr-backup"
    archive.parent.mkdir()
    _backup(home, archive)
    assert archive.stat().st_mode & 0o777 == 0o600
    assert archive.read_bytes().startswith(MAGIC)
    assert b"BEGIN ENCRYPTED PRIVATE KEY" not in archive.read_bytes()  # encrypted as a whole

    new = tmp_path / "restored"
    report = restore_backup(settings=settings_for(new), archive=archive,
                            passphrase=PASSPHRASE.encode())
    assert "keys/dpi/key.pem" in report.files
    before, after = _dump(home / "certmgr.sqlite3"), _dump(new / "certmgr.sqlite3")
    assert {"mailbox", "certificate", "ca_certificate", "audit_event"} <= set(after)
    assert before == after
    assert len(after["mailbox"]) == 2
    assert len(after["certificate"]) == 2
    assert len(after["audit_event"]) >= 4
    key = new / "keys" / "dpi" / "key.pem"
    assert key.read_bytes() == (home / "keys" / "dpi" / "key.pem").read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600
    assert (new / "keys").stat().st_mode & 0o777 == 0o700
    assert new.stat().st_mode & 0o777 == 0o700
    load_key(key.read_bytes(), passphrase=PASSPHRASE.encode())  # still opens
    with open_store(settings_for(new)) as store:
        verification = verify_audit(store=store)
    assert verification.ok
    assert verification.count == len(before["audit_event"])


def test_backup_is_consistent_while_another_connection_writes(home: Path, tmp_path: Path) -> None:
    writer = sqlite3.connect(home / "certmgr.sqlite3")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE mailbox SET application = 'uncommitted'")
    try:
        _backup(home, tmp_path / "b")  # a WAL writer holding its lock does not block us
    finally:
        writer.rollback()
        writer.close()
    restore_backup(settings=settings_for(tmp_path / "r"), archive=tmp_path / "b",
                   passphrase=PASSPHRASE.encode())
    rows = _dump(tmp_path / "r" / "certmgr.sqlite3")["mailbox"]
    assert all("uncommitted" not in row for row in rows)


def _heartbeats(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM job_run WHERE job = 'heartbeat' "
                                "AND ok = 1").fetchone()[0])
    finally:
        conn.close()


def test_backups_taken_while_serve_writes_restore_consistent(home: Path,
                                                             tmp_path: Path) -> None:
    """A real `certmgr serve` writes every second (heartbeats, alert runs); `certmgr
    backup` processes run meanwhile; each archive restores to a sound database."""
    (home / "config.toml").write_text('[schedule]\nheartbeat = "every 1 s"\n'
                                      'alerts = "every 1 s"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    env["CERTMGR_PASSPHRASE"] = PASSPHRASE
    base = [sys.executable, "-m", "certmgr", "--home", str(home)]
    with (tmp_path / "serve.log").open("wb") as log:
        serve = subprocess.Popen([*base, "serve"], env=env, stdout=log,
                                 stderr=subprocess.STDOUT)
    archives: list[tuple[Path, int]] = []
    try:
        deadline = time.monotonic() + 120
        while len(archives) < 3:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve wrote no heartbeat"
            seen = _heartbeats(home / "certmgr.sqlite3")
            if seen > (archives[-1][1] if archives else 0):
                archive = tmp_path / f"b{len(archives)}"
                done = subprocess.run([*base, "backup", str(archive)], env=env, check=False,
                                      capture_output=True, text=True, timeout=120)
                assert done.returncode == 0, done.stderr
                archives.append((archive, seen))
            time.sleep(0.2)
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()
    for n, (archive, seen) in enumerate(archives):
        new = tmp_path / f"r{n}"
        restore_backup(settings=settings_for(new), archive=archive,
                       passphrase=PASSPHRASE.encode())
        conn = sqlite3.connect(new / "certmgr.sqlite3")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
        assert _heartbeats(new / "certmgr.sqlite3") >= seen  # what was committed is in it
        with open_store(settings_for(new)) as store:
            assert verify_audit(store=store).ok


def test_restore_refuses_a_non_empty_home(home: Path, tmp_path: Path) -> None:
    _backup(home, tmp_path / "b")
    target = tmp_path / "busy"
    target.mkdir()
    (target / "something").write_text("x")
    with pytest.raises(InputError, match="empty or absent"):
        restore_backup(settings=settings_for(target), archive=tmp_path / "b",
                       passphrase=PASSPHRASE.encode())
    assert _files(target) == {"something": b"x"}


def test_wrong_passphrase_writes_nothing(home: Path, tmp_path: Path) -> None:
    _backup(home, tmp_path / "b")
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        restore_backup(settings=settings_for(tmp_path / "r"), archive=tmp_path / "b",
                       passphrase=b"not it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "home"]


@pytest.mark.parametrize("where", [0, 9, 20, 60, -1, -40])
def test_a_flipped_byte_anywhere_is_refused(home: Path, tmp_path: Path, where: int) -> None:
    _backup(home, tmp_path / "b")
    data = bytearray((tmp_path / "b").read_bytes())
    data[where] ^= 0x01
    (tmp_path / "b").write_bytes(bytes(data))
    with pytest.raises((PassphraseError, ParseError)):
        restore_backup(settings=settings_for(tmp_path / "r"), archive=tmp_path / "b",
                       passphrase=PASSPHRASE.encode())
    assert not (tmp_path / "r").exists()


def test_postgresql_is_refused_with_pg_dump_advice(tmp_path: Path) -> None:
    from certmgr.config import load_settings  # noqa: PLC0415

    settings = load_settings(home=tmp_path, db_url="postgresql+psycopg://u@127.0.0.1/x",
                             environ={})
    with pytest.raises(InputError, match="pg_dump"):
        create_backup(settings=settings, out=tmp_path / "b", passphrase=b"x", at=AT)


def test_cli_round_trip_with_passphrase_file(home: Path, tmp_path: Path, cli: Invoke) -> None:
    secret = tmp_path / "pass"
    secret.write_text(PASSPHRASE + "\nsecond line ignored\n")
    secret.chmod(0o600)
    archive = tmp_path / "b"
    done = cli("--home", home, "backup", archive, "--passphrase-file", secret, "--json")
    assert done.code == 0, done.err
    assert PASSPHRASE not in done.out + done.err
    restored = cli("--home", tmp_path / "new", "restore", archive, "--passphrase-file", secret)
    assert restored.code == 0, restored.err
    again = cli("--home", tmp_path / "new", "restore", archive, "--passphrase-file", secret)
    assert again.code == 2
    assert again.err.count("\n") == 1
    assert "empty or absent" in again.err
    verified = cli("--home", tmp_path / "new", "audit", "verify")
    assert verified.code == 0, verified.out + verified.err


def test_cli_wrong_passphrase_is_one_line(home: Path, tmp_path: Path, cli: Invoke,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _backup(home, tmp_path / "b")
    monkeypatch.setenv("CERTMGR_PASSPHRASE", "wrong")
    done = cli("--home", tmp_path / "new", "restore", tmp_path / "b")
    assert done.code == 2
    assert done.err.strip().count("\n") == 0
    assert "Traceback" not in done.err
    assert not (tmp_path / "new").exists()


def test_cli_passphrase_with_newline_in_the_middle_via_environment(
        home: Path, tmp_path: Path, cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment carries any bytes; a passphrase FILE keeps only its first line."""
    monkeypatch.setenv("CERTMGR_PASSPHRASE", "line one\n$(rm -rf ~)\n'line' \"three\"")
    archive = tmp_path / "b"
    assert cli("--home", home, "backup", archive).code == 0
    restored = cli("--home", tmp_path / "new", "restore", archive)
    assert restored.code == 0, restored.err
    monkeypatch.setenv("CERTMGR_PASSPHRASE", "line one")  # the first line alone is not it
    refused = cli("--home", tmp_path / "other", "restore", archive)
    assert refused.code == 2
    assert "wrong passphrase" in refused.err


def test_a_passphrase_that_does_not_open_the_keys_is_warned(home: Path, tmp_path: Path,
                                                            cli: Invoke) -> None:
    """The archive is written under the passphrase given; when that one does not open the
    home's keys, the operator is told (stderr and JSON), since a restore would bring back
    keys that open only with the other."""
    other = tmp_path / "other"
    other.write_text("not the key passphrase\n")
    other.chmod(0o600)
    done = cli("--home", home, "backup", tmp_path / "b", "--passphrase-file", other, "--json")
    assert done.code == 0, done.err
    (warning,) = done.json()["warnings"]
    assert "does not open the key key.pem" in warning
    assert done.err == f"certmgr: warning: {warning}\n"
    same = tmp_path / "same"
    same.write_text(PASSPHRASE + "\n")
    same.chmod(0o600)
    fine = cli("--home", home, "backup", tmp_path / "c", "--passphrase-file", same, "--json")
    assert (fine.code, fine.json()["warnings"], fine.err) == (0, [], "")
