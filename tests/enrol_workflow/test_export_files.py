"""Export and backup files go through `keyfiles.write_owner_only_file`: mode 0600 in the
directory the operator chose (a shared one too), whole or not at all, never through a
planted link, and an existing export is refused before anything is written."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.config import Settings
from certmgr.errors import InputError, StoreError
from certmgr.services.backup import create_backup
from certmgr.services.export import hook_environment
from certmgr.store.keyfiles import write_owner_only_file
from certmgr.store.session import Store

from .conftest import ADDRESS, AT, Invoke, issue, write_cert


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A directory others may enter (0755), as a deployment or backup drop often is."""
    path = tmp_path / "drop"
    path.mkdir()
    path.chmod(0o755)
    return path


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim"
    path.write_bytes(b"precious")
    return path


@pytest.fixture
def wide_umask() -> Iterator[None]:
    old = os.umask(0)  # the writer must set 0600 itself, not rely on the umask
    try:
        yield
    finally:
        os.umask(old)


class TestOwnerOnlyWriter:
    """`write_owner_only_file` itself."""

    @pytest.mark.usefixtures("wide_umask")
    def test_0600_in_a_shared_directory_left_as_it_is(self, shared: Path) -> None:
        target = shared / "bundle.p12"
        write_owner_only_file(target, b"DATA")
        assert target.read_bytes() == b"DATA"
        assert _mode(target) == 0o600
        assert _mode(shared) == 0o755  # not demanded, not changed
        assert [p.name for p in shared.iterdir()] == ["bundle.p12"]  # no temporary file left

    def test_a_planted_link_is_replaced_never_followed(self, shared: Path,
                                                       victim: Path) -> None:
        target = shared / "out.bin"
        target.symlink_to(victim)
        with pytest.raises(InputError, match="already exists"):
            write_owner_only_file(target, b"new", overwrite=False)
        write_owner_only_file(target, b"new")
        assert victim.read_bytes() == b"precious"
        assert not target.is_symlink()
        assert (target.read_bytes(), _mode(target)) == (b"new", 0o600)

    def test_a_missing_directory_is_one_line_and_creates_nothing(self, tmp_path: Path) -> None:
        with pytest.raises(StoreError, match="cannot create temporary file") as info:
            write_owner_only_file(tmp_path / "absent" / "out.bin", b"DATA")
        assert "\n" not in str(info.value)
        assert not (tmp_path / "absent").exists()


class TestExportAndBackupFiles:
    """`certmgr export` and `create_backup` write through it."""

    @pytest.fixture
    def exportable(self, store: Store, cli: Invoke, tmp_path: Path) -> Store:
        """The mailbox's new certificate imported, its key held here."""
        made = cli("csr", "new", ADDRESS, "--json")
        assert made.code == 0, made.err
        issued = issue(Path(made.json()["csr_path"]).read_bytes())
        assert cli("import", write_cert(issued, tmp_path / "issued.crt")).code == 0
        return store

    @pytest.fixture(autouse=True)
    def _export_password(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CERTMGR_EXPORT_PASSWORD", "export-pw-1")

    @pytest.mark.usefixtures("exportable", "wide_umask")
    def test_p12_into_a_shared_directory(self, cli: Invoke, shared: Path) -> None:
        done = cli("export", ADDRESS, "--format", "p12", "--out", shared / "bal.p12")
        assert done.code == 0, done.err
        assert _mode(shared / "bal.p12") == 0o600
        assert [p.name for p in shared.iterdir()] == ["bal.p12"]

    @pytest.mark.usefixtures("exportable")
    def test_existing_pem_files_are_refused_before_any_write(self, cli: Invoke,
                                                             shared: Path) -> None:
        out = shared / "pem"
        pem = ("export", ADDRESS, "--format", "pem", "--chain", "--out", out)
        assert cli(*pem).code == 0
        (out / "chain.pem").unlink()  # only cert.pem and key.pem remain in the way
        key = (out / "key.pem").read_bytes()
        refused = cli(*pem)
        assert refused.code == 2
        assert "already exists (use --force to overwrite)" in refused.err
        assert not (out / "chain.pem").exists()  # nothing was written
        assert (out / "key.pem").read_bytes() == key
        forced = cli(*pem, "--force")
        assert forced.code == 0, forced.err
        assert (out / "key.pem").read_bytes() != key  # encrypted again, fresh salt
        assert {p.name: _mode(p) for p in out.iterdir()} == {
            "cert.pem": 0o600, "key.pem": 0o600, "chain.pem": 0o600}

    @pytest.mark.usefixtures("exportable")
    def test_forced_export_replaces_a_planted_link(self, cli: Invoke, shared: Path,
                                                   victim: Path) -> None:
        out = shared / "pem"
        out.mkdir(mode=0o700)
        (out / "cert.pem").symlink_to(victim)
        assert cli("export", ADDRESS, "--format", "pem", "--out", out).code == 2
        assert cli("export", ADDRESS, "--format", "pem", "--out", out, "--force").code == 0
        assert victim.read_bytes() == b"precious"
        assert not (out / "cert.pem").is_symlink()
        assert (out / "cert.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")

    @pytest.mark.usefixtures("store", "wide_umask")
    def test_backup_into_a_shared_directory(self, settings: Settings, shared: Path) -> None:
        archive = shared / "certmgr.backup"
        create_backup(settings=settings, out=archive, passphrase=b"backup-pw", at=AT,
                      kdf_log2_n=14)
        assert _mode(archive) == 0o600
        assert archive.read_bytes().startswith(b"CERTMGRB")
        assert [p.name for p in shared.iterdir()] == ["certmgr.backup"]


@pytest.mark.parametrize(("name", "value", "kept"), [
    ("CERTMGR_DB", "postgresql+psycopg://certmgr:s3cret@db.example.org/certmgr", False),
    ("CERTMGR_DB", "sqlite:////var/lib/certmgr/certmgr.sqlite3", True),
    ("CERTMGR_DB", "postgresql+psycopg://certmgr@db.example.org/certmgr", True),
    ("CERTMGR_HOME", "/var/lib/certmgr", True),
    ("CERTMGR_API_TOKEN", "t0ken", False),  # a secret certmgr may read one day
    ("CERTMGR_PASSPHRASE", "pp", False),
    ("PGPASSWORD", "pg", False),
    ("LANG", "fr_FR.UTF-8", True),
])
def test_hook_environment_keeps_only_what_is_not_secret(name: str, value: str,
                                                        kept: bool) -> None:
    env = hook_environment({name: value}, {"key": Path("/x/key.pem")}, ADDRESS)
    assert (name in env) is kept
    assert env["CERTMGR_MAILBOX"] == ADDRESS
    assert env["CERTMGR_EXPORT_KEY"] == "/x/key.pem"
