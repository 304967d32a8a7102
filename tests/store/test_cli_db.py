"""`certmgr db upgrade` / `certmgr db current`: exit codes and JSON are a contract."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from certmgr.cli import main
from certmgr.store.migrate import head_revision


def _run(db_url: str, tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "home"), "--db", db_url, *args],
                                standalone_mode=False, catch_exceptions=False)
    return int(result.return_value), result.stdout


def test_current_then_upgrade_then_current(db_url: str, tmp_path: Path) -> None:
    code, out = _run(db_url, tmp_path, "db", "current", "--json")
    before = json.loads(out)
    assert (code, before["current"], before["up_to_date"]) == (1, None, False)

    code, out = _run(db_url, tmp_path, "db", "upgrade", "--json")
    upgraded = json.loads(out)
    assert code == 0
    assert upgraded == {"url": before["url"], "from": None, "to": head_revision(),
                        "head": head_revision(), "changed": True}

    code, out = _run(db_url, tmp_path, "db", "upgrade")
    assert code == 0
    assert "already at revision" in out

    code, out = _run(db_url, tmp_path, "db", "current")
    assert code == 0
    assert "up to date" in out


def test_urls_are_printed_without_password(db_url: str, tmp_path: Path) -> None:
    _, out = _run(db_url, tmp_path, "db", "current", "--json")
    url = json.loads(out)["url"]
    if db_url.startswith("postgresql"):
        assert ":***@" in url
        password = db_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert f":{password}@" not in out
    else:
        assert url == db_url
