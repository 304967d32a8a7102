"""The morning view: counts per status, the renewal workload per month, CRL freshness,
last scan and next jobs, alerts not yet acknowledged."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Static

from certmgr.services.console import STATUSES, Dashboard
from tui.messages import Loaded
from tui.presenters import (
    alert_text,
    crl_freshness_text,
    days_left_text,
    job_label,
    job_style,
    month_columns,
    next_jobs,
    relative_text,
    status_label,
    status_style,
    when_text,
)
from tui.screens.base import ConsoleScreen

__all__ = ["DashboardScreen", "render_counts", "render_crls", "render_expiries"]


def render_counts(board: Dashboard) -> Text:
    text = Text()
    text.append(f"{board.total} mailboxes\n\n", style="bold")
    for status in STATUSES:
        n = board.counts.get(status, 0)
        style = status_style(status) if n else "dim"
        text.append(f" {n:>6}  ", style=style)
        text.append(f"{status_label(status)}\n", style=style)
    return text


def render_expiries(board: Dashboard) -> Text:
    text = Text()
    if not any(m.count for m in board.expiries):
        return Text("No certificate expires in the next 18 months.", style="dim")
    lines = month_columns(board.expiries, height=5)
    for line in lines[:-3]:
        text.append(line + "\n", style="cyan")
    text.append(lines[-3] + "\n", style="bold")
    text.append(lines[-2] + "\n" + lines[-1], style="dim")
    return text


def render_crls(board: Dashboard) -> Text:
    text = Text()
    if not board.crls:
        text.append("No CRL in the store yet: import or fetch the IGC Santé CRLs.",
                    style="dim")
        return text
    for crl in board.crls:
        fresh, style = crl_freshness_text(crl.next_update, at=board.at)
        name = crl.issuer.split(",")[0].removeprefix("CN=")
        text.append(("Δ " if crl.is_delta else "● "), style=style)
        text.append(f"{name}\n", style="bold")
        text.append(f"   {fresh}\n", style=style)
    return text


def render_activity(board: Dashboard, *, lines: int = 5) -> Text:
    """Last scan, the next `lines` job runs and the `lines` soonest expiries."""
    text = Text()
    text.append("Last scan  ", style="bold")
    text.append(when_text(board.last_scan, at=board.at) + "\n",
                style="" if board.last_scan else "yellow")
    coming = next_jobs(board.jobs, limit=lines)
    text.append("Next jobs", style="bold")
    if any(job.planned for job in coming):
        text.append("  planned from the configuration", style="dim")
    text.append("\n")
    for job in coming:
        assert job.next_run is not None
        text.append(f" {job_label(job.name):<16.16} ", style="bold")
        text.append(f"{job.next_run:%H:%M} {relative_text(job.next_run, at=board.at):<9}")
        text.append(f" {job.result}\n", style=job_style(job))
    if board.schedule_error:
        text.append(f" {board.schedule_error}\n", style="bold red")
    elif not coming:
        text.append(" nothing scheduled\n", style="dim")
    text.append("\nSoonest expiries\n", style="bold")
    for e in board.next_expiries[:lines]:
        text.append(f" {days_left_text(e.days_left):>8}  ", style=status_style(e.status))
        text.append(f"{e.address}\n")
    if not board.next_expiries:
        text.append(" none\n", style="dim")
    return text


def render_alerts(board: Dashboard, *, limit: int = 8) -> Text:
    if not board.alerts:
        return Text("No alert waiting for acknowledgement.", style="dim")
    text = Text()
    text.append(f"{len(board.alerts)} to acknowledge (a: alerts screen)\n", style="bold")
    for alert in board.alerts[:limit]:
        text.append("⚠ ", style="bold yellow")
        text.append(alert_text(alert) + "\n")
    return text


class DashboardScreen(ConsoleScreen):
    """Home screen."""

    BINDINGS = [  # noqa: RUF012 - Textual's declaration style
        Binding("r", "refresh", "Refresh", tooltip="Reload the dashboard")]

    def __init__(self) -> None:
        super().__init__()
        self._board: Dashboard | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="dashboard"):
            with Horizontal(classes="row"):
                yield Static("Loading…", id="counts", classes="card")
                yield Static("", id="activity", classes="card wide")
            yield Static("", id="expiries", classes="card full")
            with Horizontal(classes="row"):
                yield Static("", id="crls", classes="card wide")
                yield Static("", id="alerts", classes="card")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#counts").border_title = "Mailboxes by status"
        self.query_one("#activity").border_title = "Scan & jobs"
        self.query_one("#expiries").border_title = "Expiries per month (next 18 months)"
        self.query_one("#crls").border_title = "CRL freshness"
        self.query_one("#alerts").border_title = "Alerts to acknowledge"

    def refresh_data(self) -> None:
        app = self.console_app
        self.read("dashboard", lambda: app.inventory.dashboard(at=app.now(),
                                                               job_names=app.job_names))

    def action_refresh(self) -> None:
        self.refresh_data()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.what != "dashboard":
            return
        self._board = message.value
        self._render_board()

    def on_resize(self) -> None:
        self._render_board()

    def _render_board(self) -> None:
        board = self._board
        if board is None:
            return
        self.query_one("#counts", Static).update(render_counts(board))
        # 80x24 keeps the chart in view; taller terminals show more of what is coming.
        self.query_one("#activity", Static).update(render_activity(
            board, lines=5 if self.size.height >= 30 else 3))
        self.query_one("#expiries", Static).update(render_expiries(board))
        self.query_one("#crls", Static).update(render_crls(board))
        self.query_one("#alerts", Static).update(render_alerts(board))
