"""The README's workflows, run for real on a demo home and on a fresh one: first import
of an inventory and the daily check, a renewal from `csr new` to the next `--due` batch,
the order-pending delay from config.toml, `--json` on `report` and `alerts ack`, and a
demo home that `certmgr doctor` finds healthy (private directories)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.support import sign_auth_cli

from .conftest import Invoke

RENEWED = "el-org-auth-expiring-30d@demo.mssante.fixture"


def test_first_import_then_the_daily_check(cli: Invoke, demo: Path, tmp_path: Path) -> None:
    home, pki = tmp_path / "home", demo / "pki"
    inventory = tmp_path / "mailboxes.csv"
    inventory.write_text(
        "address;idnat;organization;department;application;contacts;environment\n"
        "bal.labo@ch-fixture.mssante.fr;1750999997;CH Fixture;75;LIS;ops@ch-fixture.fr;"
        "production\n"
        "bad-row@ch-fixture.mssante.fr;1750999990;CH Fixture;75;LIS;;production\n",
        encoding="utf-8")
    assert cli("--home", home, "db", "upgrade").code == 0
    assert cli("--home", home, "trust", "import", pki / "ca" / "ACR-EL.pem",
               pki / "ca" / "ACI-EL-ORG.pem").code == 0
    assert cli("--home", home, "crl", "import", pki / "crl" / "ACR-EL.crl",
               pki / "crl" / "ACI-EL-ORG.crl").code == 0
    rows = cli("--home", home, "mailbox", "import", inventory, "--json")
    assert rows.code == 1  # the second row's check digit is wrong: reported, the first kept
    assert cli("--home", home, "import", pki / "leaves" / "el-org-auth-valid.pem",
               "--mailbox", "bal.labo@ch-fixture.mssante.fr").code == 0
    check = cli("--home", home, "check", "--scan")
    assert check.code == 0, check.out
    assert check.out.startswith("CERTMGR OK - 1 mailboxes: 1 OK")
    listed = cli("--home", home, "mailbox", "list", "--json").json()
    assert [m["address"] for m in listed] == ["bal.labo@ch-fixture.mssante.fr"]


def test_a_renewal_leaves_the_due_list(cli: Invoke, demo: Path, tmp_path: Path) -> None:
    home = ("--home", demo)
    assert RENEWED in cli(*home, "csr", "new", "--due", "--within", "45", "--out",
                          tmp_path / "dry", "--processes", "1", "--json").out
    assert cli(*home, "order", "abandon", RENEWED).code == 0  # start again, one mailbox
    made = cli(*home, "csr", "new", RENEWED, "--out", tmp_path / "csr", "--json")
    assert made.code == 0, made.err
    csr = Path(made.json()["csr_path"]).read_bytes()
    assert cli(*home, "order", "mark", RENEWED, "--ref", "ANS-2026-001").code == 0
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
    issued = sign_auth_cli(csr, not_before=start, not_after=start + dt.timedelta(days=1095))
    download = tmp_path / "certificat-ans.cer"  # any file name: matched by its public key
    download.write_bytes(issued.public_bytes(serialization.Encoding.DER))
    assert cli(*home, "import", download).code == 0
    states = cli(*home, "order", "list", "--all", "--json").json()
    assert {(r["address"], r["state"]) for r in states} >= {(RENEWED, "ACTIVE")}
    # the last scan still says CRITICAL for the old certificate: not a reason to renew again
    due = cli(*home, "csr", "new", "--due", "--within", "45", "--out", tmp_path / "due",
              "--processes", "1", "--json")
    assert RENEWED not in {i["address"] for i in due.json()["items"]}
    assert cli(*home, "scan").code == 1  # the demo has expired and revoked mailboxes
    shown = cli(*home, "mailbox", "show", RENEWED, "--json").json()
    assert shown["status"] == "OK"


def test_order_pending_days_from_config(cli: Invoke, demo: Path, tmp_path: Path) -> None:
    home = ("--home", demo)
    address = "el-org-auth-expiring-60d@demo.mssante.fixture"
    assert cli(*home, "csr", "new", address, "--out", tmp_path).code == 0
    assert cli(*home, "order", "mark", address).code == 0
    assert cli(*home, "order", "list").code == 0  # default: 14 days
    (demo / "config.toml").write_text("order_pending_days = 0\n", encoding="utf-8")
    flagged = cli(*home, "order", "list", "--json")
    assert flagged.code == 1
    assert [r["stale"] for r in flagged.json()] == [True]
    assert cli(*home, "order", "list", "--stale-days", "14").code == 0  # the option wins
    (demo / "config.toml").write_text('order_pending_days = "two weeks"\n', encoding="utf-8")
    bad = cli(*home, "order", "list")
    assert bad.code == 2
    assert "order_pending_days" in bad.err
    assert "config.toml" in bad.err


def test_json_on_report_and_alerts_ack(cli: Invoke, demo: Path) -> None:
    home = ("--home", demo)
    assert cli(*home, "report", "--json").json() == json.loads(
        cli(*home, "report", "--format", "json").out)
    assert cli(*home, "report", "--json", "--format", "md").code == 2
    assert cli(*home, "jobs", "run", "alerts").code == 0
    first = cli(*home, "alerts", "list", "--json").json()["alerts"][0]
    acked = cli(*home, "alerts", "ack", str(first["id"]), "--until", "2099-01-01", "--json")
    assert acked.code == 0, acked.err
    assert acked.json()["snoozed_until"].startswith("2099-01-01T00:00:00")


def test_the_demo_home_is_private_and_healthy(cli: Invoke, demo_template: Path,
                                              demo: Path) -> None:
    assert demo_template.stat().st_mode & 0o777 == 0o700
    doctor = cli("--home", demo, "doctor", "--json")
    assert doctor.code == 0, doctor.out
