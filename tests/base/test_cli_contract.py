"""The CLI's global shape: options, version, help, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from certmgr import __version__
from certmgr.cli import COMMANDS, ExitCode, main


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certmgr", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )


def test_version_is_printed() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_exit_codes_are_a_stable_contract() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3]
    assert [c.name for c in ExitCode] == ["OK", "FINDING", "USAGE", "INTERNAL"]


def test_unknown_command_is_a_usage_error() -> None:
    proc = _run("no-such-command")
    assert proc.returncode == ExitCode.USAGE
    assert "Traceback" not in proc.stderr
    assert "no-such-command" in proc.stderr


def test_bad_config_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("renew_soon_days = 'soon'\n", encoding="utf-8")
    proc = _run("--home", str(tmp_path), "demo", "--headless")
    assert proc.returncode == ExitCode.USAGE
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(tmp_path / "config.toml") in lines[0]
    assert "renew_soon_days" in lines[0]


@pytest.mark.parametrize("flag", ["--debug"])
def test_debug_shows_the_traceback(tmp_path: Path, flag: str) -> None:
    (tmp_path / "config.toml").write_text("not toml at all [", encoding="utf-8")
    proc = _run(flag, "--home", str(tmp_path), "demo", "--headless")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_every_command_has_a_summary_for_the_help_listing() -> None:
    from certmgr.cli import SUMMARIES  # noqa: PLC0415

    assert set(SUMMARIES) == set(COMMANDS)
    assert all(s.strip() for s in SUMMARIES.values())
