"""`certmgr csr lint`: exit codes 0/1/2, text and --json output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from certmgr.cli import COMMANDS, ExitCode, run
from certmgr.pki.csr import SubjectSpec, build_csr


def _invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        run(["csr", "lint", *args])
    out, err = capsys.readouterr()
    code = info.value.code
    assert isinstance(code, int)
    return code, out, err


@pytest.fixture
def good_csr(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    spec = SubjectSpec(
        departement="21",
        organization="MINISTERE DE TEST7708",
        idnat="318751275100020",
        common_name="bal@test.mssante.fr",
    )
    path = tmp_path / "good.csr"
    path.write_bytes(build_csr(key=rsa_key, profile="ORG_AUTH_CLI", subject=spec))
    return path


@pytest.fixture
def bad_csr(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    spec = SubjectSpec(
        departement="75", organization="A", idnat="318751275100020", common_name="INSI-X"
    )
    path = tmp_path / "bad.csr"
    path.write_bytes(build_csr(key=rsa_key, profile="ORG_AUTH_CLI", subject=spec))
    return path


def test_registered() -> None:
    assert COMMANDS["csr"] == "certmgr.cli.csr:csr"


def test_clean_csr_exits_0(capsys: pytest.CaptureFixture[str], good_csr: Path) -> None:
    code, out, _ = _invoke(capsys, str(good_csr), "--profile", "ORG_AUTH_CLI")
    assert code == ExitCode.OK
    assert out == f"{good_csr}: ok\n"


def test_error_finding_exits_1(
    capsys: pytest.CaptureFixture[str], good_csr: Path, bad_csr: Path
) -> None:
    code, out, _ = _invoke(capsys, str(good_csr), str(bad_csr))
    assert code == ExitCode.FINDING
    assert f"{bad_csr}: error CSR_CN_SERVICE:" in out


def test_json(capsys: pytest.CaptureFixture[str], good_csr: Path, bad_csr: Path) -> None:
    code, out, _ = _invoke(capsys, "--json", str(good_csr), str(bad_csr))
    assert code == ExitCode.FINDING
    doc = json.loads(out)
    assert [item["ok"] for item in doc] == [True, False]
    assert doc[1]["findings"][0]["code"] == "CSR_CN_SERVICE"
    assert doc[1]["findings"][0]["severity"] == "error"


@pytest.mark.parametrize("content", [None, b"not a csr\n"])
def test_unreadable_file_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good_csr: Path, content: bytes | None
) -> None:
    path = tmp_path / "broken.csr"
    if content is not None:
        path.write_bytes(content)
    code, out, err = _invoke(capsys, str(good_csr), str(path))
    assert code == ExitCode.USAGE
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0]
