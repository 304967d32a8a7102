"""Alert channels: e-mail (SMTP), webhook (signed JSON POST) and the log.

    from certmgr.channels import Message, SmtpChannel, SmtpSettings

Every channel has `name` and `send(Message) -> DeliveryResult`, and raises
`certmgr.errors.FetchError` when it cannot deliver. Channels know nothing of
alerts or the database: the alert engine renders events into `Message`s.
"""

from __future__ import annotations

from certmgr.channels.base import Channel, DeliveryResult, Message
from certmgr.channels.log import LogChannel
from certmgr.channels.smtp import SmtpChannel, SmtpSecurity, SmtpSettings, read_smtp_password
from certmgr.channels.webhook import WebhookChannel, sign

__all__ = [
    "Channel",
    "DeliveryResult",
    "LogChannel",
    "Message",
    "SmtpChannel",
    "SmtpSecurity",
    "SmtpSettings",
    "WebhookChannel",
    "read_smtp_password",
    "sign",
]
