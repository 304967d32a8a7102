"""Key files: 0600 in a 0700 directory, atomic under SIGKILL, stale temp files cleaned."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from certmgr.errors import InputError
from certmgr.pki.keys import encrypt_key, load_key
from certmgr.store.keyfiles import (
    FAULT_ENV,
    TEMP_MARKER,
    check_permissions,
    cleanup_stale_temp,
    read_private_file,
    write_private_file,
    write_public_file,
)

_WRITER = """
import sys
from pathlib import Path
from certmgr.store.keyfiles import write_private_file
write_private_file(Path(sys.argv[1]), bytes.fromhex(sys.argv[2]))
print("written")
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run_writer(target: Path, data: bytes, fault: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault is not None:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-c", _WRITER, str(target), data.hex()],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


class TestWrite:
    """Modes, directory checks, overwrite rules."""

    def test_private_file_is_0600_in_a_0700_dir(
        self, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
    ) -> None:
        path = tmp_path / "home" / "keys" / "mailbox.key.pem"
        pem = encrypt_key(rsa_key, passphrase=b"pass phrase", kdf_rounds=1_000)
        write_private_file(path, pem)
        assert _mode(path) == 0o600
        assert _mode(path.parent) == 0o700
        assert check_permissions(path) == []
        assert read_private_file(path) == pem
        assert load_key(read_private_file(path), passphrase=b"pass phrase").key_size == 2048
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp left

    def test_umask_does_not_change_the_modes(self, tmp_path: Path) -> None:
        old = os.umask(0o277)
        try:
            write_private_file(tmp_path / "k" / "a.pem", b"x")
        finally:
            os.umask(old)
        assert _mode(tmp_path / "k" / "a.pem") == 0o600
        assert _mode(tmp_path / "k") == 0o700

    def test_open_directory_is_refused(self, tmp_path: Path) -> None:
        keys = tmp_path / "keys"
        keys.mkdir(mode=0o755)
        keys.chmod(0o755)
        with pytest.raises(InputError, match="0755"):
            write_private_file(keys / "a.pem", b"secret")
        assert not (keys / "a.pem").exists()

    def test_overwrite_false_keeps_the_old_key(self, tmp_path: Path) -> None:
        path = tmp_path / "keys" / "a.pem"
        write_private_file(path, b"old")
        with pytest.raises(InputError, match="refusing to overwrite"):
            write_private_file(path, b"new", overwrite=False)
        assert path.read_bytes() == b"old"
        write_private_file(path, b"new")
        assert path.read_bytes() == b"new"
        assert len(list(path.parent.iterdir())) == 1

    def test_public_file_is_0644(self, tmp_path: Path) -> None:
        path = tmp_path / "out" / "mailbox.csr.pem"
        write_public_file(path, b"-----BEGIN CERTIFICATE REQUEST-----\n")
        assert _mode(path) == 0o644


class TestPermissions:
    def test_problems_are_reported_and_reading_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "keys" / "a.pem"
        write_private_file(path, b"k")
        path.chmod(0o644)
        path.parent.chmod(0o750)
        problems = check_permissions(path)
        assert len(problems) == 2
        assert "0644" in problems[0]
        assert "0750" in problems[1]
        with pytest.raises(InputError, match="0644"):
            read_private_file(path)

    def test_symlink_is_a_problem(self, tmp_path: Path) -> None:
        path = tmp_path / "keys" / "a.pem"
        write_private_file(path, b"k")
        link = path.parent / "link.pem"
        link.symlink_to(path)
        assert any("symbolic link" in p for p in check_permissions(link))


class TestCrash:
    """CERTMGR_FAULT kills the writer; the final name never holds a partial file."""

    def test_no_fault_writes(self, tmp_path: Path) -> None:
        target = tmp_path / "keys" / "a.pem"
        proc = _run_writer(target, b"complete key", None)
        assert proc.returncode == 0, proc.stderr
        assert target.read_bytes() == b"complete key"

    @pytest.mark.parametrize("point", ["keyfile:mid-write", "keyfile:before-rename"])
    def test_killed_before_rename_leaves_no_final_file(self, tmp_path: Path, point: str) -> None:
        target = tmp_path / "keys" / "a.pem"
        proc = _run_writer(target, b"complete key", point)
        assert proc.returncode == -signal.SIGKILL
        assert "written" not in proc.stdout
        assert not target.exists()
        leftovers = list(target.parent.iterdir())
        assert len(leftovers) == 1
        assert TEMP_MARKER in leftovers[0].name
        assert leftovers[0].name.startswith(".a.pem")
        assert _mode(leftovers[0]) == 0o600
        if point == "keyfile:mid-write":
            assert leftovers[0].read_bytes() == b"comple"
        assert cleanup_stale_temp(target.parent) == leftovers
        assert list(target.parent.iterdir()) == []

    def test_killed_before_rename_keeps_the_old_content(self, tmp_path: Path) -> None:
        target = tmp_path / "keys" / "a.pem"
        write_private_file(target, b"old key")
        proc = _run_writer(target, b"new key", "keyfile:before-rename")
        assert proc.returncode == -signal.SIGKILL
        assert target.read_bytes() == b"old key"
        assert len(cleanup_stale_temp(target.parent)) == 1
        assert [p.name for p in target.parent.iterdir()] == ["a.pem"]

    def test_killed_after_rename_has_the_whole_file(self, tmp_path: Path) -> None:
        target = tmp_path / "keys" / "a.pem"
        proc = _run_writer(target, b"complete key", "keyfile:after-rename")
        assert proc.returncode == -signal.SIGKILL
        assert target.read_bytes() == b"complete key"
        assert cleanup_stale_temp(target.parent) == []

    @pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc")
    def test_a_zombie_writer_is_dead(self, tmp_path: Path) -> None:
        """A SIGKILLed worker whose parent died too stays a zombie until init reaps it (for
        ever under a PID 1 that does not reap): its temporary file is removed all the
        same. A child left unreaped here is a real zombie."""
        child = subprocess.Popen([sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"])
        try:
            status = Path(f"/proc/{child.pid}/stat")
            for _ in range(500):  # until it has died (not reaped: no wait())
                if status.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    break
                os.sched_yield()
                subprocess.run(["sleep", "0.01"], check=True)
            leftover = tmp_path / f".a.pem{TEMP_MARKER}{child.pid}-0123456789abcdef"
            leftover.write_bytes(b"half")
            assert cleanup_stale_temp(tmp_path) == [leftover]
        finally:
            child.wait()

    def test_cleanup_spares_live_writers_and_other_files(self, tmp_path: Path) -> None:
        ours = tmp_path / f".a.pem{TEMP_MARKER}{os.getpid()}-0123456789abcdef"
        other = tmp_path / "notes.txt"
        ours.write_bytes(b"")
        other.write_bytes(b"")
        assert cleanup_stale_temp(tmp_path) == []
        assert ours.exists()
        assert other.exists()
        assert cleanup_stale_temp(tmp_path / "missing") == []
