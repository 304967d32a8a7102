"""Settings: where certmgr keeps its data, and the knobs operators may turn.

Resolution order for the home directory: `--home`, then `CERTMGR_HOME`, then the
platform's user data directory. The database URL: `--db`, then `CERTMGR_DB`, then
`CERTMGR_HOME/certmgr.sqlite3`. `home/config.toml`, when present, overrides the
defaults below. Nothing here is read at import time: call `load_settings`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from certmgr.errors import ConfigError

__all__ = ["Settings", "default_home", "load_settings"]

DEFAULT_ALERT_THRESHOLDS = (120, 90, 60, 30, 14, 7, 3, 1)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an entry point needs to build the services."""

    home: Path
    db_url: str
    renew_soon_days: int = 90
    critical_days: int = 30
    alert_thresholds: tuple[int, ...] = DEFAULT_ALERT_THRESHOLDS
    timezone: str = "Europe/Paris"
    crl_hosts: tuple[str, ...] = ("igc-sante.esante.gouv.fr",)
    trust_base_url: str = "http://igc-sante.esante.gouv.fr"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"


def default_home() -> Path:
    """The platform's user data directory for certmgr."""
    return Path(platformdirs.user_data_dir("certmgr", appauthor=False))


def _sqlite_url(home: Path) -> str:
    return f"sqlite:///{home / 'certmgr.sqlite3'}"


_INT_KEYS = ("renew_soon_days", "critical_days")


def load_settings(
    *,
    home: str | os.PathLike[str] | None = None,
    db_url: str | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Resolve the settings from explicit values, the environment and `config.toml`."""
    env = os.environ if environ is None else environ
    home_path = Path(home or env.get("CERTMGR_HOME") or default_home()).expanduser()
    url = db_url or env.get("CERTMGR_DB") or _sqlite_url(home_path)
    settings = Settings(home=home_path, db_url=url)
    config_file = settings.config_file
    if not config_file.is_file():
        return settings
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read configuration: {exc}", source=config_file) from exc
    changes: dict[str, Any] = {}
    for key in _INT_KEYS:
        if key in data:
            value = data.pop(key)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{key} must be a non-negative integer", source=config_file)
            changes[key] = value
    if "alert_thresholds" in data:
        raw = data.pop("alert_thresholds")
        if not isinstance(raw, list) or not all(isinstance(v, int) and v > 0 for v in raw):
            raise ConfigError("alert_thresholds must be a list of positive integers",
                              source=config_file)
        changes["alert_thresholds"] = tuple(sorted(set(raw), reverse=True))
    for key in ("timezone", "trust_base_url"):
        if key in data:
            changes[key] = str(data.pop(key))
    if "crl_hosts" in data:
        changes["crl_hosts"] = tuple(str(h).lower() for h in data.pop("crl_hosts"))
    changes["extra"] = data
    return replace(settings, **changes)
