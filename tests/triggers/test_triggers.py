"""Schedule computations: datetime in, datetime out, across both 2026 DST changes in Paris."""

from __future__ import annotations

import datetime as dt
import pickle
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from hypothesis import given, settings
from hypothesis import strategies as st

from certmgr.triggers import (
    CRL_WINDOW,
    JitteredDailyTrigger,
    crl_refresh_time,
    next_after_next_update,
    next_crl_refresh,
    next_daily,
    wall_time,
)

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC
SPRING = dt.date(2026, 3, 29)  # 02:00 CET -> 03:00 CEST
AUTUMN = dt.date(2026, 10, 25)  # 03:00 CEST -> 02:00 CET


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class TestNextDaily:
    """A local wall-clock time, every day, whatever the UTC offset."""

    @pytest.mark.parametrize(("after", "expected"), [
        # winter: 07:30 CET = 06:30 UTC
        (utc(2026, 3, 28, 6, 29, 59), utc(2026, 3, 28, 6, 30)),
        (utc(2026, 3, 28, 6, 30), utc(2026, 3, 29, 5, 30)),  # strictly after; DST day: CEST
        (utc(2026, 3, 29, 5, 30), utc(2026, 3, 30, 5, 30)),
        # autumn: 07:30 CEST = 05:30 UTC, then 07:30 CET = 06:30 UTC
        (utc(2026, 10, 24, 5, 29, 59), utc(2026, 10, 24, 5, 30)),
        (utc(2026, 10, 24, 5, 30), utc(2026, 10, 25, 6, 30)),
        (utc(2026, 10, 25, 6, 0), utc(2026, 10, 25, 6, 30)),
    ])
    def test_across_dst(self, after: dt.datetime, expected: dt.datetime) -> None:
        got = next_daily(after, at_time=dt.time(7, 30))
        assert got == expected
        assert got.tzinfo is UTC
        assert got.astimezone(PARIS).time() == dt.time(7, 30)

    def test_default_is_0830_paris_and_any_input_zone(self) -> None:
        after = dt.datetime(2026, 7, 1, 9, 0, tzinfo=ZoneInfo("America/New_York"))  # 15:00 CEST
        assert next_daily(after) == utc(2026, 7, 2, 6, 30)

    def test_a_week_across_spring_keeps_local_time(self) -> None:
        fire = utc(2026, 3, 26, 12, 0)
        gaps = []
        for _ in range(7):
            nxt = next_daily(fire, at_time=dt.time(7, 30))
            gaps.append(nxt - fire)
            fire = nxt
            assert fire.astimezone(PARIS).time() == dt.time(7, 30)
        assert dt.timedelta(hours=23) in gaps  # the short day

    def test_nonexistent_local_time_runs_later_by_the_gap(self) -> None:
        # 02:30 does not exist on 29 March: read with the CET offset -> 01:30 UTC (03:30 CEST)
        got = next_daily(utc(2026, 3, 28, 12, 0), at_time=dt.time(2, 30))
        assert got == utc(2026, 3, 29, 1, 30)
        assert got.astimezone(PARIS).time() == dt.time(3, 30)

    def test_ambiguous_local_time_runs_once_at_the_first_occurrence(self) -> None:
        first = next_daily(utc(2026, 10, 24, 12, 0), at_time=dt.time(2, 30))
        assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
        # the second 02:30 (CET, 01:30 UTC) is not another run
        assert next_daily(first, at_time=dt.time(2, 30)) == utc(2026, 10, 26, 1, 30)

    def test_naive_input_is_refused(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            next_daily(dt.datetime(2026, 1, 1))

    @settings(max_examples=200, deadline=None)
    @given(st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 1, 1),
                        timezones=st.just(UTC)),
           st.times(min_value=dt.time(4, 0), max_value=dt.time(23, 59)))
    def test_property_next_local_occurrence(self, after: dt.datetime, at: dt.time) -> None:
        got = next_daily(after, at_time=at)
        assert after < got <= after + dt.timedelta(hours=25)
        assert got.astimezone(PARIS).time() == at
        # nothing in between: the previous occurrence is not after `after`
        previous = wall_time(got.astimezone(PARIS).date() - dt.timedelta(days=1), at)
        assert previous <= after


class TestCrlRefresh:
    """A random-but-stable minute in 07:15-08:00 Paris, per installation and day."""

    def test_window_bounds_over_many_seeds(self) -> None:
        minutes = set()
        for n in range(2000):
            got = crl_refresh_time(dt.date(2026, 5, 4), seed=f"installation-{n}")
            local = got.astimezone(PARIS)
            assert CRL_WINDOW[0] <= local.time() < CRL_WINDOW[1]
            assert (local.second, local.microsecond) == (0, 0)
            minutes.add(local.time())
        assert len(minutes) == 45  # every minute 07:15..07:59 is used by someone

    def test_stable_within_a_day_and_across_restarts(self) -> None:
        slot = next_crl_refresh(utc(2026, 5, 4, 0, 0), seed="inst-A")
        for minutes in (1, 60, 300):
            after = utc(2026, 5, 4, 0, 0) + dt.timedelta(minutes=minutes)
            if after < slot:
                assert next_crl_refresh(after, seed="inst-A") == slot
        assert next_crl_refresh(slot - dt.timedelta(seconds=1), seed="inst-A") == slot
        # once passed, the next slot is tomorrow's, still inside the window
        tomorrow = next_crl_refresh(slot, seed="inst-A")
        assert tomorrow.astimezone(PARIS).date() == dt.date(2026, 5, 5)
        assert CRL_WINDOW[0] <= tomorrow.astimezone(PARIS).time() < CRL_WINDOW[1]

    def test_differs_between_installations_and_days(self) -> None:
        day = dt.date(2026, 5, 4)
        per_seed = {crl_refresh_time(day, seed=f"i{n}") for n in range(20)}
        assert len(per_seed) > 5
        per_day = {crl_refresh_time(day + dt.timedelta(days=d), seed="i0").astimezone(PARIS)
                   .time() for d in range(30)}
        assert len(per_day) > 5

    @pytest.mark.parametrize(("day", "offset_hours"), [
        (SPRING - dt.timedelta(days=1), 1), (SPRING, 2), (AUTUMN - dt.timedelta(days=1), 2),
        (AUTUMN, 1),
    ])
    def test_across_dst(self, day: dt.date, offset_hours: int) -> None:
        for n in range(50):
            got = crl_refresh_time(day, seed=f"s{n}")
            local = got.astimezone(PARIS)
            assert local.date() == day
            assert CRL_WINDOW[0] <= local.time() < CRL_WINDOW[1]
            assert local.utcoffset() == dt.timedelta(hours=offset_hours)
            assert dt.time(5, 15) <= got.time() < dt.time(7, 0)

    def test_next_over_the_spring_change(self) -> None:
        seed = "inst-B"
        before = crl_refresh_time(SPRING - dt.timedelta(days=1), seed=seed)
        after = next_crl_refresh(before, seed=seed)
        assert after == crl_refresh_time(SPRING, seed=seed)
        assert after.astimezone(PARIS).date() == SPRING

    def test_custom_window_and_refusals(self) -> None:
        window = (dt.time(22, 0), dt.time(22, 1))
        got = next_crl_refresh(utc(2026, 1, 10, 12, 0), seed="x", window=window)
        assert got == utc(2026, 1, 10, 21, 0)
        with pytest.raises(ValueError, match="seed"):
            next_crl_refresh(utc(2026, 1, 10), seed="")
        with pytest.raises(ValueError, match="end after"):
            next_crl_refresh(utc(2026, 1, 10), seed="x", window=(dt.time(8), dt.time(7)))


class TestNextAfterNextUpdate:
    def test_margin_after_next_update_in_utc(self) -> None:
        nu = dt.datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)  # ambiguous local: fold=0, CEST
        got = next_after_next_update(nu, margin=dt.timedelta(minutes=10))
        assert got == utc(2026, 10, 25, 0, 40)
        assert got.tzinfo is UTC
        assert next_after_next_update(utc(2026, 1, 1)) == utc(2026, 1, 1, 0, 5)

    def test_refusals(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            next_after_next_update(utc(2026, 1, 1), margin=dt.timedelta(seconds=-1))
        with pytest.raises(ValueError, match="aware"):
            next_after_next_update(dt.datetime(2026, 1, 1))


class TestJitteredDailyTrigger:
    def test_first_and_following_fire_times(self) -> None:
        trigger = JitteredDailyTrigger(seed="inst-C")
        now = utc(2026, 3, 28, 0, 0)
        first = trigger.get_next_fire_time(None, now)
        assert first == crl_refresh_time(dt.date(2026, 3, 28), seed="inst-C")
        assert first.tzinfo == PARIS  # APScheduler compares and shows times in the trigger zone
        second = trigger.get_next_fire_time(first, first)
        assert second == crl_refresh_time(SPRING, seed="inst-C")
        assert second.utcoffset() == dt.timedelta(hours=2)

    def test_first_fire_time_may_be_now(self) -> None:
        trigger = JitteredDailyTrigger(seed="inst-C")
        slot = crl_refresh_time(dt.date(2026, 6, 1), seed="inst-C")
        assert trigger.get_next_fire_time(None, slot) == slot

    def test_pickles_for_the_job_store(self) -> None:
        trigger = JitteredDailyTrigger(seed="inst-D", window=(dt.time(7, 20), dt.time(7, 40)))
        clone = pickle.loads(pickle.dumps(trigger))
        now = utc(2026, 10, 24, 12, 0)
        assert clone.get_next_fire_time(None, now) == trigger.get_next_fire_time(None, now)
        assert "07:20-07:40" in repr(clone)
        assert "inst-D" not in repr(clone)

    def test_refuses_bad_settings_at_once(self) -> None:
        with pytest.raises(ValueError, match="seed"):
            JitteredDailyTrigger(seed="")
        with pytest.raises(ValueError, match="end after"):
            JitteredDailyTrigger(seed="x", window=(dt.time(8), dt.time(8)))
        with pytest.raises(KeyError):  # ZoneInfoNotFoundError is a KeyError
            JitteredDailyTrigger(seed="x", timezone="Europe/Nowhere")

    def test_wired_into_apscheduler(self) -> None:
        scheduler = BackgroundScheduler(timezone=PARIS)
        scheduler.start(paused=True)
        try:
            job = scheduler.add_job(_noop, JitteredDailyTrigger(seed="inst-E"), id="crl_refresh")
            local = job.next_run_time.astimezone(PARIS)
            assert CRL_WINDOW[0] <= local.time() < CRL_WINDOW[1]
        finally:
            scheduler.shutdown(wait=False)


def _noop() -> None:
    """A job that does nothing."""
