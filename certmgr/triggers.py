"""When scheduled jobs run: pure functions, datetime in, datetime out.

Every function takes an aware instant and returns the next fire time as an
aware UTC datetime strictly after it. Wall-clock times are read in `tz`
(Europe/Paris by default), so "07:30" is 05:30 UTC in summer (CEST, UTC+2) and
06:30 UTC in winter (CET, UTC+1).

Daylight-saving rule (PEP 495, `fold=0`), for a local time that a change makes
non-existent or ambiguous on that day:
- non-existent (spring forward, Europe/Paris last Sunday of March, 02:00-03:00
  local): the time is read with the offset before the change, so the job runs
  as much later as the gap is long (02:30 runs at 03:30 CEST = 01:30 UTC);
- ambiguous (fall back, last Sunday of October, 02:00-03:00 local twice): the
  first occurrence (still CEST) is used, and the job runs once that day.
certmgr's default times (07:15-08:00, 08:30) are never in those windows.

`next_crl_refresh` spreads CRL downloads as ANS asks (it publishes from 07:00):
each installation picks, per local day, a minute in `window` derived from a
SHA-256 of its `seed` and the date, so that it is stable within a day and
across restarts, different between installations, and different day to day.

`JitteredDailyTrigger` wraps it for APScheduler 3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

__all__ = ["CRL_WINDOW", "JitteredDailyTrigger", "crl_refresh_time", "next_after_next_update",
           "next_crl_refresh", "next_daily", "wall_time"]

CRL_WINDOW = (dt.time(7, 15), dt.time(8, 0))
_DEFAULT_TZ = "Europe/Paris"


def wall_time(day: dt.date, at_time: dt.time, *, tz: str | ZoneInfo = _DEFAULT_TZ) -> dt.datetime:
    """The UTC instant of `at_time` on local `day` in `tz`, under the DST rule above."""
    local = dt.datetime.combine(day, at_time.replace(tzinfo=None, fold=0), tzinfo=_zone(tz))
    return local.astimezone(dt.UTC)


def next_daily(after: dt.datetime, *, at_time: dt.time = dt.time(8, 30),
               tz: str | ZoneInfo = _DEFAULT_TZ) -> dt.datetime:
    """The first `at_time` (local, in `tz`) strictly after `after`."""
    start = _aware(after)
    day = start.astimezone(_zone(tz)).date() - dt.timedelta(days=1)
    while True:  # at most three turns: a shifted day may still be before `after`
        candidate = wall_time(day, at_time, tz=tz)
        if candidate > start:
            return candidate
        day += dt.timedelta(days=1)


def crl_refresh_time(day: dt.date, *, seed: str, window: tuple[dt.time, dt.time] = CRL_WINDOW,
                     tz: str | ZoneInfo = _DEFAULT_TZ) -> dt.datetime:
    """The CRL refresh instant of local `day`: a whole minute in [start, end) of `window`."""
    start, end = window
    first = start.hour * 60 + start.minute
    span = end.hour * 60 + end.minute - first
    if span <= 0:
        raise ValueError(f"the refresh window must end after it starts: {start}-{end}")
    digest = hashlib.sha256(f"{seed}\x1f{day.isoformat()}".encode()).digest()
    minute = first + int.from_bytes(digest[:8], "big") % span
    return wall_time(day, dt.time(minute // 60, minute % 60), tz=tz)


def next_crl_refresh(after: dt.datetime, *, seed: str,
                     window: tuple[dt.time, dt.time] = CRL_WINDOW,
                     tz: str | ZoneInfo = _DEFAULT_TZ) -> dt.datetime:
    """The first daily CRL refresh instant strictly after `after` (see the module doc).

    `seed` identifies the installation (e.g. the database's installation id); an
    empty seed is refused, since every installation would then pick the same minute.
    """
    if not seed:
        raise ValueError("the CRL refresh seed must not be empty")
    start = _aware(after)
    day = start.astimezone(_zone(tz)).date() - dt.timedelta(days=1)
    while True:
        candidate = crl_refresh_time(day, seed=seed, window=window, tz=tz)
        if candidate > start:
            return candidate
        day += dt.timedelta(days=1)


def next_after_next_update(next_update: dt.datetime, *,
                           margin: dt.timedelta = dt.timedelta(minutes=5)) -> dt.datetime:
    """When to fetch a CRL again once it reaches its nextUpdate: `margin` after it, in UTC.

    The margin leaves the publisher time to put the new CRL online; it must not be negative.
    """
    if margin < dt.timedelta(0):
        raise ValueError("the margin after nextUpdate must not be negative")
    return _aware(next_update).astimezone(dt.UTC) + margin


class JitteredDailyTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler is untyped
    """An APScheduler 3 trigger that fires once a day at `next_crl_refresh` times.

    Picklable (the SQLAlchemy job store pickles triggers): it holds only the seed,
    the window and the time-zone name. Fire times are returned in `tz`.
    """

    __slots__ = ("seed", "timezone", "window")

    def __init__(self, *, seed: str, window: tuple[dt.time, dt.time] = CRL_WINDOW,
                 timezone: str = _DEFAULT_TZ) -> None:
        if not seed:
            raise ValueError("the CRL refresh seed must not be empty")
        # Fail now, not at the first fire time, on a bad window or an unknown time zone.
        crl_refresh_time(dt.date(2000, 1, 1), seed=seed, window=window, tz=timezone)
        self.seed = seed
        self.window = window
        self.timezone = timezone

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None,
                           now: dt.datetime) -> dt.datetime:
        # First run: the first slot at or after `now`; then the first slot after the last one.
        after = (_aware(now) - dt.timedelta(microseconds=1) if previous_fire_time is None
                 else _aware(previous_fire_time))
        fire = next_crl_refresh(after, seed=self.seed, window=self.window, tz=self.timezone)
        return fire.astimezone(_zone(self.timezone))

    def __getstate__(self) -> dict[str, object]:
        return {"version": 1, "seed": self.seed, "window": self.window,
                "timezone": self.timezone}

    def __setstate__(self, state: dict[str, object]) -> None:
        if state.get("version") != 1:
            raise ValueError(f"cannot restore a JitteredDailyTrigger of version "
                             f"{state.get('version')!r}")
        self.seed = str(state["seed"])
        window = state["window"]
        assert isinstance(window, tuple)
        self.window = (window[0], window[1])
        self.timezone = str(state["timezone"])

    def __repr__(self) -> str:
        start, end = self.window
        return (f"<JitteredDailyTrigger window={start:%H:%M}-{end:%H:%M} "
                f"timezone={self.timezone!r}>")


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("trigger times must be aware datetimes")
    return value
