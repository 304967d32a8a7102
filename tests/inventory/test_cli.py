"""The commands: exit codes, --json, diagnostics on stderr."""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path

import pytest

from certmgr.services.scan import scan
from certmgr.store.session import Store
from certmgr.testpki import PkiIndex

from .conftest import ACTOR, AT, SIRET, Invoke, add, bind, seed_trust, trust_loader

HAS_TRUSTCTX = importlib.util.find_spec("certmgr.services.trustctx") is not None


def test_mailbox_add_list_show_archive(cli: Invoke) -> None:
    out = cli("mailbox", "add", "App@ch.mssante.fr", "--structure", SIRET, "--org", "CH",
              "--department", "75", "--contact", "it@ch.fr", "--env", "test", "--json")
    assert out.code == 0, out.err
    assert out.json() == {"address": "app@ch.mssante.fr", "idnat": SIRET, "structure": "CH",
                          "structure_created": True, "environment": "test"}
    dup = cli("mailbox", "add", "app@ch.mssante.fr", "--structure", SIRET, "--org", "CH")
    assert dup.code == 2
    assert "already exists" in dup.err
    assert dup.out == ""
    bad = cli("mailbox", "add", "b@ch.mssante.fr", "--structure", "1750712185", "--org", "X")
    assert bad.code == 2
    assert bad.err.strip().count("\n") == 0
    assert "wrong check digit" in bad.err
    forced = cli("mailbox", "add", "b@ch.mssante.fr", "--structure", "1750712185", "--org",
                 "X", "--force-idnat")
    assert forced.code == 0
    assert "new structure" in forced.out
    listed = cli("mailbox", "list", "--status", "no_certificate", "--json")
    assert [m["address"] for m in listed.json()] == ["app@ch.mssante.fr", "b@ch.mssante.fr"]
    shown = cli("mailbox", "show", "app@ch.mssante.fr", "--json")
    assert shown.json()["contacts"] == ["it@ch.fr"]
    assert shown.json()["department"] == "Paris (75)"
    assert cli("mailbox", "show", "app@ch.mssante.fr").out.startswith("app@ch.mssante.fr: ")
    assert cli("mailbox", "archive", "b@ch.mssante.fr").code == 0
    assert [m["address"] for m in cli("mailbox", "list", "--json").json()] == [
        "app@ch.mssante.fr"]
    missing = cli("mailbox", "show", "nobody@ch.fr")
    assert missing.code == 2
    assert "no mailbox" in missing.err


def test_mailbox_import_exit_codes(cli: Invoke, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(f"address,idnat,organization\na@ch.mssante.fr,{SIRET},CH\n",
                    encoding="utf-8")
    out = cli("mailbox", "import", good, "--json")
    assert out.code == 0
    assert out.json()["added"] == 1
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(f"address;idnat;organization\nb@ch.mssante.fr;{SIRET};CH\nbad;{SIRET};CH\n",
                     encoding="utf-8")
    out = cli("mailbox", "import", mixed)
    assert out.code == 1
    assert "line 3: rejected bad: " in out.out
    assert "1 added, 1 rejected" in out.out
    header = tmp_path / "header.csv"
    header.write_text("who,what\n", encoding="utf-8")
    out = cli("mailbox", "import", header)
    assert out.code == 2
    assert "bad CSV header" in out.err


def test_report_and_status(cli: Invoke, store: Store, pki: PkiIndex, tmp_path: Path) -> None:
    seed_trust(store, pki)
    add(store, "a@ch.mssante.fr", org="@evil")
    bind(store, "a@ch.mssante.fr", "el-org-auth-revoked", pki)
    scan(store=store, at=AT, actor=ACTOR, trust_loader=trust_loader(), processes=1)
    out = cli("report", "--format", "csv")
    assert out.code == 0
    (row,) = csv.DictReader(io.StringIO(out.out))
    assert row["structure"] == "'@evil"
    assert row["status"] == "REVOKED"
    target = tmp_path / "r.md"
    out = cli("report", "--format", "md", "--out", target)
    assert out.code == 0
    assert "wrote 1 mailboxes" in out.err
    assert "| a@ch.mssante.fr |" in target.read_text(encoding="utf-8")
    assert cli("report", "--format", "json").out.count('"address"') == 1
    status = cli("status", "--json")
    assert status.code == 0
    assert status.json()["counts"]["REVOKED"] == 1
    assert status.json()["last_scan"].startswith("2025-06-01T12:00:00")
    text = cli("status").out
    assert "1 active mailboxes" in text
    assert "REVOKED" in text


def test_commands_need_a_migrated_database(cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite3"
    empty = f"sqlite:///{path}"
    missing = cli("--db", empty, "status")  # no file: a wrong --db, not a schema to migrate
    assert missing.code == 2
    assert "no database at" in missing.err
    assert not path.exists()
    path.touch()
    out = cli("--db", empty, "status")
    assert out.code == 3
    assert "certmgr db upgrade" in out.err


@pytest.mark.skipif(not HAS_TRUSTCTX, reason="certmgr.services.trustctx not there yet")
def test_scan_command(cli: Invoke, store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki)
    add(store, "ok@ch.mssante.fr")
    bind(store, "ok@ch.mssante.fr", "el-org-auth-valid", pki)
    out = cli("scan", "--at", "2025-06-01T12:00:00Z", "--json")
    assert out.code == 0, out.err
    assert out.json()["counts"]["OK"] == 1
    assert set(out.json()["timings"]) == {
        "load", "validate", "write"}
    add(store, "rev@ch.mssante.fr")
    bind(store, "rev@ch.mssante.fr", "el-org-auth-revoked", pki)
    out = cli("scan", "--at", "2025-06-01T12:00:00Z")
    assert out.code == 1
    assert "REVOKED" in out.out
    assert "phases: load" in out.out
    assert cli("scan", "--at", "yesterday").code == 2
