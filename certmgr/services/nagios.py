"""Monitoring-plugin verdicts (Nagios, Icinga, Centreon...): one status, one first line.

`certmgr check` and `certmgr probe` both speak this protocol: the exit code is the status,
and the first line of output reads `SERVICE STATUS - text` (`CERTMGR OK - 33 mailboxes`,
`TLS CRITICAL - mx.example:25: TLS_VERSION: ...`).
"""

from __future__ import annotations

import enum

__all__ = ["NagiosStatus", "status_line"]


class NagiosStatus(enum.IntEnum):
    """Monitoring plugin status, which is also the exit code; a worse status is larger,
    so `max()` combines them."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def status_line(service: str, status: NagiosStatus, text: str) -> str:
    """The plugin's first line, `SERVICE STATUS - text`, on one line whatever `text` holds."""
    return " ".join(f"{service} {status.name} - {text}".split())
