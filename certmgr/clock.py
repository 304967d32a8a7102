"""Time as a parameter.

Core functions take `now`/`at` as aware UTC datetimes. Only entry points (the
CLI, the scheduler, the TUI) read the clock, through a `Clock`, so tests pass a
`FixedClock` instead of patching `datetime`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "ensure_utc", "parse_instant"]


class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> dt.datetime: ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class FixedClock:
    """A clock that only moves when told to (tests, `--at`)."""

    at: dt.datetime
    _start: dt.datetime = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.at = ensure_utc(self.at)
        self._start = self.at

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self.at = self.at + delta
        return self.at


def ensure_utc(value: dt.datetime) -> dt.datetime:
    """Return `value` as an aware UTC datetime; a naive value is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def parse_instant(text: str) -> dt.datetime:
    """Parse an ISO 8601 date or datetime given by a user; a date means 00:00 UTC.

    Raises ValueError with a one-line reason when the text is not ISO 8601.
    """
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or datetime: {text!r}") from None
    return ensure_utc(value)
