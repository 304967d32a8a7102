"""Read-only table screens: trust anchors and CRLs, audit log (filterable), alerts, jobs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from certmgr.services.console import AlertRow, AuditRow, JobRow
from tui.messages import Loaded
from tui.presenters import (
    ALERT_STATE_STYLES,
    alert_text,
    crl_freshness_text,
    days_left_text,
    job_style,
    when_text,
)
from tui.screens.base import ConsoleScreen
from tui.screens.modals import ConfirmScreen

__all__ = ["AlertsScreen", "AuditScreen", "JobsScreen", "TrustScreen"]


class TrustScreen(ConsoleScreen):
    """Trust anchors and intermediates, then the current CRLs with their freshness."""

    BINDINGS = [Binding("r", "refresh", "Refresh")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Trust anchors and CA certificates", classes="section")
        yield DataTable(id="cas", cursor_type="row", zebra_stripes=True)
        yield Static("Certificate revocation lists", classes="section")
        yield DataTable(id="crls", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cas", DataTable).add_columns(
            "Name", "Role", "Env", "Pinned", "Expires", "SHA-256", "Source")
        self.query_one("#crls", DataTable).add_columns(
            "Issuer", "Number", "Freshness", "Entries", "Delta", "Verified", "Source")

    def refresh_data(self) -> None:
        app = self.console_app
        at = app.now()
        self.read("trust", lambda: (at, app.inventory.trust_rows(at=at),
                                    app.inventory.crl_rows(at=at)))

    def action_refresh(self) -> None:
        self.refresh_data()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.what != "trust":
            return
        at, cas, crls = message.value
        table = self.query_one("#cas", DataTable)
        table.clear()
        for ca in cas:
            style = "red" if ca.days_left < 0 else ("yellow" if ca.days_left < 365 else "")
            table.add_row(Text(ca.name), ca.role, ca.environment, "yes" if ca.pinned else "",
                          Text(f"{ca.not_after:%Y-%m-%d} ({days_left_text(ca.days_left)})",
                               style=style), ca.fingerprint, Text(ca.source))
        table = self.query_one("#crls", DataTable)
        table.clear()
        for crl in crls:
            fresh, style = crl_freshness_text(crl.next_update, at=at)
            table.add_row(Text(crl.issuer), "" if crl.number is None else str(crl.number),
                          Text(fresh, style=style), str(crl.entries),
                          "Δ" if crl.delta else "", "yes" if crl.verified else "no",
                          Text(crl.source))
        if not cas and not crls:
            self.notify("No trust material yet: import the IGC Santé CAs and CRLs.",
                        markup=False)


class AuditScreen(ConsoleScreen):
    """The audit log, newest first, filter-as-you-type."""

    BINDINGS = [Binding("slash", "focus_filter", "Filter"),  # noqa: RUF012
                Binding("escape", "leave_filter", "Back to table", show=False),
                Binding("r", "refresh", "Refresh")]

    def __init__(self) -> None:
        super().__init__()
        self.rows: tuple[AuditRow, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="Filter: actor, action, object, details…", id="filter")
        yield DataTable(id="audit", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("#", "When (UTC)", "Actor", "Action", "Object",
                                              "Details")
        self.query_one(DataTable).focus()

    def refresh_data(self) -> None:
        self.read("audit", self.console_app.inventory.audit_rows)

    def action_refresh(self) -> None:
        self.refresh_data()

    def action_focus_filter(self) -> None:
        self.query_one(Input).focus()

    def action_leave_filter(self) -> None:
        self.query_one(DataTable).focus()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.what == "audit":
            self.rows = message.value
            self._apply()

    @on(Input.Changed)
    def _apply(self) -> None:
        words = self.query_one(Input).value.lower().split()
        table = self.query_one(DataTable)
        table.clear()
        table.add_rows([tuple(Text(c) for c in (str(r.id), f"{r.at:%Y-%m-%d %H:%M:%S}",
                                                r.actor, r.action, r.object, r.details))
                        for r in self.rows if all(w in r.search for w in words)])


class AlertsScreen(ConsoleScreen):
    """Alerts sent: pending (told, not acknowledged), failed, acknowledged; Enter or k
    acknowledges the selected one after a confirmation; p shows only the pending."""

    BINDINGS = [Binding("k", "acknowledge", "Acknowledge"),  # noqa: RUF012
                Binding("p", "toggle_pending", "Pending only"),
                Binding("r", "refresh", "Refresh")]

    def __init__(self) -> None:
        super().__init__()
        self.rows: tuple[AlertRow, ...] = ()
        self.shown: list[AlertRow] = []
        self.pending_only = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Alerts — sent, pending, acknowledged", classes="section")
        yield Static("Loading…", id="summary")
        yield DataTable(id="alerts", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("#", "Sent (UTC)", "State", "Mailbox", "Kind",
                                              "Channel", "Recipient", "Note")
        self.query_one(DataTable).focus()

    def refresh_data(self) -> None:
        self.read("alerts", self.console_app.inventory.alert_rows)

    def action_refresh(self) -> None:
        self.refresh_data()

    def action_toggle_pending(self) -> None:
        self.pending_only = not self.pending_only
        self._apply()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.what == "alerts":
            self.rows = message.value
            self._apply()

    def _apply(self) -> None:
        counts = Counter(r.state for r in self.rows)
        summary = Text()
        summary.append(f"{len(self.rows)} sent", style="bold")
        for state in ("pending", "failed", "acknowledged"):
            summary.append(f"  {counts.get(state, 0)} {state}", style=ALERT_STATE_STYLES[state])
        if self.pending_only:
            summary.append("  (pending only: p shows all)", style="dim")
        self.query_one("#summary", Static).update(summary)
        self.shown = [r for r in self.rows if not self.pending_only or r.state == "pending"]
        table = self.query_one(DataTable)
        table.clear()
        for r in self.shown:
            note = r.error or (f"by {r.acknowledged_by} {when_text(r.acknowledged_at)}"
                               if r.acknowledged else "")
            table.add_row(Text(str(r.id)), Text(f"{r.sent_at:%Y-%m-%d %H:%M}"),
                          Text(r.state, style=ALERT_STATE_STYLES.get(r.state, "")),
                          Text(r.mailbox or "-"),
                          Text(r.kind + (f" {r.threshold} d" if r.threshold is not None
                                         else "")),
                          Text(r.channel), Text(r.recipient), Text(note, style="dim"))
        if not self.rows:
            self.notify("No alert sent yet: the alerts job (certmgr serve) sends them.",
                        markup=False)

    def action_acknowledge(self) -> None:
        index = self.query_one(DataTable).cursor_row
        if not 0 <= index < len(self.shown):
            return
        alert = self.shown[index]
        app = self.console_app

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return

            def run() -> str:
                done = app.inventory.acknowledge_alert(alert_id=alert.id, at=app.now(),
                                                       actor=app.actor)
                app.generation += 1
                return done

            self.act("acknowledge", run, done=f"Alert {alert.id} acknowledged")

        self.app.push_screen(ConfirmScreen(
            f"Acknowledge alert {alert.id} ({alert_text(alert)})? Reminders about this "
            "certificate stop.", yes="Acknowledge"), confirmed)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_acknowledge()


class JobsScreen(ConsoleScreen):
    """Scheduled jobs: next run (from the scheduler's store), last result; Enter or n
    runs the selected job now, in a worker."""

    BINDINGS = [Binding("n", "run_now", "Run now"),  # noqa: RUF012
                Binding("r", "refresh", "Refresh")]

    def __init__(self) -> None:
        super().__init__()
        self.rows: tuple[JobRow, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Jobs — next runs, last result", classes="section")
        yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="summary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Job", "Next run", "Last run", "Result",
                                              "Seconds", "Runs")
        self.query_one(DataTable).focus()

    def refresh_data(self) -> None:
        app = self.console_app
        self.read("jobs", lambda: app.inventory.job_rows(names=app.job_names))

    def action_refresh(self) -> None:
        self.refresh_data()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.what != "jobs":
            return
        self.rows = message.value
        at = self.console_app.now()
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for job in self.rows:
            table.add_row(Text(job.name, style="bold"),
                          Text(when_text(job.next_run, at=at) if job.next_run else "-"),
                          Text(when_text(job.last_started, at=at) if job.last_started
                               else "never"),
                          Text(job.result, style=job_style(job)),
                          Text("" if job.last_seconds is None else f"{job.last_seconds:.1f}"),
                          Text(str(job.runs)))
        table.move_cursor(row=cursor)
        scheduled = any(job.next_run for job in self.rows)
        self.query_one("#summary", Static).update(Text(
            "Next runs come from the scheduler of `certmgr serve`." if scheduled else
            "No scheduler has stored its jobs here: run `certmgr serve` (or cron).",
            style="dim"))

    def action_run_now(self) -> None:
        index = self.query_one(DataTable).cursor_row
        if not 0 <= index < len(self.rows):
            return
        name = self.rows[index].name
        app = self.console_app
        self.notify(f"Running job {name}…", markup=False)

        def run() -> dict[str, Any]:
            details = app.run_job(name, app.inventory.settings, now=app.now())
            app.generation += 1
            return details

        self.act(f"job:{name}", run, done=lambda details: f"Job {name} done: " + ", ".join(
            f"{k}={v}" for k, v in details.items() if not isinstance(v, dict | list)))

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_run_now()
