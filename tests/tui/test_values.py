"""Pure helpers of the wave-3 console, without Textual: column fitting, renewal steps,
alert and job texts, passphrase rules."""

from __future__ import annotations

import datetime as dt

import pytest

from certmgr.services.console import AlertRow, JobRow, RenewalEntry
from certmgr.store.models import RenewalState
from tui.presenters import (
    alert_note,
    alert_text,
    job_style,
    next_jobs,
    parse_snooze,
    relative_text,
    renewal_steps,
    stamp_text,
)
from tui.rowtable import Column, fit_columns
from tui.screens.mailboxes import COLUMNS
from tui.screens.modals import passphrase_problem

AT = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


class TestFitColumns:
    """Columns shrink to their minimum, then the most droppable go first."""

    def test_room_to_spare_goes_to_the_first_column(self) -> None:
        fitted = fit_columns(COLUMNS, 200)
        assert [c.key for c, _ in fitted] == [c.key for c in COLUMNS]
        assert sum(w for _, w in fitted) + len(fitted) - 1 == 200
        assert fitted[0][1] == 200 - sum(c.width for c in COLUMNS[1:]) - len(COLUMNS) + 1

    @pytest.mark.parametrize("width", [78, 100, 118])
    def test_every_column_fits_at_terminal_widths(self, width: int) -> None:
        fitted = fit_columns(COLUMNS, width)
        assert len(fitted) == len(COLUMNS)
        assert sum(w for _, w in fitted) + len(fitted) - 1 == width
        assert all(w >= c.min_width for c, w in fitted)

    def test_narrow_drops_the_issuer_first(self) -> None:
        fitted = fit_columns(COLUMNS, 60)
        assert [c.key for c, _ in fitted] == ["address", "structure", "status", "days",
                                              "renewal"]
        assert sum(w for _, w in fitted) + len(fitted) - 1 == 60

    def test_one_column_never_dropped(self) -> None:
        only = [Column("A", "a", 10, 5)]
        assert fit_columns(only, 3) == [(only[0], 3)]


def test_renewal_steps() -> None:
    open_one = RenewalEntry(1, RenewalState.ORDERED, "ORG_AUTH_CLI", AT, AT, "ops", "R-42",
                            None, AT)
    assert renewal_steps(open_one) == ["CSR 2025-06-01", "ordered 2025-06-01 (ref R-42)"]
    done = RenewalEntry(2, RenewalState.ACTIVE, "ORG_AUTH_CLI", AT, None, None, None,
                        AT + dt.timedelta(days=3), AT)
    assert renewal_steps(done) == ["CSR 2025-06-01", "active 2025-06-04"]
    dropped = RenewalEntry(3, RenewalState.ABANDONED, "ORG_AUTH_CLI", AT, None, None, None,
                           None, AT + dt.timedelta(days=1))
    assert renewal_steps(dropped) == ["CSR 2025-06-01", "abandoned 2025-06-02"]


def test_alert_row_states_and_text() -> None:
    sent = AlertRow(1, AT, "EXPIRY_THRESHOLD", "email", "ops@x", "sent", "a@b.fr", 30, None,
                    None, None)
    assert sent.state == "sent"
    assert alert_text(sent) == "a@b.fr — EXPIRY_THRESHOLD 30 d, 2025-06-01 12:00 UTC"
    acked = AlertRow(1, AT, "EXPIRED", "email", "ops@x", "sent", None, None, None,
                     AT + dt.timedelta(hours=1), "me")
    assert acked.state == "acknowledged"
    older_ack = AlertRow(1, AT, "EXPIRED", "email", "ops@x", "sent", None, None, None,
                         AT - dt.timedelta(days=1), "me")
    assert older_ack.state == "sent"  # acknowledged before this alert was told
    failed = AlertRow(1, AT, "EXPIRED", "email", "ops@x", "failed", None, None, "refused",
                      None, None)
    assert failed.state == "failed"
    due = AlertRow(None, AT, "crl_stale", "-", "-", "due", None, None, None, None, None,
                   about="AC X")
    assert due.state == "pending"
    assert alert_text(due) == "AC X — CRL_STALE, 2025-06-01 12:00 UTC"
    assert alert_note(due, at=AT) == "due, not sent yet"


def test_alert_note_names_the_acknowledgement_and_a_running_snooze() -> None:
    until = AT + dt.timedelta(days=7)
    acked = AlertRow(3, AT, "expired", "email", "ops@x", "sent", "a@b.fr", None, None,
                     AT, "me", until)
    assert alert_note(acked, at=AT) == "snoozed until 2025-06-08 12:00"
    assert alert_note(acked, at=until) == "by me, 2025-06-01 12:00"  # the snooze is over
    midnight = AlertRow(3, AT, "expired", "email", "ops@x", "sent", "a@b.fr", None, None,
                        AT, "me", dt.datetime(2025, 6, 15, tzinfo=dt.UTC))
    assert alert_note(midnight, at=AT) == "snoozed until 2025-06-15"
    failed = AlertRow(4, AT, "expired", "email", "ops@x", "failed", "a@b.fr", None,
                      "550 refused", None, None)
    assert alert_note(failed, at=AT) == "550 refused"


@pytest.mark.parametrize(("text", "until", "problem"), [
    ("2025-06-08", dt.datetime(2025, 6, 8, tzinfo=dt.UTC), None),
    ("2025-06-01T14:30Z", dt.datetime(2025, 6, 1, 14, 30, tzinfo=dt.UTC), None),
    ("2025-06-01T16:30+02:00", dt.datetime(2025, 6, 1, 14, 30, tzinfo=dt.UTC), None),
    ("2025-06-01T12:00Z", AT, "2025-06-01 12:00 UTC is not in the future."),
    ("2025-05-31", dt.datetime(2025, 5, 31, tzinfo=dt.UTC),
     "2025-05-31 00:00 UTC is not in the future."),
    ("next week", None, "not an ISO 8601 date or datetime: 'next week'"),
    ("  ", None, "A date, please (YYYY-MM-DD, or YYYY-MM-DDTHH:MM in UTC)."),
])
def test_parse_snooze_reads_dates_like_the_cli(text: str, until: dt.datetime | None,
                                               problem: str | None) -> None:
    assert parse_snooze(text, now=AT) == (until, problem)


def test_relative_text_and_next_jobs() -> None:
    assert relative_text(AT + dt.timedelta(minutes=5), at=AT) == "in 5 min"
    assert relative_text(AT + dt.timedelta(hours=18), at=AT) == "in 18 h"
    assert relative_text(AT - dt.timedelta(days=3), at=AT) == "3 d ago"
    assert relative_text(AT + dt.timedelta(seconds=59), at=AT) == "now"
    assert relative_text(AT - dt.timedelta(seconds=60), at=AT) == "1 min ago"
    assert stamp_text(AT + dt.timedelta(hours=18), at=AT) == "2025-06-02 06:00 (in 18 h)"
    assert stamp_text(None, at=AT, none="never") == "never"
    jobs = [JobRow("b", AT + dt.timedelta(hours=1), None, None, None, None, 0),
            JobRow("never", None, None, None, None, None, 0),
            JobRow("a", AT + dt.timedelta(hours=1), None, None, None, None, 0),
            JobRow("soon", AT, None, None, None, None, 0)]
    assert [j.name for j in next_jobs(jobs)] == ["soon", "a", "b"]
    assert [j.name for j in next_jobs(jobs, limit=1)] == ["soon"]


def test_job_result_and_style() -> None:
    never = JobRow("scan", None, None, None, None, None, 0)
    assert (never.result, job_style(never)) == ("never run", "dim")
    ok = JobRow("scan", AT, AT, True, None, 1.5, 3)
    assert (ok.result, job_style(ok)) == ("ok", "green")
    bad = JobRow("scan", None, AT, False, "JobError: boom", 0.1, 1)
    assert (bad.result, job_style(bad)) == ("failed: JobError: boom", "bold red")


@pytest.mark.parametrize(("first", "second", "problem"), [
    ("short", "short", "At least 12 characters, please."),
    ("long enough pass", "long enough pasS", "The two entries differ."),
    ("long enough pass", "long enough pass", None),
])
def test_passphrase_rules(first: str, second: str, problem: str | None) -> None:
    assert passphrase_problem(first, second) == problem
