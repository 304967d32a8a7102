"""Pure helpers of the wave-3 console, without Textual: column fitting, renewal steps,
alert and job texts, passphrase rules."""

from __future__ import annotations

import datetime as dt

import pytest

from certmgr.services.console import AlertRow, JobRow, RenewalEntry
from certmgr.store.models import RenewalState
from tui.presenters import alert_text, job_style, renewal_steps
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
    assert sent.state == "pending"
    assert alert_text(sent) == "a@b.fr — EXPIRY_THRESHOLD 30 d, 2025-06-01 12:00 UTC"
    acked = AlertRow(1, AT, "EXPIRED", "email", "ops@x", "sent", None, None, None,
                     AT + dt.timedelta(hours=1), "me")
    assert acked.state == "acknowledged"
    older_ack = AlertRow(1, AT, "EXPIRED", "email", "ops@x", "sent", None, None, None,
                         AT - dt.timedelta(days=1), "me")
    assert older_ack.state == "pending"  # acknowledged before this alert was told
    failed = AlertRow(1, AT, "EXPIRED", "email", "ops@x", "failed", None, None, "refused",
                      None, None)
    assert failed.state == "failed"


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
