"""What every alert channel takes and returns: a `Message` in, a `DeliveryResult` out.

A channel is anything with `name` and `send(message) -> DeliveryResult`. A
channel either delivers (perhaps to fewer recipients than asked: see
`refused`) or raises `certmgr.errors.FetchError` with one line that names the
channel and the reason, never a secret. Channels never read the wall clock on
their own: those that stamp a time take a `now` callable from the entry point.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

__all__ = ["Channel", "DeliveryResult", "Message"]

_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_DEDUP_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One message to deliver.

    `dedup_key` is stable for the fact it reports (see `AlertEvent.dedup_key`);
    channels send it along (`X-Certmgr-Alert` header, webhook payload) so that a
    receiver can drop a repeat. `headers` are extra mail/HTTP headers; `data`
    is the structured payload a webhook carries (e.g. `AlertEvent.to_json()`).
    Subject and header values must be single lines (header injection).
    """

    recipients: tuple[str, ...]
    subject: str
    text: str
    dedup_key: str
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipients", tuple(self.recipients))
        if any(not r.strip() or _has_break(r) for r in self.recipients):
            raise ValueError("a recipient is empty or holds a line break")
        if _has_break(self.subject):
            raise ValueError("the subject must be one line")
        if not _DEDUP_KEY.match(self.dedup_key):
            raise ValueError(f"dedup_key {self.dedup_key!r} must match {_DEDUP_KEY.pattern}")
        for name, value in self.headers.items():
            if not _HEADER_NAME.match(name) or _has_break(value):
                raise ValueError(f"invalid extra header {name!r}")
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryResult:
    """What a channel did: `accepted` recipients, `refused` ones with the reason.

    `message_id` is the channel's id for the message (the Message-ID of a mail,
    None elsewhere); `attempts` counts tries (webhook retries).
    """

    channel: str
    accepted: tuple[str, ...]
    refused: Mapping[str, str] = field(default_factory=dict)
    message_id: str | None = None
    attempts: int = 1
    detail: str = ""


class Channel(Protocol):
    """A way to tell operators: e-mail, webhook, log."""

    @property
    def name(self) -> str: ...

    def send(self, message: Message) -> DeliveryResult: ...


def _has_break(value: str) -> bool:
    return "\r" in value or "\n" in value
