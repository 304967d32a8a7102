"""Hostile paths: a directory or a FIFO given as an input file, and names that try to make
certmgr write outside the place it means to (symbolic links, separators in addresses)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from certmgr.errors import InputError
from certmgr.pki.keys import KeySpec
from certmgr.services.enrol import KeyOptions, generate_csr
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.keyfiles import write_private_file
from certmgr.store.session import open_store

from .conftest import ACTOR, FIXED, SIRET, settings_for


def _certmgr(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    return subprocess.run([sys.executable, "-m", "certmgr", "--home", str(home),
                           *map(str, args)], capture_output=True, text=True, check=False,
                          env=env, timeout=60)  # a FIFO nobody writes to must not hang us


def _special(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / f"input-{kind}"
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", ["inspect", "verify", "import"])
@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_directory_or_fifo_as_input_is_one_line_exit_2(kind: str, command: str,
                                                       tmp_path: Path) -> None:
    path = _special(kind, tmp_path)
    extra: list[str | Path] = []
    if command == "verify":
        extra = ["--trust", FIXED / "ca" / "ACR-EL.pem"]
    proc = _certmgr(command, path, *extra, home=tmp_path / "home")
    assert "Traceback" not in proc.stderr
    if command == "import" and kind == "directory":  # import walks directories: none here
        assert proc.returncode == 0, proc.stderr
        assert "0 file(s)" in proc.stdout
        return
    if command == "import":  # a rejected file is a per-file outcome (exit 1), on stdout
        assert proc.returncode == 1, proc.stderr
        assert f"{path}: not a regular file" in proc.stdout
        return
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert str(path) in lines[-1]
    if kind == "fifo" or command == "inspect":
        assert len(lines) == 1
    # `verify DIRECTORY` is refused by click's usage check (a usage block, then the reason)


def test_private_file_replaces_a_planted_symlink_never_follows_it(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    keys.chmod(0o700)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (keys / "key.pem").symlink_to(victim)
    with pytest.raises(InputError, match="already exists"):
        write_private_file(keys / "key.pem", b"KEY", overwrite=False)
    assert victim.read_bytes() == b"precious"
    write_private_file(keys / "key.pem", b"KEY")  # rename() replaces the link itself
    assert victim.read_bytes() == b"precious"
    assert not (keys / "key.pem").is_symlink()
    assert (keys / "key.pem").read_bytes() == b"KEY"


def test_private_file_refuses_a_directory_others_can_enter(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    with pytest.raises(InputError, match="expected 0700"):
        write_private_file(shared / "key.pem", b"KEY")
    assert not (shared / "key.pem").exists()
    link = tmp_path / "keys"
    link.symlink_to(shared)  # a 0700-looking name that leads to the open directory
    with pytest.raises(InputError, match="expected 0700"):
        write_private_file(link / "key.pem", b"KEY")
    assert list(shared.iterdir()) == []


def test_private_file_keeps_odd_but_local_names_literal(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    name = "a\u202eb\nc;$(id) 'q'.pem"
    write_private_file(keys / name, b"KEY")
    assert [p.name for p in keys.iterdir()] == [name]
    assert (keys / name).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("address", ["/tmp/certmgr-escape@ch-test.mssante.fr",
                                     "a/b@ch-test.mssante.fr"])
def test_key_and_csr_names_from_an_address_stay_in_their_directories(
        address: str, tmp_path: Path) -> None:
    """Mailbox addresses may hold `/` (RFC 5322 allows it): enrolment names replace it."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    settings = settings_for(home)
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with open_store(settings, create=True) as store:
        add_mailbox(store=store, spec=MailboxSpec(address=address, idnat=SIRET,
                                                  organization="CH Test", department="75"),
                    at=at, actor=ACTOR)
        made = generate_csr(store=store, settings=settings, address=address,
                            passphrase=b"fixture passphrase", at=at, actor=ACTOR,
                            options=KeyOptions(algorithm=KeySpec.EC_P256, allow_ec=True,
                                               kdf_rounds=1000))
    assert made.key_path.parent == settings.keys_dir
    assert made.csr_path.parent.parent == home
    assert "/" not in made.key_path.name
    assert not Path("/tmp/certmgr-escape@ch-test.mssante.fr").exists()
