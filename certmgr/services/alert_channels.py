"""Alert channels built from `config.toml` (unknown sections land in `Settings.extra`).

    [alerts]
    lang = "fr"                       # or "en"
    [smtp]
    host = "smtp.example.org"         # port, security (starttls|tls|none), username,
    sender = "certmgr@example.org"    # password_file, client_cert, client_key, ca_file
    [webhook.ops]
    url = "https://hooks.example.org/certmgr"
    secret_file = "/etc/certmgr/webhook-ops.secret"

The log channel is always there. Relative paths are taken from the home directory.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certmgr.channels import (
    LogChannel,
    SmtpChannel,
    SmtpSettings,
    WebhookChannel,
    read_smtp_password,
)
from certmgr.errors import ConfigError
from certmgr.secrets import read_passphrase
from certmgr.services.messages import LANGUAGES

if TYPE_CHECKING:
    from certmgr.channels.base import Channel
    from certmgr.config import Settings

__all__ = ["alert_lang", "build_channels"]


def alert_lang(settings: Settings) -> str:
    """`[alerts] lang`, "fr" by default."""
    lang = str(_section(settings.extra, "alerts").get("lang", "fr"))
    if lang not in LANGUAGES:
        raise ConfigError(f"[alerts] lang must be one of {', '.join(LANGUAGES)}",
                          source=settings.config_file)
    return lang


def _section(extra: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = extra.get(name, {})
    return value if isinstance(value, Mapping) else {}


def _path(settings: Settings, value: object) -> Path | None:
    if value is None:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else settings.home / path


def build_channels(settings: Settings, *, now: Callable[[], dt.datetime],
                   env: Mapping[str, str] | None = None) -> list[Channel]:
    """The configured channels, the log channel first. Raises ConfigError for a bad section."""
    environ = os.environ if env is None else env
    channels: list[Channel] = [LogChannel()]
    smtp = _section(settings.extra, "smtp")
    if smtp:
        try:
            username = smtp.get("username")
            password = None if username is None else read_smtp_password(
                env=environ, password_file=_path(settings, smtp.get("password_file")))
            channels.append(SmtpChannel(SmtpSettings(
                host=str(smtp["host"]), sender=str(smtp["sender"]),
                port=None if smtp.get("port") is None else int(smtp["port"]),
                security=smtp.get("security", "starttls"),
                username=None if username is None else str(username), password=password,
                client_cert=_path(settings, smtp.get("client_cert")),
                client_key=_path(settings, smtp.get("client_key")),
                ca_file=_path(settings, smtp.get("ca_file"))), now=now))
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"[smtp] is incomplete or invalid: {exc}",
                              source=settings.config_file) from exc
    for name, hook in _section(settings.extra, "webhook").items():
        if not isinstance(hook, Mapping) or "url" not in hook or "secret_file" not in hook:
            raise ConfigError(f"[webhook.{name}] needs url and secret_file",
                              source=settings.config_file)
        secret = read_passphrase(env={}, passphrase_file=_path(settings, hook["secret_file"]),
                                 prompt=None, confirm=False)
        channels.append(WebhookChannel(str(hook["url"]), secret=secret, now=now,
                                       name=f"webhook.{name}"))
    return channels
