"""`certmgr verify`: what it imports when, and its JSON lines (one writer, one text).

The command imports the validation engine only when it runs (not for `--help`), and the
batch engine only for batches large enough to fork for; its JSON lines, written with parts
shared between verdicts, are the text `json.dumps(verdict.to_json())` gives.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certmgr.cli.verify import REVOCATION_MODES
from certmgr.pki.validate import RevocationMode
from certmgr.services.verify import JsonLines, VerifyRequest, batch_files, verify_files

from .ecpki import AT, write_pki

_HEAVY = ("certmgr.services.verify", "certmgr.pki.validate", "certmgr.pki.batch")


def _modules_after(*argv: str) -> set[str]:
    """The certmgr modules imported by `certmgr ARGV` run in a fresh interpreter."""
    script = (
        "import sys\n"
        "from certmgr.cli import main\n"
        f"try: main.main(args={list(argv)!r}, prog_name='certmgr', standalone_mode=False)\n"
        "except SystemExit: pass\n"
        "print(' '.join(m for m in sys.modules if m.startswith('certmgr')), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    return set(proc.stderr.strip().splitlines()[-1].split())


def test_revocation_choices_are_the_engine_modes() -> None:
    assert REVOCATION_MODES == ["hard-fail", "soft-fail", "off"]
    assert [m.value for m in RevocationMode] == REVOCATION_MODES


@pytest.mark.parametrize("argv", [("--help",), ("verify", "--help")])
def test_help_does_not_import_the_engine(argv: tuple[str, ...]) -> None:
    loaded = _modules_after(*argv)
    assert "certmgr.cli" in loaded
    assert not loaded & set(_HEAVY)


def _pki(tmp_path: Path, leaves: int) -> tuple[Path, Path, Path, Path]:
    """A PKI with an accented CA name (JSON keeps it as is), two revoked leaves, and a
    batch folder of the leaves, one of them unreadable."""
    root, inter, crls, made = write_pki(tmp_path, leaves=leaves, revoked=(105, 107),
                                        inter="Inter Côte-d'Or")
    batch = tmp_path / "batch"
    batch.mkdir()
    for i, leaf in enumerate(made):
        (batch / f"{i:04}.pem").write_bytes(leaf.public_bytes(Encoding.PEM))
    (batch / "0003.pem").write_bytes(b"garbage")  # unreadable: a failure line
    return root, inter, crls, batch


def test_small_run_does_not_import_the_batch_engine(tmp_path: Path) -> None:
    root, inter, crls, batch = _pki(tmp_path, 3)
    loaded = _modules_after("verify", "--trust", str(root), "--untrusted", str(inter),
                            "--crl", str(crls), "--at", AT.isoformat(),
                            str(batch / "0001.pem"), "--json")
    assert "certmgr.services.verify" in loaded
    assert "certmgr.pki.batch" not in loaded


@pytest.mark.parametrize("leaves", [12, 300])  # serial; forked workers
def test_json_lines_are_the_json_of_each_verdict(tmp_path: Path, leaves: int) -> None:
    root, inter, crls, batch = _pki(tmp_path, leaves)
    request = VerifyRequest(certificates=tuple(batch_files(batch)), trust=(root,),
                            untrusted=(inter,), crls=(crls,), processes=2)
    report = verify_files(request, at=AT)
    writer = JsonLines()
    for _ in range(2):  # the second pass reads the fragments the first one stored
        for verdict in report.verdicts:
            assert writer.line(verdict) == json.dumps(verdict.to_json(), ensure_ascii=False)
    revoked = [v.to_json() for v in report.verdicts if not v.valid]
    assert [r["revocation"]["status"] for r in revoked] == ["revoked", "revoked"]
    assert revoked[0]["revocation"]["revocation_date"] == "2025-01-01T00:00:00+00:00"
    assert [Path(f.source).name for f in report.failures] == ["0003.pem"]


def test_cli_json_output_matches_verify_files(tmp_path: Path) -> None:
    root, inter, crls, batch = _pki(tmp_path, 12)
    proc = subprocess.run(
        [sys.executable, "-m", "certmgr", "verify", "--trust", str(root), "--untrusted",
         str(inter), "--crl", str(crls), "--at", AT.isoformat(), "--batch", str(batch),
         "--json"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr  # the unreadable file
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    report = verify_files(VerifyRequest(certificates=tuple(batch_files(batch)),
                                        trust=(root,), untrusted=(inter,), crls=(crls,)),
                          at=AT)
    want = [json.loads(json.dumps(v.to_json())) for v in report.verdicts]
    want += [f.to_json() for f in report.failures]
    assert lines == want
    assert "0003.pem" in proc.stderr
