"""`certmgr import FILE.p12`: the private key is kept encrypted under the key passphrase,
0600, and works for `export`; a PKCS#12 the password does not open changes nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from certmgr.errors import PassphraseError
from certmgr.pki.keys import PrivateKey, load_key, spki_sha256

from .conftest import FIXED, PASSPHRASE, Invoke

P12 = FIXED / "bundles" / "el-org-auth-valid.p12"
P12_PASSWORD = "fixture-p12-password"  # the fixture PKCS#12's published test password
ADDRESS = "dpi@ch-test.mssante.fr"


def _secret(path: Path, value: str) -> Path:
    path.write_bytes(value.encode() + b"\n")
    path.chmod(0o600)
    return path


def _snapshot(home: Path) -> tuple[dict[str, list[tuple[object, ...]]], dict[str, bytes]]:
    """Every row of every table, and every file of the home but the database's own."""
    conn = sqlite3.connect(home / "certmgr.sqlite3")
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        rows = {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}
    finally:
        conn.close()
    files = {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*"))
             if p.is_file() and not p.name.startswith("certmgr.sqlite3")}
    return rows, files


def _fixture_p12() -> tuple[PrivateKey, x509.Certificate | None, list[x509.Certificate]]:
    key, cert, cas = pkcs12.load_key_and_certificates(P12.read_bytes(), P12_PASSWORD.encode())
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key, cert, cas


def _p12_spki() -> str:
    key, _cert, _cas = pkcs12.load_key_and_certificates(P12.read_bytes(), P12_PASSWORD.encode())
    assert key is not None
    return spki_sha256(key.public_key())


def test_key_is_kept_encrypted_0600_and_exports_back(home: Path, tmp_path: Path,
                                                     cli: Invoke) -> None:
    key_pass = _secret(tmp_path / "key-pass", PASSPHRASE)  # $(...), backticks, quotes, ;
    p12_pass = _secret(tmp_path / "p12-pass", P12_PASSWORD)
    done = cli("--home", home, "import", P12, "--mailbox", ADDRESS, "--passphrase-file",
               key_pass, "--p12-password-file", p12_pass, "--json")
    assert done.code == 0, done.err
    (entry,) = done.json()["files"]
    key_item = next(i for i in entry["items"] if i["kind"] == "private-key")
    assert key_item["status"] == "added"
    assert key_item["spki_sha256"] == _p12_spki()
    assert entry["bound"][0] == {"mailbox": ADDRESS, "role": "current", "already_bound": False,
                                 "replaced": None}
    path = home / key_item["path"]
    assert path.parent == home / "keys"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (home / "keys").stat().st_mode & 0o777 == 0o700
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert spki_sha256(load_key(pem, passphrase=PASSPHRASE.encode()).public_key()) == \
        key_item["spki_sha256"]
    with pytest.raises(PassphraseError):  # re-encrypted: the PKCS#12 password does not open it
        load_key(pem, passphrase=P12_PASSWORD.encode())
    events = cli("--home", home, "audit", "list", "--action", "key.imported", "--json")
    (event,) = events.json()["events"]
    assert event["object_id"] == key_item["spki_sha256"]
    text = json.dumps(events.json())
    assert PASSPHRASE not in text
    assert P12_PASSWORD not in text
    assert PASSPHRASE not in done.out + done.err
    doctor = cli("--home", home, "doctor", "--json").json()
    assert next(c for c in doctor["checks"] if c["name"] == "permissions")["status"] == "OK"

    out = tmp_path / "out.p12"
    export_pass = _secret(tmp_path / "export-pass", "export password")
    exported = cli("--home", home, "export", ADDRESS, "--out", out, "--passphrase-file",
                   key_pass, "--password-file", export_pass)
    assert exported.code == 0, exported.err
    key, cert, _ = pkcs12.load_key_and_certificates(out.read_bytes(), b"export password")
    assert key is not None
    assert cert is not None
    assert spki_sha256(key.public_key()) == key_item["spki_sha256"]

    again = cli("--home", home, "import", P12, "--passphrase-file", key_pass,
                "--p12-password-file", p12_pass, "--json")
    assert again.code == 0, again.err
    assert [i["status"] for i in again.json()["files"][0]["items"]
            if i["kind"] == "private-key"] == ["known"]
    assert sorted(p.name for p in (home / "keys").iterdir()) == ["dpi", path.name]


@pytest.mark.parametrize("how", ["p12-password-file", "key-passphrase"])
def test_a_password_that_does_not_open_it_changes_nothing(home: Path, tmp_path: Path,
                                                          cli: Invoke, how: str) -> None:
    """Exit 2, one line naming the file, before anything of any file is stored."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-leaf.pem").write_bytes((FIXED / "leaves" / "el-org-sign-valid.pem").read_bytes())
    (folder / "b.p12").write_bytes(P12.read_bytes())
    wrong = _secret(tmp_path / "wrong", "not the password; $(id)")
    before = _snapshot(home)
    args = ["--p12-password-file", wrong] if how == "p12-password-file" else [
        "--passphrase-file", wrong]
    done = cli("--home", home, "import", folder, *args)
    assert done.code == 2
    hint = "" if how == "p12-password-file" else (
        " (if its password is not the key passphrase: --p12-password-file or "
        "CERTMGR_P12_PASSWORD)")
    assert done.err.strip().splitlines() == [
        f"certmgr: error: {folder / 'b.p12'}: PKCS#12 MAC check failed: wrong passphrase{hint}"]
    assert done.out == ""
    assert _snapshot(home) == before


def test_the_key_passphrase_opens_the_pkcs12_by_default(home: Path, tmp_path: Path,
                                                       cli: Invoke,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    key, cert, cas = _fixture_p12()
    same = tmp_path / "same.p12"
    same.write_bytes(pkcs12.serialize_key_and_certificates(
        b"x", key, cert, cas, serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    monkeypatch.setenv("CERTMGR_PASSPHRASE", PASSPHRASE)
    done = cli("--home", home, "import", same, "--json")
    assert done.code == 0, done.err
    (path,) = (home / "keys").glob("imported-*.key.pem")
    assert spki_sha256(load_key(path.read_bytes(), passphrase=PASSPHRASE.encode()
                                ).public_key()) == spki_sha256(key.public_key())


def test_without_any_passphrase_no_key_is_written(home: Path, tmp_path: Path,
                                                  cli: Invoke) -> None:
    """No file, no environment, no terminal: a protected PKCS#12 is rejected (exit 1) and
    an unprotected one imports its certificates with its key ignored."""
    key, cert, cas = _fixture_p12()
    open_p12 = tmp_path / "open.p12"
    open_p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"x", key, cert, cas, serialization.NoEncryption()))
    protected = cli("--home", home, "import", P12)
    assert protected.code == 1
    assert "a passphrase is required" in protected.out
    done = cli("--home", home, "import", open_p12, "--json")
    assert done.code == 0, done.err
    assert done.json()["files"][0]["notes"] == ["private key ignored"]
    assert [p.name for p in (home / "keys").iterdir()] == ["dpi"]


def test_pkcs12_parsers_load_only_for_a_pkcs12() -> None:
    """Every command that reads a file imports `certmgr.pki.load`: asn1crypto's PKCS#12
    model (~25 ms with its CMS dependencies) and the PKCS#7/#12 loaders wait until used."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom certmgr.pki.load import load_bundle\n"
        "def heavy():\n"
        "    return sorted(m for m in sys.modules if m.startswith('asn1crypto.pkcs12')\n"
        "                  or m.endswith(('serialization.pkcs12', 'serialization.pkcs7')))\n"
        "print(heavy())\n"
        f"load_bundle(Path({str(FIXED / 'leaves' / 'el-org-auth-valid.pem')!r}).read_bytes(),"
        " source='pem')\n"
        "print(heavy())\n"
        f"load_bundle(Path({str(P12)!r}).read_bytes(), source='p12',"
        f" passphrase={P12_PASSWORD.encode()!r})\n"
        "print(heavy())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    before, after_pem, after_p12 = proc.stdout.splitlines()
    assert before == after_pem == "[]"
    assert "asn1crypto.pkcs12" in after_p12


def test_a_key_that_cannot_be_kept_safely_stores_nothing_of_its_file(
        home: Path, tmp_path: Path, cli: Invoke) -> None:
    (home / "keys").chmod(0o755)  # others can enter: no key goes there
    key_pass = _secret(tmp_path / "key-pass", PASSPHRASE)
    p12_pass = _secret(tmp_path / "p12-pass", P12_PASSWORD)
    before = _snapshot(home)
    done = cli("--home", home, "import", P12, "--passphrase-file", key_pass,
               "--p12-password-file", p12_pass)
    assert done.code == 1
    line = done.out.splitlines()[0]
    assert line.startswith(f"rejected {P12}: private key not kept: {home / 'keys'}")
    assert "directory mode 0755" in line
    assert _snapshot(home) == before
