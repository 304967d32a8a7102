"""Settings: where certmgr keeps its data, and the knobs operators may turn.

Resolution order for the home directory: `--home`, then `CERTMGR_HOME`, then the
platform's user data directory. The database URL: `--db`, then `CERTMGR_DB`, then
`CERTMGR_HOME/certmgr.sqlite3`. `home/config.toml`, when present, overrides the
defaults below; its keys are checked when it is read (`load_settings`), and the keys
`Settings` does not model go to `Settings.extra`. Nothing here is read at import time.
"""

from __future__ import annotations

import difflib
import functools
import logging
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeGuard

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


# The keys of config.toml and their checks. A string where a list of strings is
# expected is a one-element list (`admins = "pki@example.org"`), an integer where the
# thresholds list is expected a one-element list; any other wrong type is a ConfigError.
_INT_KEYS = frozenset({"renew_soon_days", "critical_days", "order_pending_days",
                       "escalate_after_days"})
_STR_KEYS = frozenset({"timezone", "trust_base_url"})
_STR_LIST_KEYS = frozenset({"crl_hosts", "crl_urls", "admins", "escalation_contacts",
                            "binding_rules"})
# [section] -> its keys (`webhook` holds one named table of these keys per webhook);
# `binding_map` is a table of free keys (certificate CN or fingerprint -> address).
_SECTIONS: dict[str, frozenset[str]] = {
    "alerts": frozenset({"lang"}),
    "smtp": frozenset({"host", "port", "security", "sender", "username", "password_file",
                       "client_cert", "client_key", "ca_file"}),
    "webhook": frozenset({"url", "secret_file"}),
    "schedule": frozenset({"crl_refresh", "alerts", "digest", "heartbeat",
                           "probe_endpoints"}),
}
_KNOWN_KEYS = frozenset({*_INT_KEYS, *_STR_KEYS, *_STR_LIST_KEYS, *_SECTIONS,
                         "alert_thresholds", "binding_map"})
_FIELDS = frozenset(f.name for f in fields(Settings)) - {"home", "db_url", "extra"}

log = logging.getLogger("certmgr.config")


def load_settings(
    *,
    home: str | os.PathLike[str] | None = None,
    db_url: str | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Resolve the settings from explicit values, the environment and `config.toml`.

    Raises ConfigError (naming the file) for an unreadable file or a value of the wrong
    type; an unknown key is logged as a warning (logger `certmgr.config`) and ignored.
    """
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
    values = {key: _checked(key, value, config_file) for key, value in data.items()
              if _known(key, (), _KNOWN_KEYS, config_file)}
    modelled = {key: values.pop(key) for key in _FIELDS & values.keys()}
    if "alert_thresholds" in modelled:
        modelled["alert_thresholds"] = tuple(sorted(set(modelled["alert_thresholds"]),
                                                    reverse=True))
    if "crl_hosts" in modelled:
        modelled["crl_hosts"] = tuple(h.lower() for h in modelled["crl_hosts"])
    return replace(settings, **modelled, extra=values)


def _checked(key: str, value: object, source: Path) -> Any:
    """`value` of top-level `key`, checked and normalised (see the tables above)."""
    if key in _INT_KEYS:
        if not _is_int(value) or value < 0:
            raise ConfigError(f"{key} must be a non-negative integer", source=source)
        return value
    if key == "alert_thresholds":
        items = [value] if _is_int(value) else value
        if not isinstance(items, list) or not all(_is_int(v) and v > 0 for v in items):
            raise ConfigError("alert_thresholds must be a list of positive integers",
                              source=source)
        return items
    if key in _STR_KEYS:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string", source=source)
        return value
    if key in _STR_LIST_KEYS:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{key} must be a list of strings", source=source)
        return items
    table = _table(key, value, source)
    if key == "webhook":
        return {name: _section(f"webhook.{name}", _SECTIONS[key], hook, source)
                for name, hook in table.items()}
    return table if key == "binding_map" else _section(key, _SECTIONS[key], table, source)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _table(key: str, value: object, source: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a table ([{key}])", source=source)
    return value


def _section(name: str, keys: frozenset[str], value: object, source: Path) -> dict[str, Any]:
    """The table `[name]` without its unknown keys (each warned about)."""
    return {key: item for key, item in _table(name, value, source).items()
            if _known(key, (name,), keys, source)}


def _known(key: str, parents: tuple[str, ...], keys: frozenset[str], source: Path) -> bool:
    if key in keys:
        return True
    _warn_unknown(str(source), ".".join((*parents, key)),
                  ", ".join(difflib.get_close_matches(key, sorted(keys), n=1)))
    return False


@functools.cache  # once per process: `serve` reloads the settings for every job run
def _warn_unknown(source: str, dotted: str, close: str) -> None:
    hint = f" (did you mean {close!r}?)" if close else ""
    log.warning("%s: unknown key %r ignored%s", source, dotted, hint)
