"""`certmgr doctor`: each problem is named on a FAIL line and makes the exit code 1."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path

import pytest
from cryptography import x509

from certmgr.pki.facts import certificate_facts
from certmgr.services.doctor import CheckStatus, permission_problems, run_doctor
from certmgr.store.models import KeyRecord
from certmgr.store.rows import ca_certificate_row
from certmgr.store.session import open_store

from .conftest import FIXED, NOW, Invoke, import_crls, settings_for


def _statuses(home: Path, now: dt.datetime = NOW) -> dict[str, CheckStatus]:
    report = run_doctor(settings=settings_for(home), now=now)
    return {c.name: c.status for c in report.checks}


def test_healthy_home_passes(home: Path, cli: Invoke) -> None:
    statuses = _statuses(home)
    # keys/dpi/key.pem was written without a key row: reported, not a failure
    assert statuses == {"permissions": CheckStatus.OK, "database": CheckStatus.OK,
                        "trust-pins": CheckStatus.OK, "crl-freshness": CheckStatus.WARN,
                        "clock": CheckStatus.OK, "audit-chain": CheckStatus.OK,
                        "key-files": CheckStatus.WARN}
    done = cli("--home", home, "doctor")  # the real clock, after the release date
    assert done.code == 0, done.out
    assert all(line.split(" ", 1)[0] in {"OK", "WARN"} for line in done.out.splitlines())


def test_bad_permissions_fail_naming_each_path(home: Path, cli: Invoke) -> None:
    key = home / "keys" / "dpi" / "key.pem"
    key.chmod(0o644)
    (home / "keys").chmod(0o755)
    (home / "certmgr.sqlite3").chmod(0o640)
    done = cli("--home", home, "doctor")
    assert done.code == 1
    line = next(x for x in done.out.splitlines() if x.startswith("FAIL permissions:"))
    assert str(key) in line
    assert f"{home / 'keys'}: mode 0755" in line
    assert "certmgr.sqlite3: mode 0640, expected 0600" in line
    assert [x for x in done.out.splitlines() if x.startswith("FAIL")] == [line]


def test_permission_problems_for_a_start_up_check(home: Path) -> None:
    """The same findings as `doctor`'s line, one per path, for an entry point to log."""
    assert permission_problems(settings_for(home)) == []
    key = home / "keys" / "dpi" / "key.pem"
    key.chmod(0o640)
    (home / "keys").chmod(0o750)
    problems = permission_problems(settings_for(home))
    assert len(problems) == 2
    assert any(p.startswith(f"{home / 'keys'}: mode 0750") for p in problems)
    assert any(str(key) in p for p in problems)


def test_open_home_directory_fails(home: Path) -> None:
    home.chmod(0o711)
    report = run_doctor(settings=settings_for(home), now=NOW)
    check = next(c for c in report.checks if c.name == "permissions")
    assert check.status is CheckStatus.FAIL
    assert f"{home}: mode 0711, expected 0700" in check.detail


def test_unpinned_ans_looking_ca_row_fails(home: Path, cli: Invoke) -> None:
    der = (FIXED / "ca" / "IMPOSTOR-ACR-EL.der").read_bytes()
    facts = certificate_facts(x509.load_der_x509_certificate(der), der=der)
    with open_store(settings_for(home)) as store, store.transaction() as session:
        session.add(ca_certificate_row(facts, der=der, source="smuggled"))
    done = cli("--home", home, "doctor", "--json")
    assert done.code == 1
    check = next(c for c in done.json()["checks"] if c["name"] == "trust-pins")
    assert check["status"] == "FAIL"
    assert hashlib.sha256(der).hexdigest()[:16] in check["detail"]


def test_stale_crl_fails(home: Path) -> None:
    import_crls(home)  # the fixture CRLs' nextUpdate is in 2025
    report = run_doctor(settings=settings_for(home), now=NOW)
    check = next(c for c in report.checks if c.name == "crl-freshness")
    assert check.status is CheckStatus.FAIL
    assert "past nextUpdate" in check.detail
    assert not report.ok
    fresh = run_doctor(settings=settings_for(home), now=dt.datetime(2025, 6, 2, tzinfo=dt.UTC))
    assert next(c for c in fresh.checks if c.name == "crl-freshness").status is CheckStatus.OK


def test_clock_before_release_or_before_certificates_fails(home: Path) -> None:
    assert _statuses(home, dt.datetime(2026, 10, 31, tzinfo=dt.UTC))["clock"] is CheckStatus.FAIL
    conn = sqlite3.connect(home / "certmgr.sqlite3")
    with conn:
        conn.execute("UPDATE certificate SET not_before = '2027-06-01 00:00:00.000000'")
    conn.close()
    assert _statuses(home)["clock"] is CheckStatus.FAIL


def test_broken_audit_chain_and_missing_schema_fail(home: Path, tmp_path: Path,
                                                    cli: Invoke) -> None:
    conn = sqlite3.connect(home / "certmgr.sqlite3")
    with conn:
        conn.execute("UPDATE audit_event SET action = 'x' WHERE id = (SELECT MIN(id) "
                     "FROM audit_event)")
    conn.close()
    assert _statuses(home)["audit-chain"] is CheckStatus.FAIL
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    done = cli("--home", empty, "doctor")
    assert done.code == 1
    assert "FAIL database:" in done.out
    assert "db upgrade" in done.out
    assert list(empty.iterdir()) == []  # checking never creates the database file
    # the clock can still be compared with the release date, not with stored certificates
    assert any(x.startswith("WARN clock:") for x in done.out.splitlines()), done.out


def _key_row(home: Path, path: str) -> None:
    with open_store(settings_for(home)) as store, store.transaction() as session:
        session.add(KeyRecord(spki_sha256="ab" * 32, key_type="EC", key_size=256, path=path,
                              encrypted=True, created_at=NOW))


def test_key_rows_and_key_files_are_matched(home: Path, cli: Invoke) -> None:
    _key_row(home, "keys/dpi/key.pem")  # the fixture's key file, now referenced
    check = next(c for c in run_doctor(settings=settings_for(home), now=NOW).checks
                 if c.name == "key-files")
    assert (check.status, check.detail) == (CheckStatus.OK, "1 key row(s), each with its file")
    orphan = home / "keys" / "imported-0123456789abcdef.key.pem"
    orphan.write_bytes((home / "keys" / "dpi" / "key.pem").read_bytes())
    orphan.chmod(0o600)
    (home / "keys" / ".x.key.pem.certmgr-tmp-1-0123456789abcdef").write_bytes(b"half")
    check = next(c for c in run_doctor(settings=settings_for(home), now=NOW).checks
                 if c.name == "key-files")
    assert check.status is CheckStatus.WARN
    assert str(orphan) in check.detail
    assert "certmgr-tmp" not in check.detail  # a killed writer's file: removed on next start


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_key_row_without_its_complete_file_fails(home: Path, cli: Invoke,
                                                   damage: str) -> None:
    key = home / "keys" / "dpi" / "key.pem"
    _key_row(home, "keys/dpi/key.pem")
    if damage == "missing":
        key.unlink()
    else:
        key.write_bytes(key.read_bytes()[:100])
    done = cli("--home", home, "doctor")
    assert done.code == 1
    line = next(x for x in done.out.splitlines() if x.startswith("FAIL key-files:"))
    assert str(key) in line
