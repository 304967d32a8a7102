"""Secrets never travel on the command line: no option of any command takes a passphrase,
a password or a key as its value (only a file that holds it), and what the process
shows about itself (`ps`) never contains one. A whole session then shows no secret in any
output, log, file or audit event."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from certmgr.cli import main

from .conftest import FIXED, PASSPHRASE

_SECRET_WORDS = ("passphrase", "password", "secret", "token", "private-key", "revocation-code")


def _commands(command: click.Command, ctx: click.Context
              ) -> Iterator[tuple[str, click.Command]]:
    """Every command and subcommand (the top group loads its commands lazily)."""
    yield ctx.command_path, command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from _commands(sub, click.Context(sub, info_name=name, parent=ctx))


def test_no_option_takes_a_secret_as_its_value() -> None:
    commands = dict(_commands(main, click.Context(main, info_name="certmgr")))
    flags = {f"{name} {flag}" for name, command in commands.items()
             for param in command.params if isinstance(param, click.Option)
             and not param.is_flag for flag in param.opts}
    assert "certmgr import --p12-password-file" in flags  # the walk reaches subcommands
    assert "certmgr order revocation-code --passphrase-file" in flags
    offending = [f for f in flags if any(w in f.rsplit(" ", 1)[1] for w in _SECRET_WORDS)
                 and not f.endswith("-file")]
    assert offending == []


def test_ps_never_shows_the_passphrase(tmp_path: Path) -> None:
    """A long import of PKCS#12 files (the key passphrase in the environment and in a file):
    its command line, as any local user reads it in /proc, holds neither."""
    secret = tmp_path / "secret"
    secret.write_text(PASSPHRASE + "\n")
    secret.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    env["CERTMGR_P12_PASSWORD"] = "fixture-p12-password"
    proc = subprocess.Popen(
        [sys.executable, "-m", "certmgr", "--home", str(tmp_path / "home"), "import",
         FIXED / "bundles" / "el-org-auth-valid.p12", "--passphrase-file", secret],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[bytes] = []
    while proc.poll() is None:
        try:
            seen.append(Path(f"/proc/{proc.pid}/cmdline").read_bytes())
        except OSError:
            break
        time.sleep(0.01)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert seen
    assert all(PASSPHRASE.encode() not in line and b"fixture-p12-password" not in line
               for line in seen)
    assert PASSPHRASE not in out + err


# ---------------------------------------------------------------------------------------
# Every secret of a whole session, and nowhere it could leak: outputs, logs, files, audit.
_KEY = "kp-marker-7Zq9 $(id) 'q'"  # the key passphrase
_P12 = "p12-marker-4Wx2"  # the password of the PKCS#12 imported
_EXPORT = "ex-marker-8Ty5"  # the password of the PKCS#12 exported
_CODE = "rc-marker-3Hn6"  # the revocation code ANS gave
_WRONG = "wr-marker-5Lk1"  # a wrong passphrase, typed by mistake
_SECRETS = (_KEY, _P12, _EXPORT, _CODE, _WRONG)
_PLAIN_KEYS = (b"BEGIN PRIVATE KEY", b"BEGIN RSA PRIVATE KEY", b"BEGIN EC PRIVATE KEY")
_SIRET = "3" + "73282932000074"


class _Session:
    """Real `python -m certmgr` processes; every output kept."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.outputs: list[str] = []

    def run(self, home: Path, *args: str | Path, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
        base["CERTMGR_PASSPHRASE"] = _KEY
        done = subprocess.run([sys.executable, "-m", "certmgr", "--home", str(home),
                               *map(str, args)], env=base | (env or {}), input=stdin,
                              capture_output=True, text=True, check=False, timeout=180)
        self.outputs += [done.stdout, done.stderr]
        return done

    def secret_file(self, name: str, value: str) -> Path:
        path = self.tmp / name
        path.write_bytes(value.encode() + b"\n")
        path.chmod(0o600)
        return path


def _p12_with_password(out: Path) -> Path:
    """The fixture PKCS#12's key and certificate under this test's own password."""
    key, cert, cas = pkcs12.load_key_and_certificates(
        (FIXED / "bundles" / "el-org-auth-valid.p12").read_bytes(), b"fixture-p12-password")
    assert key is not None
    out.write_bytes(pkcs12.serialize_key_and_certificates(
        b"dpi", key, cert, cas, BestAvailableEncryption(_P12.encode())))  # type: ignore[arg-type]
    return out


def _serve_until_a_heartbeat(session: _Session, home: Path, key_file: Path) -> str:
    """`serve` (its key passphrase from a file) until it has logged a heartbeat; its log."""
    (home / "config.toml").write_text('[schedule]\nheartbeat = "every 1 s"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    log = session.tmp / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "certmgr", "--home", str(home), "serve",
                                 "--passphrase-file", str(key_file)], env=env, stdout=sink,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while b"heartbeat" not in log.read_bytes():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    return log.read_text()


@pytest.mark.slow
def test_no_secret_in_outputs_logs_files_or_audit(tmp_path: Path) -> None:
    """A session that touches every secret (key passphrase, PKCS#12 import and export
    passwords, the revocation code, a wrong passphrase), then every output, the service's
    log, every file of both homes (database and WAL included) and the audit trail: none of
    the secrets, and no plaintext private key, anywhere."""
    s = _Session(tmp_path)
    home, copy = tmp_path / "home", tmp_path / "restored"
    address, other = "dpi@ch-test.mssante.fr", "labo@ch-test.mssante.fr"
    key_file = s.secret_file("key-pass", _KEY)
    steps: list[tuple[tuple[str | Path, ...], dict[str, str] | None, str | None, int]] = [
        (("import", *(FIXED / "ca" / f"{n}.pem" for n in ("ACR-EL", "ACI-EL-ORG")),
          *(FIXED / "crl" / f"{n}.crl" for n in ("ACR-EL", "ACI-EL-ORG"))), None, None, 0),
        *[(("mailbox", "add", a, "--structure", _SIRET, "--org", "CH Test", "--department",
            "75"), None, None, 0) for a in (address, other)],
        (("import", _p12_with_password(tmp_path / "dpi.p12"), "--mailbox", address,
          "--p12-password-file", s.secret_file("p12-pass", _P12)), None, None, 0),
        (("csr", "new", other, "--passphrase-file", key_file), None, None, 0),
        (("order", "revocation-code", address, "--set"), None, _CODE + "\n", 0),
        (("export", address, "--out", tmp_path / "out.p12"),
         {"CERTMGR_EXPORT_PASSWORD": _EXPORT}, None, 0),
        (("backup", tmp_path / "home.bak"), None, None, 0),
        (("doctor", "--json"), None, None, 1),  # FAIL crl-freshness: the fixture CRLs are old
        (("audit", "verify"), None, None, 0),
        # mistakes: each refused in one line that repeats no secret
        (("export", address, "--out", tmp_path / "wrong.p12"),
         {"CERTMGR_PASSPHRASE": _WRONG, "CERTMGR_EXPORT_PASSWORD": _EXPORT}, None, 2),
        (("import", tmp_path / "dpi.p12", "--p12-password-file",
          s.secret_file("wrong-pass", _WRONG)), {"CERTMGR_PASSPHRASE": _WRONG}, None, 2),
    ]
    for args, env, stdin, code in steps:
        done = s.run(home, *args, env=env, stdin=stdin)
        assert done.returncode == code, (args, done.stdout, done.stderr)
    assert s.run(copy, "restore", tmp_path / "home.bak",
                 env={"CERTMGR_PASSPHRASE": _WRONG}).returncode == 2
    assert s.run(copy, "restore", tmp_path / "home.bak").returncode == 0
    audit = s.run(copy, "audit", "list", "--json")
    assert audit.returncode == 0, audit.stderr
    actions = {e["action"] for e in json.loads(audit.stdout)["events"]}
    assert {"key.imported", "key.generated", "csr.created"} <= actions
    s.outputs.append(_serve_until_a_heartbeat(s, home, key_file))

    text = "\n".join(s.outputs)
    assert [x for x in _SECRETS if x in text] == []
    assert not any(k.decode() in text for k in _PLAIN_KEYS)
    for folder in (home, copy):
        for path in (p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            assert [x for x in _SECRETS if x.encode() in data] == [], path
            assert not any(k in data for k in _PLAIN_KEYS), path
