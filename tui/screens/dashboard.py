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
    FILTER_KEYS,
    DashboardFit,
    alert_text,
    crl_freshness_short,
    crl_is_fresh,
    days_left_text,
    job_label,
    job_style,
    month_columns,
    next_jobs,
    relative_text,
    status_label,
    status_style,
    when_text,
    worst_crls_first,
)
from tui.screens.base import ConsoleScreen

__all__ = ["DashboardScreen", "render_alerts", "render_counts", "render_crls",
           "render_expiries"]


def render_counts(board: Dashboard) -> Text:
    """One line per status, coloured when any mailbox has it (the total is the title),
    with the key that lists those mailboxes."""
    keys = {s: k for k, s in FILTER_KEYS.items()}
    text = Text()
    for i, status in enumerate(STATUSES):
        n = board.counts.get(status, 0)
        style = status_style(status) if n else "dim"
        key = keys.get(str(status))
        text.append(("\n" if i else "") + (f"[{key}]" if key else "   "), style="dim")
        text.append(f"{n:>6}  ", style=style)
        text.append(status_label(status), style=style)
    return text


def counts_title(board: Dashboard) -> str:
    return f"{board.total} mailboxes by status"


def render_expiries(board: Dashboard, *, height: int = 5) -> Text:
    text = Text()
    if not any(m.count for m in board.expiries):
        return Text("No certificate expires in the next 18 months.", style="dim")
    lines = month_columns(board.expiries, height=height)
    for line in lines[:-3]:
        text.append(line + "\n", style="cyan")
    text.append(lines[-3] + "\n", style="bold")
    text.append(lines[-2] + "\n" + lines[-1], style="dim")
    return text


def render_crls(board: Dashboard, *, lines: int = 99) -> Text:
    """One line per issuer's current CRL, worst first (stale, then the soonest
    nextUpdate), after a summary line; at most `lines` lines in all."""
    text = Text()
    if not board.crls:
        text.append("No CRL in the store yet: import or fetch the IGC Santé CRLs.",
                    style="dim")
        return text
    crls = worst_crls_first(board.crls, at=board.at)
    stale = sum(1 for crl in crls if not crl_is_fresh(crl.next_update, at=board.at))
    text.append(f"{len(crls)} current CRLs: {len(crls) - stale} fresh", style="bold")
    if stale:
        text.append(f", {stale} stale", style="bold red")
    shown = crls if len(crls) < lines else crls[:max(1, lines - 2)]
    for crl in shown:
        short, style = crl_freshness_short(crl.next_update, at=board.at)
        name = crl.issuer.split(",")[0].removeprefix("CN=")
        text.append("\n" + ("Δ " if crl.is_delta else "● "), style=style)
        text.append(f"{short:<14} ", style=style)
        text.append(name)
    if len(shown) < len(crls):
        text.append(f"\n  … {len(crls) - len(shown)} more (t: trust & CRLs)", style="dim")
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
    if board.schedule_error:  # "<config.toml>: [schedule] digest: ...": the line is the news
        error = board.schedule_error
        text.append(f" {error[error.find('[schedule]'):] if '[schedule]' in error else error}\n",
                    style="bold red")
    elif not coming:
        text.append(" nothing scheduled\n", style="dim")
    text.append(("\n" if lines > 3 else "") + "Soonest expiries", style="bold")
    for e in board.next_expiries[:lines]:
        text.append(f"\n {days_left_text(e.days_left):>8}  ", style=status_style(e.status))
        text.append(e.address)
    if not board.next_expiries:
        text.append("\n none", style="dim")
    return text


def render_alerts(board: Dashboard, *, limit: int = 8) -> Text:
    if not board.alerts:
        return Text("Nothing to acknowledge.", style="dim")
    text = Text()
    text.append(f"{len(board.alerts)} to acknowledge (a: alerts)", style="bold yellow")
    for alert in board.alerts[:limit]:
        text.append("\n⚠ ", style="bold yellow")
        text.append(alert_text(alert))
    if len(board.alerts) > limit:
        text.append(f"\n  … {len(board.alerts) - limit} more", style="dim")
    return text


class DashboardScreen(ConsoleScreen):
    """Home screen."""

    BINDINGS = [  # noqa: RUF012 - Textual's declaration style
        Binding("r", "refresh", "Refresh", tooltip="Reload the dashboard"),
        *(Binding(k, f"show_status('{s}')", status_label(s), show=False,
                  tooltip=f"Show the mailboxes: {status_label(s)}")
          for k, s in FILTER_KEYS.items())]

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

    async def action_show_status(self, status: str) -> None:
        """The mailboxes screen, quick-filtered on `status` (a count's key, 1-7)."""
        await self.console_app.show_mailboxes(statuses=frozenset({status}))

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
        fit = DashboardFit.of(self.size.height)
        counts = self.query_one("#counts", Static)
        counts.border_title = counts_title(board)
        counts.update(render_counts(board))
        self.query_one("#activity", Static).update(render_activity(board, lines=fit.jobs))
        self.query_one("#expiries", Static).update(render_expiries(board, height=fit.chart))
        self.query_one("#crls", Static).update(render_crls(board, lines=fit.lines))
        self.query_one("#alerts", Static).update(render_alerts(board, limit=fit.lines - 1))
