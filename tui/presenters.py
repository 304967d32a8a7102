"""Pure functions from service values to what the screens show. No Textual here.

Colours are Rich style strings so the same palette reads on the light and the dark
theme: OK green, RENEW_SOON yellow, CRITICAL orange, EXPIRED/REVOKED/INVALID red,
NO_CERTIFICATE grey.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from certmgr.clock import parse_instant
from certmgr.services.console import (
    STATUSES,
    AlertRow,
    JobRow,
    MailboxRow,
    MonthCount,
    RenewalEntry,
)
from certmgr.services.status import CrlFreshness

__all__ = [
    "ALERT_STATE_STYLES",
    "FILTER_KEYS",
    "STATUS_LABELS",
    "STATUS_STYLES",
    "DashboardFit",
    "alert_kind_text",
    "alert_note",
    "alert_text",
    "crl_freshness_short",
    "crl_freshness_text",
    "crl_is_fresh",
    "days_left_text",
    "filter_rows",
    "job_label",
    "job_style",
    "month_columns",
    "month_histogram",
    "next_jobs",
    "parse_snooze",
    "plan_note",
    "relative_text",
    "renewal_steps",
    "short_issuer",
    "sort_rows",
    "stamp_text",
    "status_label",
    "status_style",
    "when_text",
    "worst_crls_first",
]

STATUS_STYLES: dict[str, str] = {
    "OK": "bold green",
    "RENEW_SOON": "bold yellow",
    "CRITICAL": "bold dark_orange",
    "EXPIRED": "bold red",
    "REVOKED": "bold red",
    "INVALID": "bold red",
    "NO_CERTIFICATE": "grey50",
}
STATUS_LABELS: dict[str, str] = {
    "OK": "OK",
    "RENEW_SOON": "Renew soon",
    "CRITICAL": "Critical",
    "EXPIRED": "Expired",
    "REVOKED": "Revoked",
    "INVALID": "Invalid",
    "NO_CERTIFICATE": "No certificate",
}
FILTER_KEYS: dict[str, str] = {str(i + 1): str(s) for i, s in enumerate(STATUSES)}
"""Quick-filter keys: 1 OK ... 7 NO_CERTIFICATE."""
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
               "Dec")
_EIGHTHS = " ▏▎▍▌▋▊▉"
R = TypeVar("R", bound=MailboxRow)
C = TypeVar("C", bound=CrlFreshness)


def status_style(status: str) -> str:
    return STATUS_STYLES.get(str(status), "")


def status_label(status: str) -> str:
    return STATUS_LABELS.get(str(status), str(status))


def short_issuer(name: str) -> str:
    """'AC IGC-SANTE ELEMENTAIRE ORGANISATIONS' -> 'ELEMENTAIRE ORGANISATIONS'."""
    return name.removeprefix("AC ").removeprefix("IGC-SANTE ").strip()


def days_left_text(days: int | None) -> str:
    """'12 d', 'today', '3 d ago' (expired), '-' (no certificate)."""
    if days is None:
        return "-"
    if days == 0:
        return "today"
    if days < 0:
        return f"{-days} d ago"
    return f"{days} d"


def _span(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 172_800:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86_400)} d"


def when_text(moment: dt.datetime | None, *, at: dt.datetime | None = None) -> str:
    """'2025-06-01 12:00 UTC', with '(3 h ago)' style age when `at` is given; 'never'."""
    if moment is None:
        return "never"
    text = f"{moment:%Y-%m-%d %H:%M} UTC"
    if at is None:
        return text
    return f"{text} ({relative_text(moment, at=at)})"


def relative_text(moment: dt.datetime, *, at: dt.datetime) -> str:
    """'in 5 min', 'in 18 h', 'in 3 d', '2 h ago'; 'now' within a minute of `at`."""
    seconds = (at - moment).total_seconds()
    if abs(seconds) < 60:
        return "now"
    return f"{_span(seconds)} ago" if seconds > 0 else f"in {_span(-seconds)}"


def stamp_text(moment: dt.datetime | None, *, at: dt.datetime, none: str = "-") -> str:
    """'2025-06-02 06:30 (in 18 h)' for a column headed '(UTC)'; `none` for None."""
    if moment is None:
        return none
    return f"{moment:%Y-%m-%d %H:%M} ({relative_text(moment, at=at)})"


def parse_snooze(text: str, *, now: dt.datetime) -> tuple[dt.datetime | None, str | None]:
    """The instant a snooze lasts until, read as `certmgr alerts ack --until` reads it
    (ISO 8601; a date means 00:00 UTC), and why it is refused (None: accepted): it must
    be after `now`."""
    if not text.strip():
        return None, "A date, please (YYYY-MM-DD, or YYYY-MM-DDTHH:MM in UTC)."
    try:
        until = parse_instant(text)
    except ValueError as exc:
        return None, str(exc)
    if until <= now:
        return until, f"{until:%Y-%m-%d %H:%M} UTC is not in the future."
    return until, None


def crl_freshness_text(next_update: dt.datetime | None, *, at: dt.datetime) -> tuple[str, str]:
    """(text, style) of a CRL's freshness at `at`."""
    if next_update is None:
        return "no nextUpdate", "yellow"
    if at >= next_update:
        return f"STALE since {when_text(next_update, at=at)}", "bold red"
    hours = (next_update - at).total_seconds() / 3600
    style = "yellow" if hours < 24 else "green"
    return f"fresh, next {when_text(next_update, at=at)}", style


def crl_is_fresh(next_update: dt.datetime | None, *, at: dt.datetime) -> bool:
    """Fresh while `at` is before nextUpdate (a CRL without one is not)."""
    return next_update is not None and at < next_update


def crl_freshness_short(next_update: dt.datetime | None, *, at: dt.datetime
                        ) -> tuple[str, str]:
    """(text, style) for a one-line list: 'STALE 1 h ago', 'next in 5 d', 'no nextUpdate'."""
    if next_update is None:
        return "no nextUpdate", "yellow"
    _, style = crl_freshness_text(next_update, at=at)
    if at >= next_update:
        return f"STALE {relative_text(next_update, at=at)}", style
    return f"next {relative_text(next_update, at=at)}", style


def worst_crls_first(crls: Iterable[C], *, at: dt.datetime) -> list[C]:
    """Stale CRLs first, then those without nextUpdate, then the soonest nextUpdate;
    ties by issuer, a base CRL before its delta."""
    far = dt.datetime.max.replace(tzinfo=dt.UTC)

    def rank(crl: C) -> tuple[int, dt.datetime, str, bool]:
        fresh = crl_is_fresh(crl.next_update, at=at)
        group = 2 if fresh else (0 if crl.next_update is not None else 1)
        return group, crl.next_update or far, crl.issuer, crl.is_delta

    return sorted(crls, key=rank)


@dataclass(frozen=True, slots=True)
class DashboardFit:
    """How much of each card fits a terminal `height` rows tall (80x24 shows every card
    without scrolling; taller terminals show more of each)."""

    jobs: int
    chart: int
    lines: int
    """Lines for the CRL and the alerts cards."""

    @classmethod
    def of(cls, height: int) -> DashboardFit:
        if height < 33:  # 80x24: 22 rows = 9 counts/activity, 8 chart, 5 CRLs/alerts
            return cls(jobs=2, chart=3, lines=max(3, height - 2 - 9 - 8 - 2))
        # header, footer, 16 counts/activity, 10 chart, 2 borders
        return cls(jobs=5, chart=5, lines=max(3, height - 2 - 16 - 10 - 2))


def month_histogram(months: Sequence[MonthCount], *, width: int = 40) -> list[str]:
    """One text line per month: 'Jun 25 ████▌      12', bars scaled to the busiest month
    over `width` cells with eighth-block precision; a month with any expiry shows at
    least a sliver."""
    peak = max((m.count for m in months), default=0)
    lines = []
    for m in months:
        label = f"{_MONTH_ABBR[m.month - 1]} {m.year % 100:02d}"
        eighths = 0 if peak == 0 else round(m.count * width * 8 / peak)
        if m.count and eighths == 0:
            eighths = 1
        full, part = divmod(eighths, 8)
        bar = "█" * full + (_EIGHTHS[part] if part else "")
        lines.append(f"{label} {bar:<{width}} {m.count:>5}")
    return lines


_LEVELS = " ▁▂▃▄▅▆▇█"


def month_columns(months: Sequence[MonthCount], *, height: int = 6) -> list[str]:
    """A vertical bar chart, one 4-cell column per month (72 cells for 18 months, so it
    fits 80 columns): `height` bar rows scaled to the busiest month with eighth-block
    precision, a row of counts, a row of month initials with the year under January
    and under the first month."""
    peak = max((m.count for m in months), default=0)
    levels = [0 if peak == 0 else max(1 if m.count else 0, round(m.count * height * 8 / peak))
              for m in months]
    rows = []
    for row in range(height, 0, -1):
        cells = []
        for level in levels:
            fill = min(8, max(0, level - (row - 1) * 8))
            cells.append(f"{_LEVELS[fill] * 3} ")
        rows.append("".join(cells).rstrip())
    rows.append("".join(f"{m.count:>3} " if m.count else "  · " for m in months).rstrip())
    rows.append("".join(f"{_MONTH_ABBR[m.month - 1]:>3} " for m in months).rstrip())
    rows.append("".join(f"{m.year % 100:>3} " if (m.month == 1 or i == 0) else "    "
                        for i, m in enumerate(months)).rstrip())
    return rows


def filter_rows(rows: Iterable[R], *, text: str = "", statuses: frozenset[str] = frozenset(),
                ) -> list[R]:
    """Rows whose search key holds every word of `text` (case-insensitive) and whose
    status is one of `statuses` (all when empty)."""
    words = text.lower().split()
    return [r for r in rows
            if (not statuses or str(r.status) in statuses)
            and all(w in r.search for w in words)]


_STATUS_RANK = {str(s): i for i, s in enumerate(
    ("EXPIRED", "REVOKED", "INVALID", "CRITICAL", "RENEW_SOON", "NO_CERTIFICATE", "OK"))}


def sort_rows(rows: Sequence[R], *, key: str, reverse: bool = False) -> list[R]:
    """Sort by a column: address, structure, status (worst first), days (soonest first,
    none last), issuer, renewal; ties by address."""
    big = 10**9
    keys = {
        "address": lambda r: (r.address,),
        "structure": lambda r: (r.structure.lower(), r.address),
        "status": lambda r: (_STATUS_RANK.get(str(r.status), 99), r.address),
        "days": lambda r: (big if r.days_left is None else r.days_left, r.address),
        "issuer": lambda r: (r.issuer, r.address),
        "renewal": lambda r: (r.renewal, r.address),
    }
    return sorted(rows, key=keys[key], reverse=reverse)


ALERT_STATE_STYLES = {"pending": "bold magenta", "sent": "bold yellow", "failed": "bold red",
                      "acknowledged": "green"}


def alert_kind_text(alert: AlertRow) -> str:
    """'EXPIRY_THRESHOLD 30 d', 'CRL_STALE'."""
    return alert.kind.upper() + (f" {alert.threshold} d" if alert.threshold is not None
                                 else "")


def alert_text(alert: AlertRow) -> str:
    """'labo@x.fr — EXPIRY_THRESHOLD 30 d, 2025-06-01 08:30 UTC'."""
    return (f"{alert.mailbox or alert.about or '-'} — {alert_kind_text(alert)}, "
            f"{when_text(alert.sent_at)}")


def alert_note(alert: AlertRow, *, at: dt.datetime) -> str:
    """The note column of the alerts table: the error, the snooze while it runs (else who
    acknowledged, and when), or what happens next to a pending alert."""
    if alert.state == "pending":
        return "due, not sent yet"
    parts = [alert.error] if alert.error else []
    if alert.acknowledged and alert.snoozed_until is not None and alert.snoozed_until > at:
        until = alert.snoozed_until
        parts.append(f"snoozed until {until:%Y-%m-%d}" + (
            "" if until.time() == dt.time(0) else f" {until:%H:%M}"))
    elif alert.acknowledged and alert.acknowledged_at is not None:
        parts.append(f"by {alert.acknowledged_by}, {alert.acknowledged_at:%Y-%m-%d %H:%M}")
    return "; ".join(parts)


def next_jobs(jobs: Iterable[JobRow], *, limit: int = 6) -> list[JobRow]:
    """The jobs that have a next run, soonest first (ties by name), at most `limit`."""
    timed = [j for j in jobs if j.next_run is not None]
    return sorted(timed, key=lambda j: (j.next_run, j.name))[:limit]


_JOB_LABELS = {"crl_refresh_next_update": "crl nextUpdate"}


def job_label(name: str) -> str:
    """A job's name where room is short ('crl nextUpdate' for the one-off refresh)."""
    return _JOB_LABELS.get(name, name)


def plan_note(jobs: Sequence[JobRow]) -> str:
    """Where the jobs' next runs come from, under the jobs table."""
    if any(j.next_run is not None and not j.planned for j in jobs):
        lines = ["From serve: the job store of the running `certmgr serve`."]
    else:
        lines = [("From config: no `certmgr serve` has stored its jobs here; planned from "
                  "the configuration ([schedule]) as it would run them.")]
    if any(j.name == "crl_refresh" and j.next_run is None for j in jobs):
        lines.append("crl_refresh runs daily at a minute between 07:15 and 08:00 (Paris) that "
                     "`certmgr serve` picks on its first start.")
    lines.append("scan runs right after each crl_refresh.")
    return "\n".join(lines)


def job_style(job: JobRow) -> str:
    """Green when the last run succeeded, red when it failed, dim when never run."""
    if job.last_ok is None:
        return "dim"
    return "green" if job.last_ok else "bold red"


def renewal_steps(renewal: RenewalEntry) -> list[str]:
    """'CSR 2025-06-01', 'ordered 2025-06-02 (ref X)', then the final state when closed."""
    steps = [f"CSR {renewal.created_at:%Y-%m-%d}"]
    if renewal.ordered_at is not None:
        ref = f" (ref {renewal.order_ref})" if renewal.order_ref else ""
        steps.append(f"ordered {renewal.ordered_at:%Y-%m-%d}{ref}")
    if renewal.activated_at is not None:
        steps.append(f"active {renewal.activated_at:%Y-%m-%d}")
    elif renewal.label not in ("CSR ready", "ordered"):
        steps.append(f"{renewal.label} {renewal.updated_at:%Y-%m-%d}")
    return steps
