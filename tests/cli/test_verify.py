"""`certmgr verify`: the command contract (exit codes, JSON, one-line errors) on the fixture PKI."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import FIXED_AT, Invoke


def _base(pki: Path) -> list[str | Path]:
    return [
        "verify", "--trust", pki / "ca/ACR-EL.pem", "--untrusted", pki / "ca/ACI-EL-ORG.pem",
        "--at", FIXED_AT,
    ]


def _crls(pki: Path, main: str = "crl/ACI-EL-ORG.crl") -> list[str | Path]:
    return ["--crl", pki / main, "--crl", pki / "crl/ACR-EL.crl"]


def _codes(record: dict[str, object]) -> set[str]:
    findings = record["findings"]
    assert isinstance(findings, list)
    return {f["code"] for f in findings}


def test_valid_leaf_exits_zero_with_its_path(cli: Invoke, pki: Path) -> None:
    res = cli(*_base(pki), *_crls(pki), "--profile", "mailbox",
              pki / "leaves/el-org-auth-valid.pem", "--json")
    assert res.code == 0, res.err
    [record] = res.json_lines()
    assert record["valid"] is True
    assert record["file"].endswith("el-org-auth-valid.pem")
    assert len(record["fingerprint"]) == 64
    subjects = [e["subject"] for e in record["path"]]
    assert subjects[1].startswith("CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS")
    assert subjects[2].startswith("CN=AC RACINE IGC-SANTE ELEMENTAIRE")
    assert record["revocation"]["status"] == "good"


@pytest.mark.parametrize(
    ("leaf", "code"),
    [
        ("el-org-auth-expired.pem", "EXPIRED"),
        ("el-org-auth-not-yet-valid.pem", "NOT_YET_VALID"),
        ("el-org-auth-revoked.pem", "REVOKED"),
        ("el-org-auth-on-hold.pem", "REVOKED"),
        ("el-org-auth-bad-signature.pem", "BAD_SIGNATURE"),
        ("el-org-auth-unknown-critical.pem", "UNKNOWN_CRITICAL_EXTENSION"),
        ("el-org-sign-wrong-usage.pem", "EKU"),
        ("el-org-sign-wrong-usage.pem", "PROFILE_EKU"),
        ("legacy-classe4.pem", "LEGACY_GIP_CPS"),
    ],
)
def test_each_scenario_is_invalid_with_its_code(
    cli: Invoke, pki: Path, leaf: str, code: str
) -> None:
    res = cli(*_base(pki), *_crls(pki), "--profile", "ORG_AUTH_CLI", pki / "leaves" / leaf,
              "--json")
    assert res.code == 1
    [record] = res.json_lines()
    assert record["valid"] is False
    assert code in _codes(record)


def test_revocation_reason_is_reported(cli: Invoke, pki: Path) -> None:
    res = cli(*_base(pki), *_crls(pki), pki / "leaves/el-org-auth-revoked.pem", "--json")
    [record] = res.json_lines()
    assert record["revocation"]["status"] == "revoked"
    assert record["revocation"]["reason"] == "keyCompromise"


def test_impostor_root_is_refused_and_named(cli: Invoke, pki: Path) -> None:
    res = cli("verify", "--trust", pki / "ca/IMPOSTOR-ACR-EL.pem", "--trust",
              pki / "ca/ACR-EL.pem", "--at", FIXED_AT, pki / "leaves/impostor-auth.pem",
              "--json")
    assert res.code == 1
    [record] = res.json_lines()
    assert "IMPOSTOR_CA" in _codes(record)


def test_stale_crl_fails_hard_unless_the_last_crl_is_accepted(cli: Invoke, pki: Path) -> None:
    leaf = pki / "leaves/el-org-auth-valid.pem"
    stale = _crls(pki, "crl/crl-ACI-EL-ORG-stale.crl")
    res = cli(*_base(pki), *stale, leaf, "--json")
    assert res.code == 1
    assert "CRL_STALE" in _codes(res.json_lines()[0])
    res = cli(*_base(pki), *stale, "--accept-stale-crl", leaf, "--json")
    assert res.code == 0
    [record] = res.json_lines()
    assert "CRL_STALE" in _codes(record)


def test_crl_signed_by_the_wrong_key_is_rejected(cli: Invoke, pki: Path) -> None:
    res = cli(*_base(pki), *_crls(pki, "crl/crl-ACI-EL-ORG-wrong-key.crl"),
              pki / "leaves/el-org-auth-valid.pem", "--json")
    assert res.code == 1
    codes = _codes(res.json_lines()[0])
    assert "CRL_BAD_SIGNATURE" in codes


def test_revocation_default_is_soft_fail_without_crls(cli: Invoke, pki: Path) -> None:
    leaf = pki / "leaves/el-org-auth-valid.pem"
    res = cli(*_base(pki), leaf, "--json")
    assert res.code == 0
    assert "CRL_MISSING" in _codes(res.json_lines()[0])
    res = cli(*_base(pki), "--revocation", "hard-fail", leaf, "--json")
    assert res.code == 1
    res = cli(*_base(pki), "--revocation", "off", leaf, "--json")
    assert res.code == 0
    assert _codes(res.json_lines()[0]) == set()


@pytest.mark.parametrize(("offset", "valid"), [(-1, True), (0, True), (1, False)])
def test_not_after_boundary_one_second_either_side(
    cli: Invoke, pki: Path, offset: int, valid: bool
) -> None:
    from cryptography import x509  # noqa: PLC0415

    leaf = pki / "leaves/el-org-auth-expiring-1d.pem"
    not_after = x509.load_pem_x509_certificate(leaf.read_bytes()).not_valid_after_utc
    at = (not_after.timestamp() + offset)
    import datetime as dt  # noqa: PLC0415

    when = dt.datetime.fromtimestamp(at, dt.UTC).isoformat()
    res = cli("verify", "--trust", pki / "ca/ACR-EL.pem", "--untrusted",
              pki / "ca/ACI-EL-ORG.pem", "--revocation", "off", "--at", when, leaf, "--json")
    assert res.json_lines()[0]["valid"] is valid
    assert res.code == (0 if valid else 1)


def test_batch_validates_every_file_under_a_directory(
    cli: Invoke, pki: Path, tmp_path: Path
) -> None:
    for name in ("el-org-auth-valid.pem", "el-org-auth-expired.pem"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        (tmp_path / "sub" / name).write_bytes((pki / "leaves" / name).read_bytes())
    res = cli(*_base(pki), "--revocation", "off", "--batch", tmp_path, "--json")
    assert res.code == 1
    by_file = {Path(r["file"]).name: r["valid"] for r in res.json_lines()}
    assert by_file == {"el-org-auth-valid.pem": True, "el-org-auth-expired.pem": False}


def test_text_output_is_one_line_per_certificate_then_findings(cli: Invoke, pki: Path) -> None:
    res = cli(*_base(pki), "--revocation", "off", pki / "leaves/el-org-auth-valid.pem",
              pki / "leaves/el-org-auth-expired.pem")
    assert res.code == 1
    lines = res.out.splitlines()
    assert lines[0].startswith("OK ")
    assert lines[1].startswith("INVALID ")
    assert "EXPIRED" in lines[2]


def test_unreadable_certificate_is_exit_2_naming_the_file(
    cli: Invoke, pki: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.pem"
    bad.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    res = cli(*_base(pki), "--revocation", "off", bad, pki / "leaves/el-org-auth-valid.pem")
    assert res.code == 2
    assert res.out.startswith("OK ")  # the good file is still validated
    [line] = [ln for ln in res.err.splitlines() if "broken.pem" in ln]
    assert "Traceback" not in res.err
    assert line.startswith("certmgr: error:")


@pytest.mark.parametrize(
    "extra",
    [
        ["--at", "yesterday"],
        ["--profile", "NO_SUCH_PROFILE"],
        ["--revocation", "maybe"],
    ],
)
def test_usage_errors_exit_2(cli: Invoke, pki: Path, extra: list[str]) -> None:
    res = cli(*_base(pki), *extra, pki / "leaves/el-org-auth-valid.pem")
    assert res.code == 2
    assert "Traceback" not in res.err


def test_missing_trust_or_unreadable_crl_is_exit_2(cli: Invoke, pki: Path) -> None:
    res = cli("verify", pki / "leaves/el-org-auth-valid.pem")
    assert res.code == 2
    assert "--trust" in res.err
    res = cli(*_base(pki), "--crl", pki / "leaves/el-org-auth-valid.pem",
              pki / "leaves/el-org-auth-valid.pem")
    assert res.code == 2
    assert "el-org-auth-valid.pem" in res.err
    assert "no CRL" in res.err
