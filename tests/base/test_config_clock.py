"""Settings resolution and the clock helpers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from certmgr.clock import FixedClock, ensure_utc, parse_instant
from certmgr.config import load_settings
from certmgr.errors import ConfigError


def test_home_and_db_resolution_order(tmp_path: Path) -> None:
    env = {"CERTMGR_HOME": str(tmp_path / "envhome"), "CERTMGR_DB": "sqlite:///env.db"}
    assert load_settings(environ=env).home == tmp_path / "envhome"
    assert load_settings(environ=env).db_url == "sqlite:///env.db"
    explicit = load_settings(home=tmp_path / "h", db_url="sqlite:///x.db", environ=env)
    assert explicit.home == tmp_path / "h"
    assert explicit.db_url == "sqlite:///x.db"
    default = load_settings(home=tmp_path, environ={})
    assert default.db_url == f"sqlite:///{tmp_path / 'certmgr.sqlite3'}"


def test_config_file_overrides_defaults(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        "renew_soon_days = 60\ncritical_days = 20\nalert_thresholds = [7, 30, 1, 30]\n",
        encoding="utf-8",
    )
    settings = load_settings(home=tmp_path, environ={})
    assert settings.renew_soon_days == 60
    assert settings.critical_days == 20
    assert settings.alert_thresholds == (30, 7, 1)


@pytest.mark.parametrize(
    "content",
    ["renew_soon_days = -1", "alert_thresholds = [0]", "alert_thresholds = 'x'", "= broken"],
)
def test_bad_config_names_the_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "config.toml").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(home=tmp_path, environ={})
    assert str(tmp_path / "config.toml") in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_instant_accepts_dates_z_and_offsets() -> None:
    assert parse_instant("2025-06-01") == dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    assert parse_instant("2025-06-01T12:00:00Z") == dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
    assert parse_instant("2025-06-01T14:00:00+02:00") == dt.datetime(
        2025, 6, 1, 12, tzinfo=dt.UTC
    )
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_instant("yesterday")


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(dt.datetime(2025, 1, 1))  # naive is taken as UTC
    assert clock.now() == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    clock.advance(dt.timedelta(days=1, seconds=1))
    assert clock.now() == dt.datetime(2025, 1, 2, 0, 0, 1, tzinfo=dt.UTC)
    assert ensure_utc(dt.datetime(2025, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == (
        dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    )
