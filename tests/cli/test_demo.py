"""`certmgr demo`: builds a now-relative PKI in the home dir and judges every scenario."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Invoke


def test_demo_headless_prints_every_scenario_and_exits_zero(cli: Invoke, tmp_path: Path) -> None:
    res = cli("--home", tmp_path, "demo", "--headless")
    assert res.code == 0, res.err
    assert "el-org-auth-valid" in res.out
    assert "EXPIRED" in res.out
    assert (tmp_path / "demo" / "pki" / "index.json").is_file()


def test_demo_verdicts_match_the_scenarios(cli: Invoke, tmp_path: Path) -> None:
    res = cli("--home", tmp_path, "demo", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    leaves = {leaf["name"]: leaf for leaf in report["leaves"]}
    assert leaves["el-org-auth-valid"]["valid"] is True
    assert leaves["el-org-auth-valid"]["codes"] == []
    expected = {
        "el-org-auth-expired": "EXPIRED",
        "el-org-auth-not-yet-valid": "NOT_YET_VALID",
        "el-org-auth-revoked": "REVOKED",
        "el-org-auth-on-hold": "REVOKED",
        "el-org-auth-revoked-delta": "REVOKED",
        "el-org-auth-bad-signature": "BAD_SIGNATURE",
        "el-org-sign-wrong-usage": "PROFILE_EKU",
        "legacy-classe4": "LEGACY_GIP_CPS",
        "el-org-auth-unknown-critical": "UNKNOWN_CRITICAL_EXTENSION",
        "pathlen-subca-auth": "PATH_LEN",
        "no-keycertsign-auth": "KEY_USAGE",
        "revoked-ca-auth": "REVOKED",
    }
    for name, code in expected.items():
        assert leaves[name]["valid"] is False, name
        assert code in leaves[name]["codes"], (name, leaves[name]["codes"])
    for days in (120, 90, 60, 30, 14, 7, 3, 1):
        leaf = leaves[f"el-org-auth-expiring-{days}d"]
        assert leaf["valid"] is True
        assert leaf["days_left"] == days - 1  # not_after = at + N days - 1 hour


def test_demo_seeds_an_inventory_in_every_status(cli: Invoke, tmp_path: Path) -> None:
    res = cli("--home", tmp_path, "demo", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    counts = report["status"]["counts"]
    for status in ("OK", "RENEW_SOON", "CRITICAL", "EXPIRED", "REVOKED", "INVALID",
                   "NO_CERTIFICATE"):
        assert counts[status] >= 1, (status, counts)
    assert report["inventory"]["refused"]  # the impostor CAs are refused on import
    demo_home = Path(report["home"])
    assert demo_home == tmp_path / "demo"
    # the sandbox is a real inventory the other commands read
    listed = cli("--home", demo_home, "mailbox", "list", "--json")
    assert listed.code == 0, listed.err
    assert len(json.loads(listed.out)) == report["status"]["total"]
    # and a second run starts afresh instead of piling up
    again = cli("--home", tmp_path, "demo", "--json")
    assert json.loads(again.out)["status"]["total"] == report["status"]["total"]
