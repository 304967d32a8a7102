"""The closed sets of values the inventory stores as text (with a CHECK constraint)."""

from __future__ import annotations

import enum

__all__ = ["BindingRole", "MailboxEnvironment", "MailboxStatus"]


class MailboxStatus(enum.StrEnum):
    """The status of a mailbox, derived from its current certificate."""

    OK = "OK"
    RENEW_SOON = "RENEW_SOON"
    CRITICAL = "CRITICAL"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    INVALID = "INVALID"
    NO_CERTIFICATE = "NO_CERTIFICATE"


class MailboxEnvironment(enum.StrEnum):
    """Which IGC Santé environment a mailbox belongs to."""

    PRODUCTION = "production"
    TEST = "test"


class BindingRole(enum.StrEnum):
    """The role of a certificate for a mailbox. History is kept: old bindings become PREVIOUS."""

    CURRENT = "current"
    NEXT = "next"
    PREVIOUS = "previous"
