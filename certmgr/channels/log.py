"""The log channel: one structured `logging` record per message.

The record goes to the `certmgr.alerts` logger at WARNING (an alert is worth a
look even when INFO is filtered out) with a one-line text and, in
`record.certmgr_alert`, a dict that a JSON log formatter can emit as is:
channel, dedup_key, recipients, subject and the message's `data`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from certmgr.channels.base import DeliveryResult, Message

__all__ = ["LOGGER_NAME", "LogChannel"]

LOGGER_NAME = "certmgr.alerts"


@dataclass(frozen=True, slots=True)
class LogChannel:
    """Writes each message to `logger` (default: the `certmgr.alerts` logger)."""

    name: str = "log"
    level: int = logging.WARNING
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger(LOGGER_NAME))

    def send(self, message: Message) -> DeliveryResult:
        self.logger.log(
            self.level, "alert %s: %s", message.dedup_key, message.subject,
            extra={"certmgr_alert": {
                "channel": self.name,
                "dedup_key": message.dedup_key,
                "recipients": list(message.recipients),
                "subject": message.subject,
                "data": dict(message.data),
            }},
        )
        return DeliveryResult(channel=self.name, accepted=message.recipients)
