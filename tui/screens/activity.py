"""What the service does and tells: alerts (pending, sent, failed, acknowledged; acknowledge
and snooze) and jobs (next run, last result, run now)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from certmgr.services.console import ALERT_STATES, AlertRow, JobRow
from tui.messages import Loaded
from tui.presenters import (
    ALERT_STATE_STYLES,
    alert_kind_text,
    alert_note,
    alert_text,
    job_style,
    plan_note,
    stamp_text,
    when_text,
)
from tui.screens.base import ConsoleScreen
from tui.screens.modals import ConfirmScreen, SnoozeForm

__all__ = ["AlertsScreen", "JobsScreen"]

_FILTERS = ("", *ALERT_STATES)


class AlertsScreen(ConsoleScreen):
    """Alerts due and not sent yet (pending), sent, failed, acknowledged. `k` or Enter
    acknowledges the selected alert after a confirmation, `z` acknowledges it and snoozes
    its certificate's alerts until a date (a form), as `certmgr alerts ack ID [--until]`."""

    BINDINGS = [  # noqa: RUF012 - Textual's declaration style
        Binding("k", "acknowledge", "Acknowledge",
                tooltip="Acknowledge the selected alert (stops its escalation)"),
        Binding("z", "snooze", "Snooze",
                tooltip="Acknowledge the selected alert and snooze it until a date"),
        Binding("f", "cycle_state", "State filter",
                tooltip="Show all, pending, sent, failed or acknowledged alerts"),
        Binding("r", "refresh", "Refresh", tooltip="Reload the alerts"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: tuple[AlertRow, ...] = ()
        self.shown: list[AlertRow] = []
        self.state_filter = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Alerts — pending, sent, acknowledged", classes="section")
        yield Static("Loading…", id="summary")
        yield DataTable(id="alerts", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        # State, mailbox and kind first: what fits 80 columns (the rest: ←/→).
        self.query_one(DataTable).add_columns("#", "State", "Mailbox", "Kind", "When (UTC)",
                                              "Note", "Channel", "Recipient")
        self.query_one(DataTable).focus()

    def refresh_data(self) -> None:
        app = self.console_app
        at = app.now()
        self.read("alerts", lambda: app.inventory.alert_rows(at=at))

    def action_refresh(self) -> None:
        self.refresh_data()

    def action_cycle_state(self) -> None:
        self.show_state(_FILTERS[(_FILTERS.index(self.state_filter) + 1) % len(_FILTERS)])

    def show_state(self, state: str) -> None:
        """Show only the alerts in `state` ('' : all)."""
        self.state_filter = state
        self._apply()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.what == "alerts":
            self.rows = message.value
            self._apply()

    def _apply(self) -> None:
        at = self.console_app.now()
        counts = Counter(r.state for r in self.rows)
        summary = Text()
        for i, state in enumerate(ALERT_STATES):
            summary.append(("  " if i else "") + f"{counts.get(state, 0)} {state}",
                           style=ALERT_STATE_STYLES[state])
        summary.append(f"  (f: showing {self.state_filter or 'all'})", style="dim")
        self.query_one("#summary", Static).update(summary)
        table = self.query_one(DataTable)
        before = table.cursor_row
        selected = self.shown[before] if 0 <= before < len(self.shown) else None
        self.shown = [r for r in self.rows
                      if not self.state_filter or r.state == self.state_filter]
        table.clear()
        for r in self.shown:
            table.add_row(Text("-" if r.id is None else str(r.id)),
                          Text(r.state, style=ALERT_STATE_STYLES.get(r.state, "")),
                          Text(r.mailbox or r.about or "-"), Text(alert_kind_text(r)),
                          Text(f"{r.sent_at:%Y-%m-%d %H:%M}"),
                          Text(alert_note(r, at=at), style="dim"), Text(r.channel),
                          Text(r.recipient))
        # A reload (after an action) keeps the cursor on the same alert.
        keys = [(r.id, r.mailbox, r.kind) for r in self.shown]
        key = None if selected is None else (selected.id, selected.mailbox, selected.kind)
        table.move_cursor(row=keys.index(key) if key in keys else before)
        if not self.rows:
            self.notify("No alert due nor sent: the alerts job (certmgr serve) sends them.",
                        markup=False)

    def _selected_sent(self) -> AlertRow | None:
        """The selected alert when it was sent (None, with a word why, otherwise)."""
        index = self.query_one(DataTable).cursor_row
        if not 0 <= index < len(self.shown):
            return None
        alert = self.shown[index]
        if alert.id is None:
            self.notify("This alert is due but not sent yet: there is nothing to "
                        "acknowledge before the alerts job tells it.", markup=False)
            return None
        return alert

    def _acknowledge(self, alert_id: int, until: dt.datetime | None = None) -> None:
        app = self.console_app

        def run() -> str:
            done = app.inventory.acknowledge_alert(alert_id=alert_id, at=app.now(),
                                                   actor=app.actor, until=until)
            app.generation += 1
            return done

        tail = "" if until is None else f", snoozed until {when_text(until)}"
        self.act("acknowledge", run, done=f"Alert {alert_id} acknowledged{tail}")

    def action_acknowledge(self) -> None:
        alert = self._selected_sent()
        if alert is None or alert.id is None:
            return
        alert_id = alert.id

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._acknowledge(alert_id)

        self.app.push_screen(ConfirmScreen(
            f"Acknowledge alert {alert_id} ({alert_text(alert)})? Reminders about this "
            "certificate stop.", yes="Acknowledge"), confirmed)

    def action_snooze(self) -> None:
        alert = self._selected_sent()
        if alert is None or alert.id is None:
            return
        alert_id = alert.id

        def chosen(until: dt.datetime | None) -> None:
            if until is not None:
                self._acknowledge(alert_id, until)

        self.app.push_screen(SnoozeForm(
            f"Acknowledge alert {alert_id} ({alert_text(alert)}) and snooze the alerts of "
            "its certificate until:", now=self.console_app.now()), chosen)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_acknowledge()


class JobsScreen(ConsoleScreen):
    """Scheduled jobs: next run (from the job store of `certmgr serve`, else planned from
    the configured triggers), last result; Enter or n runs the selected job now."""

    BINDINGS = [  # noqa: RUF012 - Textual's declaration style
        Binding("n", "run_now", "Run now", tooltip="Run the selected job now"),
        Binding("r", "refresh", "Refresh", tooltip="Reload the jobs"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: tuple[JobRow, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Jobs — next runs, last result", classes="section")
        yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="plan", classes="note")
        yield Footer()

    def on_mount(self) -> None:
        # Next run and last result first: what fits 80 columns is what an operator checks.
        self.query_one(DataTable).add_columns("Job", "Next run (UTC)", "Result",
                                              "Last run (UTC)", "From", "Seconds", "Runs")
        self.query_one(DataTable).focus()

    def refresh_data(self) -> None:
        app = self.console_app
        at = app.now()
        self.read("jobs", lambda: (at, app.inventory.job_rows(names=app.job_names, at=at)))

    def action_refresh(self) -> None:
        self.refresh_data()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.what != "jobs":
            return
        at, self.rows = message.value
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for job in self.rows:
            source = "" if job.next_run is None else "config" if job.planned else "serve"
            table.add_row(Text(job.name, style="bold"), Text(stamp_text(job.next_run, at=at)),
                          Text(job.result, style=job_style(job)),
                          Text(stamp_text(job.last_started, at=at, none="never")),
                          Text(source, style="dim"),
                          Text("" if job.last_seconds is None else f"{job.last_seconds:.1f}"),
                          Text(str(job.runs)))
        table.move_cursor(row=cursor)
        self.query_one("#plan", Static).update(Text(plan_note(self.rows), style="dim"))

    def action_run_now(self) -> None:
        index = self.query_one(DataTable).cursor_row
        if not 0 <= index < len(self.rows):
            return
        name = self.rows[index].name
        app = self.console_app
        if name not in app.job_names:  # crl_refresh_next_update: a one-off crl_refresh
            self.notify(f"{name} is scheduled by `certmgr serve`; run crl_refresh instead.",
                        markup=False)
            return
        self.notify(f"Running job {name}…", markup=False)

        def run() -> dict[str, Any]:
            details = app.inventory.run_job(name, now=app.now())
            app.generation += 1
            return details

        self.act(f"job:{name}", run, done=lambda details: f"Job {name} done: " + ", ".join(
            f"{k}={v}" for k, v in details.items() if not isinstance(v, dict | list)))

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_run_now()
