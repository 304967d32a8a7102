"""Read-only table screens: trust anchors and CRLs, audit log (filterable), alerts, jobs."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from certmgr.services.console import AuditRow
from tui.messages import Loaded
from tui.presenters import crl_freshness_text, days_left_text, when_text
from tui.screens.base import ConsoleScreen

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
            table.add_row(ca.name, ca.role, ca.environment, "yes" if ca.pinned else "",
                          Text(f"{ca.not_after:%Y-%m-%d} ({days_left_text(ca.days_left)})",
                               style=style), ca.fingerprint, ca.source)
        table = self.query_one("#crls", DataTable)
        table.clear()
        for crl in crls:
            fresh, style = crl_freshness_text(crl.next_update, at=at)
            table.add_row(crl.issuer, "" if crl.number is None else str(crl.number),
                          Text(fresh, style=style), str(crl.entries),
                          "Δ" if crl.delta else "", "yes" if crl.verified else "no", crl.source)
        if not cas and not crls:
            self.notify("No trust material yet: import the IGC Santé CAs and CRLs.")


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
        table.add_rows([(str(r.id), f"{r.at:%Y-%m-%d %H:%M:%S}", r.actor, r.action, r.object,
                         r.details) for r in self.rows if all(w in r.search for w in words)])


class _EmptyScreen(ConsoleScreen):
    """A screen whose engine is not part of this build yet: it says so plainly."""

    TITLE_TEXT = ""
    EMPTY_TEXT = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(self.TITLE_TEXT, style="bold"), classes="section")
        yield Static(self.EMPTY_TEXT, classes="card full empty")
        yield Footer()


class AlertsScreen(_EmptyScreen):
    """Alerts: sent, pending, acknowledged."""

    TITLE_TEXT = "Alerts — sent, pending, acknowledged"
    EMPTY_TEXT = ("No alert yet. Alerts are raised by the scheduler when a certificate "
                  "crosses a threshold (120, 90, 60, 30, 14, 7, 3, 1 days before expiry) and "
                  "appear here until acknowledged [k on a mailbox].")


class JobsScreen(_EmptyScreen):
    """Scheduled jobs: next runs, last result, run now."""

    TITLE_TEXT = "Jobs — next runs, last result"
    EMPTY_TEXT = ("No scheduler is running. Until it is, run `certmgr scan` from cron; "
                  f"last check: {when_text(None)}.")
