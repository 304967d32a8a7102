"""A fresh home is private from its first write (0700 directories, 0600 database), a
missing database is reported instead of created, and the default export path cannot be
steered out of `<home>/export` by a mailbox address."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from certmgr.errors import NotFoundError
from certmgr.services.doctor import run_doctor
from certmgr.store.engine import make_engine
from certmgr.store.keyfiles import write_public_file
from certmgr.store.session import open_store

from .conftest import SIRET, certmgr, issue, settings_for

NOW = dt.datetime.now(dt.UTC)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestFreshHome:
    """What the first command creates."""

    def test_first_command_makes_a_private_home(self, tmp_path: Path) -> None:
        home = tmp_path / "deep" / "home"
        done = certmgr(home, "mailbox", "add", "bal@ch-fixture.mssante.fr", "--structure", SIRET,
                       "--org", "CH Fixture", "--department", "75")
        assert done.code == 0, done.err
        assert _mode(home) == 0o700
        assert _mode(tmp_path / "deep") == 0o700  # a parent certmgr had to create
        database = home / "certmgr.sqlite3"
        assert _mode(database) == 0o600
        with open_store(settings_for(home)):  # WAL files exist while a connection is open
            for suffix in ("-wal", "-shm"):
                sidecar = database.with_name(database.name + suffix)
                if sidecar.exists():
                    assert _mode(sidecar) == 0o600, sidecar
        created = certmgr(home, "csr", "new", "bal@ch-fixture.mssante.fr")
        assert created.code == 0, created.err
        assert _mode(home / "keys") == 0o700
        report = run_doctor(settings=settings_for(home), now=NOW)
        permissions = next(c for c in report.checks if c.name == "permissions")
        assert permissions.status == "OK", permissions.detail

    def test_engine_creates_the_file_0600_whatever_the_umask(self, tmp_path: Path) -> None:
        path = tmp_path / "db" / "x.sqlite3"
        engine = make_engine(f"sqlite:///{path}")
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
        assert _mode(path) == 0o600
        assert _mode(path.parent) == 0o700

    def test_public_files_do_not_open_a_new_home(self, tmp_path: Path) -> None:
        write_public_file(tmp_path / "home" / "csr" / "x.csr.pem", b"csr")
        assert _mode(tmp_path / "home") == 0o700
        assert _mode(tmp_path / "home" / "csr") == 0o755

    def test_an_existing_directory_is_left_alone(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        home.mkdir(mode=0o755)
        home.chmod(0o755)
        make_engine(f"sqlite:///{home / 'certmgr.sqlite3'}").dispose()
        assert _mode(home) == 0o755  # not ours to change: the doctor reports it


class TestMissingDatabase:
    """open_store(create=False) never creates an empty database."""

    def test_open_store_raises_not_found(self, tmp_path: Path) -> None:
        settings = settings_for(tmp_path / "typo")
        with pytest.raises(NotFoundError, match="no database at"):
            open_store(settings)
        assert not (tmp_path / "typo" / "certmgr.sqlite3").exists()

    def test_cli_says_so_in_one_line(self, tmp_path: Path) -> None:
        done = certmgr(tmp_path / "typo", "mailbox", "list")
        assert done.code == 2
        assert done.err.count("\n") == 1
        assert "no database at" in done.err
        assert "certmgr db upgrade" in done.err
        assert not (tmp_path / "typo" / "certmgr.sqlite3").exists()


def test_export_default_path_stays_in_the_export_directory(home: Path, tmp_path: Path) -> None:
    """An address whose local part is an absolute path (RFC 5322 allows `/`)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    address = f"{outside}/evil@ch-fixture.mssante.fr"
    assert certmgr(home, "mailbox", "add", address, "--structure", SIRET,
                   "--org", "CH Fixture", "--department", "75").code == 0
    created = certmgr(home, "csr", "new", address, "--cn", "evil@ch-fixture.mssante.fr",
                      "--json")
    assert created.code == 0, created.err
    issued = tmp_path / "issued.pem"
    issued.write_bytes(issue(Path(created.json()["csr_path"]).read_bytes(),
                             not_before=NOW - dt.timedelta(days=1)))
    imported = certmgr(home, "import", issued, "--mailbox", address, "--json")
    assert imported.code == 0, imported.err
    for fmt in ("p12", "pem"):
        done = certmgr(home, "export", address, "--format", fmt, "--json",
                       extra_env={"CERTMGR_EXPORT_PASSWORD": "export password (test)"})
        assert done.code == 0, done.err
    assert list(outside.iterdir()) == []
    exported = sorted(p.relative_to(home / "export") for p in (home / "export").rglob("*"))
    assert len({p.parts[0] for p in exported}) == 2  # the .p12 and the PEM directory
    assert all("/" not in p.parts[0] and not p.parts[0].startswith(".") for p in exported)
