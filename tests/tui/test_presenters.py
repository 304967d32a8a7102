"""Presenters, without Textual: colours, days-left text, the expiry chart, filters, sorting."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from certmgr.services.console import MailboxRow, MailboxStatus, MonthCount, month_buckets
from certmgr.services.status import CrlFreshness
from tui.presenters import (
    FILTER_KEYS,
    DashboardFit,
    crl_freshness_short,
    crl_freshness_text,
    days_left_text,
    filter_rows,
    month_columns,
    month_histogram,
    sort_rows,
    status_style,
    worst_crls_first,
)

AT = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


def row(address: str, status: MailboxStatus, days: int | None, structure: str = "S") -> MailboxRow:
    return MailboxRow(address, structure, "3123", status, days, "ISSUER", "",
                      f"{address}\t{structure}".lower())


@pytest.mark.parametrize(("status", "colour"), [
    ("OK", "green"), ("RENEW_SOON", "yellow"), ("CRITICAL", "dark_orange"), ("EXPIRED", "red"),
    ("REVOKED", "red"), ("INVALID", "red"), ("NO_CERTIFICATE", "grey50")])
def test_status_colours(status: str, colour: str) -> None:
    assert colour in status_style(status)


def test_quick_filter_keys_cover_every_status_in_order() -> None:
    assert FILTER_KEYS == {"1": "OK", "2": "RENEW_SOON", "3": "CRITICAL", "4": "EXPIRED",
                           "5": "REVOKED", "6": "INVALID", "7": "NO_CERTIFICATE"}


@pytest.mark.parametrize(("days", "text"), [(None, "-"), (0, "today"), (1, "1 d"),
                                            (-1, "1 d ago"), (365, "365 d")])
def test_days_left_text(days: int | None, text: str) -> None:
    assert days_left_text(days) == text


def test_crl_freshness_one_second_either_side_of_next_update() -> None:
    nu = AT + dt.timedelta(days=2)
    assert crl_freshness_text(nu, at=nu - dt.timedelta(seconds=1))[0].startswith("fresh")
    assert crl_freshness_text(nu, at=nu)[0].startswith("STALE")
    assert crl_freshness_text(nu, at=AT)[1] == "green"


def crl(issuer: str, next_update: dt.datetime | None, *, delta: bool = False) -> CrlFreshness:
    fresh = next_update is not None and next_update > AT
    return CrlFreshness(issuer, AT - dt.timedelta(days=1), next_update, fresh, delta)


def test_crls_worst_first_with_a_short_freshness() -> None:
    soon, later = AT + dt.timedelta(hours=3), AT + dt.timedelta(days=5)
    crls = [crl("CN=B", later), crl("CN=A", later, delta=True), crl("CN=A", later),
            crl("CN=C", soon), crl("CN=D", None), crl("CN=E", AT - dt.timedelta(hours=2))]
    ordered = worst_crls_first(crls, at=AT)
    assert [(c.issuer, c.is_delta) for c in ordered] == [
        ("CN=E", False), ("CN=D", False), ("CN=C", False), ("CN=A", False), ("CN=A", True),
        ("CN=B", False)]
    assert [crl_freshness_short(c.next_update, at=AT) for c in ordered[:4]] == [
        ("STALE 2 h ago", "bold red"), ("no nextUpdate", "yellow"), ("next in 3 h", "yellow"),
        ("next in 5 d", "green")]


@pytest.mark.parametrize(("height", "jobs", "chart", "lines"),
                         [(24, 2, 3, 3), (32, 2, 3, 11), (33, 5, 5, 3), (36, 5, 5, 6),
                          (90, 5, 5, 60)])
def test_dashboard_fit_keeps_80x24_whole(height: int, jobs: int, chart: int,
                                         lines: int) -> None:
    fit = DashboardFit.of(height)
    assert (fit.jobs, fit.chart, fit.lines) == (jobs, chart, lines)
    # header + footer + counts/activity (a title line, jobs, expiries, borders) + chart
    # (bars, 3 label rows, borders) + CRLs/alerts (lines, borders) fit the terminal.
    top = max(7, 3 + 2 * fit.jobs + (1 if fit.jobs > 3 else 0)) + 2
    assert 2 + top + fit.chart + 3 + 2 + fit.lines + 2 <= max(height, 24)


def test_month_buckets_span_18_months_from_this_month() -> None:
    dates = [AT + dt.timedelta(days=d) for d in (1, 2, 40, 540)] + [AT - dt.timedelta(days=1)]
    buckets = month_buckets(dates, at=AT)
    assert len(buckets) == 18
    assert (buckets[0].year, buckets[0].month, buckets[0].count) == (2025, 6, 2)
    assert buckets[1].count == 1
    assert (buckets[17].year, buckets[17].month) == (2026, 11)
    assert buckets[17].count == 1  # 540 days later is November 2026


def test_month_columns_fit_80_columns_and_scale_to_the_peak() -> None:
    months = [MonthCount(2025 + (5 + i) // 12, (5 + i) % 12 + 1, c)
              for i, c in enumerate([8, 4, 0, 1] + [0] * 14)]
    lines = month_columns(months, height=4)
    assert all(len(line) <= 72 for line in lines)
    assert lines[0] == "███"  # only the peak reaches the top row
    assert lines[2].startswith("███ ███")  # half the peak fills half the height
    assert lines[3][12:15] == "▄▄▄"  # an eighth of the peak over 4 rows: half a row
    assert lines[4].split() == ["8", "4", "·", "1", *["·"] * 14]
    assert lines[5].split()[:2] == ["Jun", "Jul"]
    assert lines[6].split() == ["25", "26"]


def test_month_histogram_shows_a_sliver_for_any_expiry() -> None:
    lines = month_histogram([MonthCount(2025, 6, 1000), MonthCount(2025, 7, 1)], width=10)
    assert lines[0] == "Jun 25 ██████████  1000"
    assert lines[1].startswith("Jul 25 ▏")


def test_filter_every_word_case_insensitive_and_status() -> None:
    rows = [row("a@x.fr", MailboxStatus.OK, 100, "Clinique"),
            row("b@y.fr", MailboxStatus.EXPIRED, -3, "Clinique Sud"),
            row("c@x.fr", MailboxStatus.EXPIRED, -1, "CHU")]
    assert [r.address for r in filter_rows(rows, text="CLINIQUE sud")] == ["b@y.fr"]
    assert [r.address for r in filter_rows(rows, text="x.fr",
                                           statuses=frozenset({"EXPIRED"}))] == ["c@x.fr"]
    assert len(filter_rows(rows)) == 3


def test_sort_status_worst_first_days_none_last() -> None:
    rows = [row("a", MailboxStatus.OK, 100), row("b", MailboxStatus.NO_CERTIFICATE, None),
            row("c", MailboxStatus.EXPIRED, -1), row("d", MailboxStatus.CRITICAL, 5)]
    assert [r.address for r in sort_rows(rows, key="status")] == ["c", "d", "b", "a"]
    assert [r.address for r in sort_rows(rows, key="days")] == ["c", "d", "a", "b"]


def test_presenters_load_without_textual() -> None:
    code = ("import sys, tui.presenters; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
