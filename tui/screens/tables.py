"""Read-only table screens: trust anchors and CRLs, audit log (filterable)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from certmgr.services.console import AuditRow
from tui.messages import Loaded
from tui.presenters import crl_freshness_short, days_left_text, short_issuer, stamp_text
from tui.screens.base import ConsoleScreen

__all__ = ["AuditScreen", "TrustScreen"]


class TrustScreen(ConsoleScreen):
    """Trust anchors and intermediates, then the current CRLs with their freshness."""

    BINDINGS = [  # noqa: RUF012 - Textual's declaration style
        Binding("r", "refresh", "Refresh", tooltip="Reload trust anchors and CRLs")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Trust anchors and CA certificates", classes="section")
        yield DataTable(id="cas", cursor_type="row", zebra_stripes=True)
        yield Static("Certificate revocation lists", classes="section")
        yield DataTable(id="crls", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        # What an operator checks first comes first, so that it shows at 80 columns; the
        # other columns are a scroll away (left/right arrows).
        self.query_one("#cas", DataTable).add_columns(
            "Name", "Expires", "Role", "Env", "Pinned", "Source", "SHA-256")
        self.query_one("#crls", DataTable).add_columns(
            "Issuer", "Freshness", "Entries", "Source", "Next update (UTC)", "Number", "Delta",
            "Verified")

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
            table.add_row(Text(ca.name),
                          Text(f"{ca.not_after:%Y-%m-%d} ({days_left_text(ca.days_left)})",
                               style=style), ca.role, ca.environment,
                          "yes" if ca.pinned else "", Text(ca.source), ca.fingerprint)
        table = self.query_one("#crls", DataTable)
        table.clear()
        for crl in crls:
            fresh, style = crl_freshness_short(crl.next_update, at=at)
            table.add_row(Text(short_issuer(crl.issuer)), Text(fresh, style=style),
                          str(crl.entries), Text(crl.source),
                          Text(stamp_text(crl.next_update, at=at)),
                          "" if crl.number is None else str(crl.number),
                          "Δ" if crl.delta else "", "yes" if crl.verified else "no")
        if not cas and not crls:
            self.notify("No trust material yet: import the IGC Santé CAs and CRLs.",
                        markup=False)


class AuditScreen(ConsoleScreen):
    """The audit log, newest first, filter-as-you-type."""

    BINDINGS = [  # noqa: RUF012 - Textual's declaration style
        Binding("slash", "focus_filter", "Filter", tooltip="Filter the audit log as you type"),
        Binding("escape", "leave_filter", "Back to table", show=False,
                tooltip="Leave the filter for the table"),
        Binding("r", "refresh", "Refresh", tooltip="Reload the audit log")]

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
